"""The fast proof that a line holds a product without any problem; others take ``rules.py``.

Most lines of a real feed are alike: a product with every field of the table present and
well typed, wrapped or bare, often with the same few fields beyond the table. msgspec
decodes such a line straight into a struct built from ``schema.PRODUCT_FIELDS`` (C code: no
dict, no per-field Python check), and a few block-wide scans finish the proof. A line this
path cannot prove goes through ``rules.check_line``, which reaches the verdicts and names
the problems; so the rules stay those of the table, and this path only ever says "fine" or
"don't know".

What msgspec does not see, and how the proof covers it:

- fields beyond the table are allowed and passed through: the decoders refuse unknown
  ones, so a line with a new one takes the per-line path, which teaches the decoders its
  fields (``Decoders.learn``). Learned fields are kept as raw JSON, whose syntax msgspec checks;
  the rest (UTF-8, escapes, integers past 64 bits, a key repeated inside) is checked over
  the block with orjson;
- a repeated key keeps its last value in msgspec. A proven line holds the wrapper's two
  keys (unless bare), the table's fields and its extra fields, and nothing else, once each
  unless a key is repeated. So the block's keys, less those of the lines not proven, must
  be exactly that many (the keys inside extra values counted in their raw JSON). They are
  counted one of two ways, both exact:

  - with numpy at hand (passed in: the engine's workers load it), as the ``":`` of
    the block, when no colon follows whitespace (JSON allows it between a key and its
    colon: then the other way). Every key then ends in ``":``; an escaped quote before a
    colon, or a string starting with one, adds more, which only refuses the proof;
  - as the block's colons, less those inside the proven strings (refused when an escape
    spells a colon, ``\\u003a``);

- integers outside signed 64 bits: the only number of the table is the price, which the
  proof takes below 2**63 only;
- identifiers made of whitespace only, and image URLs: checked over the whole block at once;
- an HTML entity in a text field (a warning of the rules): a block whose text fields hold no
  ``&`` has none; otherwise the lines holding one are left to the rules.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, NamedTuple

import msgspec
import orjson

from psykhe_cli.schema import (
    DOCUMENTED_OPERATIONS,
    LEGACY_OPERATION_KEY,
    OPERATION_KEY,
    PRODUCT_DATA_KEY,
    PRODUCT_FIELDS,
    PRODUCT_KEY,
    VARIANT_KEY,
)
from psykhe_cli.validate.lines import Lines
from psykhe_cli.validate.rules import (
    TEXT_FIELDS,
    exact_checks,
    has_colon_escape,
    html_entity_in,
    urls_are_valid,
)

_NAMES = tuple(rule.name for rule in PRODUCT_FIELDS)
_IDENTIFIERS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind == "identifier")
_URL_LISTS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind == "url_list")
_STRINGS = tuple(rule.name for rule in PRODUCT_FIELDS if rule.kind in ("identifier", "string"))
_STRING_LISTS = tuple(
    rule.name for rule in PRODUCT_FIELDS if rule.kind in ("url_list", "string_list")
)
#: keys of a wrapped line (the wrapper's two and every field of the table), extras aside
_WRAPPER_KEYS_PER_LINE = 2
_KEYS_PER_LINE = _WRAPPER_KEYS_PER_LINE + len(_NAMES)
_HOST_MISSING = re.compile(r" https?://[\s/?#]")
_KEY_END = b'":'
_COLON, _QUOTE = ord(":"), ord('"')
#: what JSON allows between a key and its colon (a line holds no newline)
_SPACES = (ord(" "), ord("\t"), ord("\r"))
_NONE = itertools.repeat(None)
_UNSETS = itertools.repeat(msgspec.UNSET)
_PRODUCT_DATA_OF = operator.attrgetter(PRODUCT_DATA_KEY)
_OPERATION_OF = operator.attrgetter(OPERATION_KEY)

_KINDS: dict[str, Any] = {
    "identifier": Annotated[str, msgspec.Meta(min_length=1)],
    "string": str,
    "url_list": list[str],
    "string_list": list[str],
    # below 2**63: an integer literal past signed 64 bits is the rules' to report
    "price": Annotated[float, msgspec.Meta(ge=0, lt=2.0**63)],
}
_KNOWN_KEYS = frozenset(_NAMES)
#: never learned as a product's extra field: a bare line holding one is not a product
_WRAPPER_KEYS = frozenset({OPERATION_KEY, PRODUCT_DATA_KEY, LEGACY_OPERATION_KEY})
#: extra fields learned at most by one ``Decoders`` (each costs a little on every block)
_MAX_EXTRAS = 32
#: a field name msgspec can decode: no quote, backslash or control character
_NAMEABLE = re.compile(r'[^"\\\x00-\x1f]*')
#: what a decoder raises for a line it cannot prove (invalid UTF-8 is the last one; nesting
#: deeper than msgspec goes, in a value skipped, a RecursionError)
_FAILED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class Decoders:
    """msgspec decoders of a product, wrapped or bare, with the extra fields learned so far.

    What the proof learns of a feed belongs to whoever checks its blocks: one per validation
    run in each process (the engine holds one, each of its workers another), never shared
    by two runs. Learning costs the per-line path of the lines that teach it, so one is kept
    from block to block. ``extras``: another one's ``extras`` (what the process that starts
    the workers learned), to start from.
    """

    def __init__(self, extras: tuple[str, ...] = ()) -> None:
        self.extras = extras
        #: try the bare decoder first: most lines of the last block were bare
        self.bare_first = False
        self._build()

    def _build(self) -> None:
        fields: list[Any] = [(rule.name, _KINDS[rule.kind]) for rule in PRODUCT_FIELDS]
        fields += [
            (f"extra_{n}", msgspec.Raw, msgspec.field(default=None, name=name))
            for n, name in enumerate(self.extras)
        ]
        product = msgspec.defstruct("Product", fields, forbid_unknown_fields=True)
        operation = Literal[tuple(sorted(DOCUMENTED_OPERATIONS))]  # type: ignore[valid-type]
        line = msgspec.defstruct(
            "Line",
            [(OPERATION_KEY, operation), (PRODUCT_DATA_KEY, product)],
            forbid_unknown_fields=True,
        )
        self.wrapped: Any = msgspec.json.Decoder(line).decode
        self.bare: Any = msgspec.json.Decoder(product).decode
        # either kind, for a whole block in one call: the wrapper's two keys, both optional;
        # other keys are skipped (a bare product's, decoded again on its own by ``bare``)
        unset: Any = msgspec.UnsetType
        wrapper = msgspec.defstruct(
            "Wrapper",
            [
                (OPERATION_KEY, operation | unset, msgspec.UNSET),
                (PRODUCT_DATA_KEY, product | unset, msgspec.UNSET),
            ],
        )
        self.lines: Any = msgspec.json.Decoder(wrapper).decode_lines
        self.extra_values = [operator.attrgetter(f"extra_{n}") for n in range(len(self.extras))]

    def learn(self, product: dict[str, Any]) -> None:
        """Take note of the extra fields of ``product``, a line's that the proof left (the
        per-line path shows it every product it could not prove)."""
        if len(product) <= len(_NAMES) or len(self.extras) >= _MAX_EXTRAS:
            return
        new = [
            key
            for key in product
            if key not in _KNOWN_KEYS
            and key not in _WRAPPER_KEYS
            and key not in self.extras
            and _NAMEABLE.fullmatch(key)  # msgspec refuses to rename a field to anything else
        ]
        if new:
            learned = self.extras
            self.extras += tuple(new[: _MAX_EXTRAS - len(self.extras)])
            try:
                self._build()
            except ValueError:  # a name msgspec will not take: such lines stay per-line
                self.extras = learned
                self._build()


class Proof(NamedTuple):
    """What ``prove_lines`` proved."""

    #: each line's product (a struct) when proven fine, else None
    products: list[Any]
    #: the indexes of proven lines holding a bare product (to be wrapped when sent)
    bare: list[int]
    #: the indexes of the lines not proven (None in ``products``)
    unproven: list[int]
    #: the proven products, in order, and their product and variant identifiers
    fine: list[Any]
    identifiers: tuple[list[str], list[str]]


def _is_at(values: Iterable[Any], same: Iterable[Any]) -> list[int]:
    """The indexes of the values that are the one ``same`` repeats (C-level iteration: a
    block has thousands)."""
    return list(itertools.compress(itertools.count(), map(operator.is_, values, same)))


def none_at(values: list[Any]) -> list[int]:
    """The indexes of the None values."""
    return _is_at(values, _NONE)


def not_none_at(values: list[Any]) -> list[int]:
    """The indexes of the values that are not None."""
    return list(itertools.compress(itertools.count(), map(operator.is_not, values, _NONE)))


def not_none(values: list[Any]) -> list[Any]:
    """The values that are not None, in order."""
    return list(itertools.compress(values, map(operator.is_not, values, _NONE)))


def prove_lines(block: bytes, lines: Lines, decoders: Decoders, numpy: Any = None) -> Proof | None:
    """What could be proven of the lines of ``block`` with ``decoders``; None: nothing.

    ``numpy``: the module, to count the keys in one vector scan (the workers load it), or
    None to count them without it (``lines.load_numpy`` says why not always).
    """
    decoded = _decode_block(block, lines, decoders) if lines.each_opens_an_object() else None
    proven, bare = decoded or _decode_all(lines.list(), decoders)
    products = not_none(proven)
    if products and _may_hold_entities(products):
        _drop_entities(proven)  # the rules warn of them
        products = not_none(proven)
        bare = [i for i in bare if proven[i] is not None]
    if not products:
        return Proof(proven, [], list(range(len(proven))), [], ([], []))
    extras = _extras(products, decoders)
    if not all(_json_fine(joined) for _, joined in extras):
        _drop_doubtful_extras(proven, decoders)
        products = not_none(proven)
        bare = [i for i in bare if proven[i] is not None]
        extras = _extras(products, decoders)
    identifiers = _identifiers(products)
    if identifiers is None or not _urls_ok(products):
        return None
    keys = None if numpy is None else _key_ends(numpy, block)
    if keys is not None:
        marker, expected = _KEY_END, 0
    elif has_colon_escape(block):
        return None
    else:
        marker, keys, expected = b":", block.count(b":"), _string_colons(products)
    for present, joined in extras:
        expected += present + joined.count(marker)
    expected += len(products) * _KEYS_PER_LINE - len(bare) * _WRAPPER_KEYS_PER_LINE
    # the lines not proven count as they are; each proven line must hold no other key
    unproven = none_at(proven)
    keys -= sum(lines[i].count(marker) for i in unproven)
    if keys != expected:
        return None  # a repeated key: every line the slow way
    return Proof(proven, bare, unproven, products, identifiers)


def _decode_block(
    block: bytes, lines: Lines, decoders: Decoders
) -> tuple[list[Any], list[int]] | None:
    """Each line's product and the bare ones, like ``_decode_all``, from one msgspec call over
    the block; None when a line is neither kind, or lines might not be values one to one.

    ``decode_lines`` reads values separated by any whitespace: when each line starts with
    ``{`` (so none is blank) and there are as many values as lines, each line holds one. It
    decodes the wrapper's two keys, both optional, and skips any other: a wrapped line holds
    both (``product_data`` decoded with every field of the table required); a line holding
    neither is decoded again on its own as a bare product. A key skipped in a wrapped line
    is one more than the proof counts for it, which refuses the proof (``prove_lines``).
    """
    count = len(lines)
    try:
        items = decoders.lines(block)
    except _FAILED:
        return None
    if len(items) != count:
        return None
    products = list(map(_PRODUCT_DATA_OF, items))
    bare = _is_at(products, _UNSETS)
    if bare != _is_at(map(_OPERATION_OF, items), _UNSETS):
        return None  # a wrapped line without an operation, or one with only an operation
    proven_bare = []
    decode = decoders.bare
    for index in bare:
        try:
            products[index] = decode(lines[index])
        except _FAILED:  # not a product the table proves: the rules say why
            products[index] = None
        else:
            proven_bare.append(index)
    return products, proven_bare


def _decode_all(lines: list[bytes], decoders: Decoders) -> tuple[list[Any], list[int]]:
    """Each line's product, decoded as the kind that last served first; the bare ones."""
    proven: list[Any] = []
    append, failed = proven.append, _FAILED
    bare_first = decoders.bare_first
    if bare_first:
        decode = decoders.bare
        for raw in lines:
            try:
                append(decode(raw))
            except failed:
                append(None)
    else:
        decode = decoders.wrapped
        for raw in lines:
            try:
                append(decode(raw).product_data)
            except failed:
                append(None)
    first_kind = len(proven) - proven.count(None)
    second_kind: list[int] = []
    decode = decoders.wrapped if bare_first else decoders.bare
    for index in none_at(proven):
        try:
            decoded = decode(lines[index])
        except failed:
            continue
        proven[index] = decoded.product_data if bare_first else decoded
        second_kind.append(index)
    if len(second_kind) > first_kind:
        decoders.bare_first = not bare_first
    if not bare_first:
        return proven, second_kind
    wrapped = set(second_kind)
    return proven, [i for i, p in enumerate(proven) if p is not None and i not in wrapped]


def _extras(products: list[Any], decoders: Decoders) -> list[tuple[int, bytes]]:
    """For each extra field learned and present: how many ``products`` hold it, and its
    raw values joined by commas."""
    extras = []
    for value_of in decoders.extra_values:
        present = not_none(list(map(value_of, products)))
        if present:
            extras.append((len(present), b",".join(present)))
    return extras


def _drop_doubtful_extras(proven: list[Any], decoders: Decoders) -> None:
    """Unprove the lines whose extra fields the rules must judge.

    msgspec keeps an extra field's value as raw JSON, checked for syntax only: invalid
    UTF-8, a lone surrogate escape, an integer outside signed 64 bits (a run of 19 digits)
    or a key repeated in an object inside are the rules' to find. The caller checks all of
    a block's values at once; this, when that fails, each line's.
    """
    for index, product in enumerate(proven):
        if product is not None:
            values = [value_of(product) for value_of in decoders.extra_values]
            if not _json_fine(b",".join(value for value in values if value is not None)):
                proven[index] = None


def _may_hold_entities(products: list[Any]) -> bool:
    """False when no text field of the products holds a ``&`` (one scan per field)."""
    for name in TEXT_FIELDS:
        values: Iterable[Any] = map(operator.attrgetter(name), products)
        if name in _STRING_LISTS:
            values = itertools.chain.from_iterable(values)
        if "&" in "\n".join(values):
            return True
    return False


def _drop_entities(proven: list[Any]) -> None:
    """Unprove the lines whose text fields hold an HTML entity (``rules.html_entity_in``)."""
    for index in not_none_at(proven):
        product = proven[index]
        if any(html_entity_in(getattr(product, name)) is not None for name in TEXT_FIELDS):
            proven[index] = None


def _json_fine(joined: bytes) -> bool:
    """Raw JSON values joined by commas: what orjson reads and the rules' exact checks
    (integers past 64 bits, a key repeated inside) pass."""
    array = b"[" + joined + b"]"
    try:
        values = orjson.loads(array)
    except orjson.JSONDecodeError:
        return False
    return not exact_checks(array, values, exact_keys=True, exact_ints=True)


def _key_ends(numpy: Any, block: bytes) -> int | None:
    """How many ``":`` the block holds, when each key ends so; None if one may end otherwise.

    JSON allows whitespace between a key and its colon: then nothing is known. Otherwise a
    line's ``":`` are its keys, and maybe more, never fewer (an escaped quote before a colon,
    a string starting with one): too many only refuses the proof.
    """
    data = numpy.frombuffer(block, numpy.uint8)
    before = data[numpy.flatnonzero(data[1:] == _COLON)]  # the byte before each colon
    space, tab, cr = _SPACES
    if numpy.count_nonzero((before == space) | (before == tab) | (before == cr)):
        return None
    return int(numpy.count_nonzero(before == _QUOTE))


def _identifiers(products: list[Any]) -> tuple[list[str], list[str]] | None:
    """The products' product and variant identifiers; None when an identifier of the
    table is whitespace only."""
    found = {}
    for name in _IDENTIFIERS:
        found[name] = values = list(map(operator.attrgetter(name), products))
        if any(map(str.isspace, values)):
            return None
    pids, vids = (
        found.get(key) or list(map(operator.attrgetter(key), products))
        for key in (PRODUCT_KEY, VARIANT_KEY)
    )
    return pids, vids


def _urls_ok(products: list[Any]) -> bool:
    """Every image URL passes ``rules.urls_are_valid``."""
    for name in _URL_LISTS:
        items = list(itertools.chain.from_iterable(map(operator.attrgetter(name), products)))
        if items and not (
            _urls_share_a_host(items) or _urls_fine(" " + " ".join(items) + " ", len(items))
        ):
            return False
    return True


_SCHEMES = ("https://", "http://")


def _urls_share_a_host(items: list[str]) -> bool:
    """True when the URLs are proven to pass ``rules.urls_are_valid``; False says nothing.

    A feed's images mostly come from a few hosts named by letters. The first and the last
    URL in sorted order hold what every URL between them does: when both start with the
    same scheme and the first one's host starts after ``?`` (a letter, not ``/?#`` nor a
    digit), every host is non-empty, and an ASCII text without whitespace finishes the
    proof.
    """
    first, last = min(items), max(items)
    for scheme in _SCHEMES:
        if (
            first.startswith(scheme)
            and last.startswith(scheme)
            and first[len(scheme) : len(scheme) + 1] > "?"  # also: not empty
        ):
            urls = "".join(items)
            return urls.isascii() and not any(map(urls.__contains__, _ASCII_WHITESPACE))
    return False


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
#: every whitespace character an ASCII string can hold
_ASCII_WHITESPACE = (" ", *_ASCII_SPACES)


def _urls_fine(joined: str, count: int) -> bool:
    """``rules.urls_are_valid`` over ``count`` URLs joined by spaces (and one around them)."""
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
    return urls_are_valid(joined[1:-1], count)
