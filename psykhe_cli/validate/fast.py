"""The fast proof that a line holds a product without any problem; others take ``rules.py``.

Most lines of a real feed are alike: wrapped, the documented operation, every field of the
table present and well typed. msgspec decodes such a line straight into a struct built from
``schema.PRODUCT_FIELDS`` (C code: no dict, no per-field Python check), and a few block-wide
string scans finish the proof. A line this path cannot prove costs one failed decode and
goes through ``rules.check_line``, which reaches the verdicts and names the problems; so the
rules stay those of the table, and this path only ever says "fine" or "don't know".

What msgspec does not see, and how the proof covers it:

- unknown fields are refused (``forbid_unknown_fields``): a line with an extra field, which
  is allowed, simply takes the slow path;
- a repeated key keeps its last value in msgspec. With only known, flat fields, a line's
  colons are exactly one per key plus those inside its strings, and any repeated key adds
  at least one: so the block's colons must equal that count, summed (the caller has ruled
  out ``\\u003a`` escapes and 19-digit runs, as for the slow path);
- identifiers made of whitespace only, and image URLs: checked over the whole block at once.
"""

from __future__ import annotations

import itertools
import operator
import re
import sys
from typing import Any

from psykhe_cli.schema import DOCUMENTED_OPERATIONS, OPERATION_KEY, PRODUCT_DATA_KEY, PRODUCT_FIELDS
from psykhe_cli.validate.rules import _URLS

_NAMES = tuple(rule.name for rule in PRODUCT_FIELDS)
_IDENTIFIERS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind == "identifier")
_URL_LISTS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind == "url_list")
_STRINGS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind in ("identifier", "string"))
_STRING_LISTS = tuple(
    rule.name for rule in PRODUCT_FIELDS if rule.kind in ("url_list", "string_list")
)
#: keys of a fully proven line: the wrapper's two and every field of the table
_KEYS_PER_LINE = 2 + len(_NAMES)
_HOST_MISSING = re.compile(r" https?://[\s/?#]")


def _decoder() -> Any:
    """A msgspec decoder of one fully typed line; None without msgspec."""
    try:
        import msgspec
    except ImportError:  # pragma: no cover - msgspec is a dependency; the slow path suffices
        return None
    from typing import Annotated, Literal

    kinds: dict[str, Any] = {
        "identifier": Annotated[str, msgspec.Meta(min_length=1)],
        "string": str,
        "url_list": list[str],
        "string_list": list[str],
        "price": Annotated[float, msgspec.Meta(ge=0, le=sys.float_info.max)],
    }
    fields = [(rule.name, kinds[rule.kind]) for rule in PRODUCT_FIELDS]
    product = msgspec.defstruct("Product", fields, forbid_unknown_fields=True)
    operation = Literal[tuple(sorted(DOCUMENTED_OPERATIONS))]  # type: ignore[valid-type]
    line = msgspec.defstruct(
        "Line",
        [(OPERATION_KEY, operation), (PRODUCT_DATA_KEY, product)],
        forbid_unknown_fields=True,
    )
    return msgspec.json.Decoder(line).decode


_DECODE: Any = _decoder()
_FAILED: tuple[type[Exception], ...] = ()
if _DECODE is not None:
    import msgspec

    _FAILED = (msgspec.DecodeError, msgspec.ValidationError)


def prove_lines(lines: list[bytes]) -> list[Any] | None:
    """Each line's product (a struct) when proven fine, else None; None: nothing proven."""
    if _DECODE is None:
        return None
    decode, failed = _DECODE, _FAILED
    proven: list[Any] = []
    raw_colons = 0
    for raw in lines:
        try:
            proven.append(decode(raw).product_data)
        except failed:
            proven.append(None)
        else:
            raw_colons += raw.count(b":")
    products = [product for product in proven if product is not None]
    if not products:
        return proven
    colons = _string_colons(products)
    if colons is None or raw_colons != len(products) * _KEYS_PER_LINE + colons:
        return None  # a repeated key, or a doubt about a string: every line the slow way
    return proven


def _string_colons(products: list[Any]) -> int | None:
    """The colons inside the products' strings; None when a string is not proven fine."""
    colons = 0
    for name in _STRINGS:
        values = list(map(operator.attrgetter(name), products))
        if name in _IDENTIFIERS and any(map(str.isspace, values)):
            return None
        colons += "\n".join(values).count(":")
    for name in _STRING_LISTS:
        items = list(itertools.chain.from_iterable(map(operator.attrgetter(name), products)))
        joined = " " + " ".join(items) + " "
        if name in _URL_LISTS and items and not _urls_fine(joined, len(items)):
            return None
        colons += joined.count(":")
    return colons


#: whitespace an ASCII string can hold besides the space (only as a JSON escape)
_ASCII_SPACES = tuple("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f")


def _urls_fine(joined: str, count: int) -> bool:
    """``rules._URLS`` over ``count`` URLs joined by spaces (and one around them)."""
    if (
        # no whitespace but the joining spaces: ASCII is known in O(1), else ask Unicode
        (
            not any(map(joined.__contains__, _ASCII_SPACES))
            if joined.isascii()
            else joined.isprintable()
        )
        and joined.count(" ") == count + 1  # so each URL is one non-empty token
        and joined.count(" http://") + joined.count(" https://") == count
        and _HOST_MISSING.search(joined) is None
    ):
        return True
    return _URLS.match(joined[1:-1]) is not None
