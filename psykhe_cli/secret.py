"""``Secret``, the API key as a value that cannot be printed or pickled, and its fingerprint.

The key is held in a ``Secret`` whose ``repr``/``str`` are redacted, so it cannot reach output,
logs, exception messages or tracebacks by accident. ``Secret.reveal()`` is called only where
the key must be itself: the request header, the keyring (``psykhe login``) and the one-way hash
of ``key_fingerprint``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string

REDACTED = "[redacted]"
#: the shortest piece of the key that ``Secret.scrub`` removes from text
_SCRUB_WINDOW = 8
#: lower-cases ASCII letters only, so that every character keeps its place
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class Secret:
    """A string that never shows itself: ``repr``/``str``/f-strings print ``[redacted]``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value: only for the request header, the keyring and the fingerprint."""
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every piece of 8+ consecutive characters of the secret redacted.

        Letters match in either case: a gateway may echo the key lower-cased (a ``Location``
        host) or upper-cased.
        """
        pattern = self._pattern()
        hidden: list[tuple[int, int]] = []
        for match in pattern.finditer(text.translate(_ASCII_LOWER)):
            start, end = match.start(), match.start() + len(match.group(1))
            if hidden and start <= hidden[-1][1]:
                hidden[-1] = (hidden[-1][0], max(end, hidden[-1][1]))
            else:
                hidden.append((start, end))
        if not hidden:
            return text
        out, done = [], 0
        for start, end in hidden:
            out += [text[done:start], REDACTED]
            done = end
        out.append(text[done:])
        return "".join(out)

    def scrub_bytes(self, data: bytes) -> bytes:
        """``scrub`` for bytes (a response body); each byte is taken as one character."""
        return self.scrub(data.decode("latin-1")).encode("latin-1", "replace")

    def _pattern(self) -> re.Pattern[str]:
        # every window, found at every position (a lookahead matches without consuming)
        value = self._value.translate(_ASCII_LOWER)
        if not value:
            return re.compile(r"(?!)()")
        if len(value) < _SCRUB_WINDOW:
            return re.compile(f"(?=({re.escape(value)}))")
        windows = {value[i : i + _SCRUB_WINDOW] for i in range(len(value) - _SCRUB_WINDOW + 1)}
        return re.compile("(?=(" + "|".join(map(re.escape, sorted(windows))) + "))")

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, format_spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(key_fingerprint(self))

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")

    # immutable: copies (dataclasses.asdict/replace, copy.deepcopy) share the one instance
    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Secret:
        return self


def key_fingerprint(key: Secret | str) -> str:
    """A short, one-way name for a key (12 hex digits), safe to store in state files."""
    value = key.reveal() if isinstance(key, Secret) else key
    return hashlib.sha256(f"psykhe:{value}".encode()).hexdigest()[:12]
