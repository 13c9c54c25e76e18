"""The fast proof that a line holds a product without any problem; others take ``rules.py``.

Most lines of a real feed are alike: wrapped, the documented operation, every field of the
table present and well typed. msgspec decodes such a line straight into a struct built from
``schema.PRODUCT_FIELDS`` (C code: no dict, no per-field Python check), and a few block-wide
scans finish the proof. A line this path cannot prove goes through ``rules.check_line``,
which reaches the verdicts and names the problems; so the rules stay those of the table,
and this path only ever says "fine" or "don't know".

What msgspec does not see, and how the proof covers it:

- unknown fields are refused (``forbid_unknown_fields``): a line with an extra field, which
  is allowed, simply takes the per-line path;
- a repeated key keeps its last value in msgspec. A proven line holds the wrapper's two keys
  and the table's fields, and nothing else, once each unless a key is repeated. So the
  block's keys, less those of the lines not proven, must be exactly that many. They are
  counted one of two ways, both exact:

  - with numpy at hand (the engine loads it with its worker processes), as the ``":`` of
    the block, when no colon follows whitespace (JSON allows it between a key and its
    colon: then the other way). Every key then ends in ``":``; an escaped quote before a
    colon, or a string starting with one, adds more, which only refuses the proof;
  - as the block's colons, less those inside the proven strings (refused when an escape
    spells a colon, ``\\u003a``);

- integers outside signed 64 bits: the only number of a proven line is its price, which the
  proof takes below 2**63 only;
- identifiers made of whitespace only, and image URLs: checked over the whole block at once.
"""

from __future__ import annotations

import itertools
import operator
import re
import sys
from typing import Any

import msgspec

from psykhe_cli.schema import DOCUMENTED_OPERATIONS, OPERATION_KEY, PRODUCT_DATA_KEY, PRODUCT_FIELDS
from psykhe_cli.validate.rules import _URLS, _has_colon_escape

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
#: where ``":`` may not end a key, or a key may end otherwise: whitespace before a colon, a
#: string starting with a colon (after ``{[,:`` or whitespace), an escaped quote before one
_KEY_END = b'":'
_COLON, _QUOTE = ord(":"), ord('"')
#: what JSON allows between a key and its colon (a line holds no newline)
_SPACES = (ord(" "), ord("\t"), ord("\r"))


def _decoder() -> Any:
    """A msgspec decoder of one fully typed line, refusing unknown fields."""
    from typing import Annotated, Literal

    kinds: dict[str, Any] = {
        "identifier": Annotated[str, msgspec.Meta(min_length=1)],
        "string": str,
        "url_list": list[str],
        "string_list": list[str],
        # below 2**63: an integer literal past signed 64 bits is the rules' to report
        "price": Annotated[float, msgspec.Meta(ge=0, lt=2.0**63)],
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


_DECODE = _decoder()
#: what the decoder raises for a line it cannot prove (invalid UTF-8 is the last one)
_FAILED = (msgspec.DecodeError, UnicodeDecodeError)


def prove_lines(block: bytes, lines: list[bytes]) -> list[Any] | None:
    """Each line's product (a struct) when proven fine, else None; None: nothing proven.

    ``lines`` are those of ``block``, without their newlines.
    """
    proven = _decode_all(lines, _DECODE)
    products = [product for product in proven if product is not None]
    if not products:
        return proven
    if not _strings_fine(products):
        return None
    numpy = _loaded_numpy()
    keys = None if numpy is None else _key_ends(numpy, block)
    if keys is not None:
        marker, expected = _KEY_END, 0
    elif _has_colon_escape(block):
        return None
    else:
        marker, keys, expected = b":", block.count(b":"), _string_colons(products)
    # the lines not proven count as they are; each proven line must hold no other key
    keys -= sum(raw.count(marker) for raw, fine in zip(lines, proven, strict=True) if fine is None)
    if keys != len(products) * _KEYS_PER_LINE + expected:
        return None  # a repeated key: every line the slow way
    return proven


def _loaded_numpy() -> Any:
    """numpy when this process has loaded it (the engine does, for its workers), else None.

    Importing it costs ~0.1 s, more than checking a small feed: it is not loaded for one.
    """
    return sys.modules.get("numpy")


def _key_ends(numpy: Any, block: bytes) -> int | None:
    """How many ``":`` the block holds, when each key ends so; None if one may end otherwise.

    JSON allows whitespace between a key and its colon: then nothing is known. Otherwise a
    line's ``":`` are its keys, and maybe more, never fewer (an escaped quote before a colon,
    a string starting with one): too many only refuses the proof.
    """
    data = numpy.frombuffer(block, numpy.uint8)
    before = data[numpy.flatnonzero(data[1:] == _COLON)]  # the byte before each colon
    if numpy.isin(before, _SPACES).any():
        return None
    return int(numpy.count_nonzero(before == _QUOTE))


def _decode_all(lines: list[bytes], decode: Any) -> list[Any]:
    proven: list[Any] = []
    append, failed = proven.append, _FAILED
    for raw in lines:
        try:
            append(decode(raw).product_data)
        except failed:
            append(None)
    return proven


def _strings_fine(products: list[Any]) -> bool:
    """No identifier is whitespace only, and every image URL passes ``rules._URLS``."""
    for name in _IDENTIFIERS:
        if any(map(str.isspace, map(operator.attrgetter(name), products))):
            return False
    for name in _URL_LISTS:
        items = list(itertools.chain.from_iterable(map(operator.attrgetter(name), products)))
        if items and not _urls_fine(" " + " ".join(items) + " ", len(items)):
            return False
    return True


def _string_colons(products: list[Any]) -> int:
    """The colons inside the products' strings."""
    colons = 0
    for name in _STRINGS:
        colons += "\n".join(map(operator.attrgetter(name), products)).count(":")
    for name in _STRING_LISTS:
        items = itertools.chain.from_iterable(map(operator.attrgetter(name), products))
        colons += "\n".join(items).count(":")
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
