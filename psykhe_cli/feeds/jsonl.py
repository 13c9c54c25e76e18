"""JSON Lines specifics the block reader does not know: telling a JSON document from JSON Lines."""

from __future__ import annotations

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import UTF16_BOMS, utf16_refused

_OPENERS = (b"{", b"[")


def reject_json_document(name: str, line_no: int, first_line: bytes) -> None:
    """Raise ``InputError`` when the first non-blank line shows a JSON document, not JSON Lines,
    or a feed in UTF-16.

    A JSON array (on one line or many) or a pretty-printed object cannot be JSON Lines: say so
    once, with the command that converts it, instead of one error per line; likewise for
    UTF-16, whose byte order mark opens the first line.
    """
    if line_no == 1 and first_line.startswith(UTF16_BOMS):
        raise utf16_refused(name)
    line = first_line.strip()
    if line.startswith(b"[") or (line in _OPENERS) or (line.startswith(b"{") and _open_ended(line)):
        target = "<file>" if name.startswith("<") else name
        raise InputError(
            f"{name}:{line_no}: this is a JSON document (an array or a pretty-printed object),"
            " not JSON Lines (one product object per line)",
            hint=f"convert it with: jq -c '.[]' {target} > feed.jsonl"
            f"  (or jq -c . {target} for a single object)",
        )


def _open_ended(line: bytes) -> bool:
    # `{"a": 1,` or `{` then a newline: the object goes on over the next lines
    return line.endswith((b",", b"{", b"[", b":"))
