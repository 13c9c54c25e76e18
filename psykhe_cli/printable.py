"""Text from a feed, a file name or a server, made safe to show on one terminal line.

The one module that owns the rule, in its two forms:

- ``printable``: every control character written as an escape, nothing lost. A problem line
  (``Problem.format``), every line the renderers write and the error reporter in ``cli.py``
  pass what they show through it. An ESC in a ``product_identifier`` must not recolour or
  rewrite the operator's terminal, and a newline in a file name must not break the one-line
  problem format.
- ``clipped``: text a server or the system chose (an error message, a reason phrase, a
  header), squeezed into a bounded part of a message: control characters become spaces,
  and it is cut at a length.

JSON output needs none of this: orjson escapes control characters itself.
"""

from __future__ import annotations

import re

#: C0 controls and DEL, C1 controls, and the characters that break or reorder a line
#: (line/paragraph separators, bidirectional embeddings, overrides and isolates)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with each control character written as an escape (``\\x1b``, ``\\n``,
    ``\\u202e``); everything else, other scripts and emoji included, unchanged."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def clipped(text: str, limit: int) -> str:
    """Server-supplied text made safe to print: one line, no control characters, at most
    ``limit`` characters (cut with an ellipsis)."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
