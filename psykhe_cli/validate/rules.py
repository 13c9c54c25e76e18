"""The rules of ``schema.py`` applied to one product and to one JSON line (pure functions)."""

from __future__ import annotations

import html
import itertools
import json
import operator
import re
from collections.abc import Callable
from html.entities import html5
from typing import Any, NamedTuple

import orjson

from psykhe_cli.schema import (
    DEFAULT_OPERATION,
    DOCUMENTED_OPERATIONS,
    ERROR,
    KIND_DESCRIPTIONS,
    LEGACY_OPERATION_KEY,
    OPERATION_KEY,
    PRODUCT_DATA_KEY,
    PRODUCT_FIELDS,
    WARNING,
    FieldRule,
)

#: ``(level, code, message)`` found in one line
Issue = tuple[str, str, str]
#: ``(line, raw bytes, issues, product_identifier)`` of a line with an error
Rejected = tuple[int, bytes, list[Issue], "str | None"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_LITERAL = re.compile(r"\d+(?![.eE\d])")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
#: URLs joined by single spaces, each an absolute http(s) URL (``urls_are_valid`` also counts
#: them). URLs cannot hold whitespace, so the whole list is one match. A host's first
#: character, then anything but whitespace: one way to match, so a list that fails near its
#: end fails in linear time (``[^\s/?#]+\S*`` let the two share characters, and the
#: backtracking grew exponentially with the URLs in the list).
_URL_LIST = re.compile(r"https?://[^\s/?#]\S*(?: https?://[^\s/?#]\S*)*\Z", re.IGNORECASE)
#: a price written as text the way spreadsheets write it: "89,00", "89.00"
_DECIMAL_COMMA = re.compile(r"[0-9]+,[0-9]+")
_DECIMAL_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_BARE_PREFIX = b'{"' + OPERATION_KEY.encode() + b'":"' + DEFAULT_OPERATION.encode() + b'","'
_BARE_PREFIX += PRODUCT_DATA_KEY.encode() + b'":'


# -- rules: one product ------------------------------------------------------------------


def _check_identifier(value: Any) -> bool:
    return type(value) is str and value != "" and not value.isspace()


def _check_string(value: Any) -> bool:
    return type(value) is str


def _check_url_list(value: Any) -> bool:
    if type(value) is not list or not all(type(item) is str for item in value):
        return False
    return not value or urls_are_valid(" ".join(value), len(value))


def _check_string_list(value: Any) -> bool:
    return type(value) is list and all(type(item) is str for item in value)


_INFINITY = float("inf")


def _check_price(value: Any) -> bool:
    # type() rather than isinstance(): True is an int to Python, not a price; NaN fails 0 <= x
    return (type(value) is float or type(value) is int) and 0 <= value < _INFINITY


_KIND_CHECKS: dict[str, Callable[[Any], bool]] = {
    "identifier": _check_identifier,
    "string": _check_string,
    "url_list": _check_url_list,
    "string_list": _check_string_list,
    "price": _check_price,
}


class _Missing:
    """The value of an absent field (its type is part of a product's type signature)."""


_MISSING = _Missing()


class _Rule(NamedTuple):
    name: str
    check: Callable[[Any], bool]
    missing: Issue | None
    invalid_code: str
    expected: str


def _compile(rule: FieldRule) -> _Rule:
    missing = None
    if rule.when_missing is not None:
        missing = (rule.when_missing, f"missing_{rule.name}", f"{rule.name} is missing")
    expected = KIND_DESCRIPTIONS[rule.kind]
    return _Rule(rule.name, _KIND_CHECKS[rule.kind], missing, f"invalid_{rule.name}", expected)


_RULES = tuple(_compile(rule) for rule in PRODUCT_FIELDS)

# The fast path: most products are fine, and proving it with a few C-level calls is several
# times cheaper than calling one check per field. Everything here is derived from the table.
_KIND_TYPES: dict[str, tuple[type, ...]] = {
    "identifier": (str,),
    "string": (str,),
    "url_list": (list,),
    "string_list": (list,),
    "price": (int, float),
}
_NAMES = tuple(rule.name for rule in PRODUCT_FIELDS)
_ABSENT = (_MISSING,) * len(_NAMES)
#: every tuple of value types a product without problems can have
_GOOD_SIGNATURES = frozenset(
    itertools.product(
        *(
            _KIND_TYPES[rule.kind] + ((_Missing,) if rule.when_missing is None else ())
            for rule in PRODUCT_FIELDS
        )
    )
)
_IDENTIFIERS = tuple(i for i, r in enumerate(PRODUCT_FIELDS) if r.kind == "identifier")
_URL_LISTS = tuple(i for i, r in enumerate(PRODUCT_FIELDS) if r.kind == "url_list")
_STRING_LISTS = tuple(i for i, r in enumerate(PRODUCT_FIELDS) if r.kind == "string_list")
_PRICES = tuple(i for i, r in enumerate(PRODUCT_FIELDS) if r.kind == "price")
#: the text fields of the table: sent as written, so an HTML entity in one is worth a warning
TEXT_FIELDS = tuple(r.name for r in PRODUCT_FIELDS if r.kind in ("string", "string_list"))
_TEXTS = tuple(i for i, r in enumerate(PRODUCT_FIELDS) if r.name in TEXT_FIELDS)
#: an HTML character reference ending in ``;``: ``&amp;``, ``&#8211;``, ``&#x2013;``
#: (named ones are checked against HTML's list: ``R&D;`` is not one)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|([A-Za-z][A-Za-z0-9]{1,31}));")


_GET_ALL = operator.itemgetter(*_NAMES)


def product_is_fine(product: dict[str, Any]) -> bool:
    """True when ``product`` breaks no rule (fast; ``check_product`` says what is wrong)."""
    try:
        values = _GET_ALL(product)  # one C call when every field is there
    except KeyError:
        values = tuple(map(product.get, _NAMES, _ABSENT))
    if tuple(map(type, values)) not in _GOOD_SIGNATURES:
        return False
    for i in _IDENTIFIERS:
        if values[i] == "" or values[i].isspace():
            return False
    for i in _PRICES:
        if not 0 <= values[i] < _INFINITY:
            return False
    try:
        for i in _STRING_LISTS:
            if values[i] is not _MISSING:
                "".join(values[i])  # TypeError unless every item is a str
        for i in _TEXTS:
            if values[i] is not _MISSING and html_entity_in(values[i]) is not None:
                return False
        for i in _URL_LISTS:
            if values[i] and not urls_are_valid(" ".join(values[i]), len(values[i])):
                return False
    except TypeError:
        return False
    return True


def check_product(product: dict[str, Any]) -> list[Issue]:
    """The problems of one product object against the field rules of ``schema.py``."""
    if product_is_fine(product):
        return []
    issues: list[Issue] = []
    for name, check, missing, invalid_code, expected in _RULES:
        value = product.get(name, _MISSING)
        if value is _MISSING:
            if missing is not None:
                issues.append(missing)
        elif not check(value):
            message = f"{name} must be {expected}, got {_culprit(check, value)}"
            if check is _check_price and type(value) is str:
                message += _price_hint(value)
            issues.append((ERROR, invalid_code, message))
    entities = _entities_issue(product)
    if entities is not None:
        issues.append(entities)
    return issues


def html_entity_in(value: str | list[str]) -> str | None:
    """The first HTML character reference in a text field's value (``&amp;``), or None."""
    text = value if type(value) is str else "\n".join(value)
    if "&" not in text:  # the common case, in one C call
        return None
    for match in _ENTITY.finditer(text):
        name = match[1]
        if name is None or name + ";" in html5:
            return match[0]
    return None


def _entities_issue(product: dict[str, Any]) -> Issue | None:
    """A warning for the text fields holding HTML entities: a feed of this kind is sent as
    written, and the engine would show ``&amp;`` to shoppers (shop exports are decoded when
    read)."""
    found = {}
    for name in TEXT_FIELDS:
        value = product.get(name)
        if type(value) is str or (type(value) is list and all(type(v) is str for v in value)):
            entity = html_entity_in(value)
            if entity is not None:
                found[name] = entity
    if not found:
        return None
    first = next(iter(found.values()))
    fields = ", ".join(found)
    return (
        WARNING,
        "html_entities",
        f"{fields} {'holds' if len(found) == 1 else 'hold'} HTML entities such as {first!r}, "
        f"sent as written: write the characters themselves ({first!r} is "
        f"{html.unescape(first)!r})",
    )


def _culprit(check: Callable[[Any], bool], value: Any) -> str:
    """What to show of a bad value: of a URL list, the first bad item (whole) and where it is,
    since the list's start is often fine."""
    if check is _check_url_list and type(value) is list:
        for index, item in enumerate(value, start=1):
            if type(item) is not str or not urls_are_valid(item, 1):
                return f"{_describe(item, 300)} (item {index} of {len(value)})"
    return _describe(value)


def _price_hint(text: str) -> str:
    """How to write a price given as a string that reads as a number ("89,00", "89.00")."""
    if _DECIMAL_COMMA.fullmatch(text):
        return f": write it as a JSON number with a dot for decimals: {text.replace(',', '.')}"
    if _DECIMAL_TEXT.fullmatch(text):
        return f": write it as a JSON number, without quotes: {text}"
    return ""


def _describe(value: Any, limit: int = 60) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- rules: one JSON line ----------------------------------------------------------------


class LineResult(NamedTuple):
    """What one non-blank line gave: its normalized form (None on error), issues, product."""

    record: bytes | None
    issues: list[Issue]
    product: dict[str, Any] | None


def check_line(
    raw: bytes, *, exact_keys: bool = True, exact_ints: bool = True, want_record: bool = True
) -> LineResult:
    """Check one JSON line (no ``\\n``, no ``\\r``); return its wrapped JSON Lines form.

    ``exact_keys``/``exact_ints`` may be passed False when the caller knows the line holds no
    ``\\u`` escape / no run of 19 digits: the cheap exact checks then suffice. With
    ``want_record`` False the record is left out (None) even for a good line.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return LineResult(None, [_json_error(raw, exc)], None)
    if type(obj) is not dict:
        kind = "an array" if type(obj) is list else "a JSON " + type(obj).__name__
        return LineResult(None, [(ERROR, "not_an_object", f"line is {kind}, not an object")], None)
    issues = exact_checks(raw, obj, exact_keys, exact_ints)
    product = obj.get(PRODUCT_DATA_KEY)
    operation = obj.get(OPERATION_KEY)
    record: bytes | None
    if type(product) is dict and type(operation) is str and operation in DOCUMENTED_OPERATIONS:
        record = raw + b"\n" if want_record else None  # the common case: sent as written
    elif PRODUCT_DATA_KEY in obj:
        record, product = _wrapped(raw, obj, issues)
    elif OPERATION_KEY in obj or LEGACY_OPERATION_KEY in obj:
        issues.append((ERROR, "missing_product_data", f"line has no {PRODUCT_DATA_KEY!r}"))
        return LineResult(None, issues, None)
    else:  # a bare product object: wrap it, keeping the user's bytes
        record, product = wrap_bare(raw), obj
    if product is not None:
        product_issues = check_product(product)
        if product_issues:
            issues += product_issues
    if issues and any(issue[0] == ERROR for issue in issues):
        record = None
    return LineResult(record, issues, product)


def wrap_bare(raw: bytes) -> bytes:
    """The JSON line sent for a bare product's line: wrapped around the user's bytes."""
    return _BARE_PREFIX + raw.strip() + b"}\n"


def _wrapped(raw: bytes, obj: dict[str, Any], issues: list[Issue]) -> tuple[bytes, Any]:
    product = obj[PRODUCT_DATA_KEY]
    if type(product) is not dict:
        issues.append((ERROR, "invalid_product_data", f"{PRODUCT_DATA_KEY} must be an object"))
        product = None
    record = raw + b"\n"
    if OPERATION_KEY not in obj:
        if LEGACY_OPERATION_KEY in obj:
            message = f"legacy key {LEGACY_OPERATION_KEY!r}; sent as {OPERATION_KEY!r}"
            issues.append((WARNING, "legacy_action", message))
            operation = obj.pop(LEGACY_OPERATION_KEY)
        else:
            message = f"no {OPERATION_KEY!r}; sent as {DEFAULT_OPERATION!r}"
            issues.append((WARNING, "missing_operation", message))
            operation = DEFAULT_OPERATION
        record = orjson.dumps({OPERATION_KEY: operation, **obj}) + b"\n"
    else:
        operation = obj[OPERATION_KEY]
    if type(operation) is not str:
        issues.append((ERROR, "invalid_operation", f"{OPERATION_KEY} must be a string"))
    elif operation not in DOCUMENTED_OPERATIONS:
        message = f"operation {operation!r} is not documented (only 'insert' is)"
        issues.append((WARNING, "unknown_operation", message))
    return record, product


def _json_error(raw: bytes, exc: orjson.JSONDecodeError) -> Issue:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return (ERROR, "invalid_utf8", f"invalid UTF-8 at byte offset {bad.start}")
    rest = text[exc.pos :].lstrip("-+")
    if rest.startswith(("NaN", "Infinity")):
        return (ERROR, "non_finite_number", "NaN and Infinity are not allowed (JSON numbers only)")
    if "infinity" in exc.msg:  # a number literal too big for a double
        if _INTEGER_LITERAL.match(rest):
            return (ERROR, "integer_out_of_range", "integer is outside the signed 64-bit range")
        return (ERROR, "non_finite_number", "number is too large to be finite")
    return (ERROR, "invalid_json", f"invalid JSON: {exc.msg} (column {exc.colno})")


def exact_checks(raw: bytes, obj: Any, exact_keys: bool, exact_ints: bool) -> list[Issue]:
    """What decoding ``raw`` into ``obj`` hid: a key repeated, an integer past 64 bits."""
    # orjson keeps the last of duplicate keys and turns integers past 2**64 into floats: catch
    # both here. Colons outside strings are key/value pairs, and orjson never escapes ':', so
    # unless an escape spells a colon (\u003a) the counts differ iff a key was repeated.
    slow_keys = exact_keys and has_colon_escape(raw)
    suspicious_ints = exact_ints and may_hold_long_integer(raw)
    if slow_keys or suspicious_ints:
        return _slowexact_checks(raw)
    if raw.count(b":") != orjson.dumps(obj).count(b":"):
        return [(ERROR, "duplicate_key", "an object has the same key twice")]
    return []


def _slowexact_checks(raw: bytes) -> list[Issue]:
    # the reference decoder, for the rare line the cheap checks cannot settle: one problem
    # of each kind at most
    found: dict[str, Issue] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        if len(set(keys)) != len(keys) and "duplicate_key" not in found:
            repeated = next(key for key in keys if keys.count(key) > 1)
            message = f"key {repeated!r} appears twice in an object"
            found["duplicate_key"] = (ERROR, "duplicate_key", message)
        return dict(items)

    def integer(text: str) -> int:
        # JSON has no leading zeros: 20 digits or more is out of range, and int() of
        # thousands of digits would raise
        value = int(text) if len(text) <= 20 else _INT64_MAX + 1
        if not _INT64_MIN <= value <= _INT64_MAX and "integer_out_of_range" not in found:
            shown = text if len(text) <= 40 else text[:37] + "..."
            message = f"integer {shown} is outside the signed 64-bit range"
            found["integer_out_of_range"] = (ERROR, "integer_out_of_range", message)
        return value

    json.loads(raw, object_pairs_hook=pairs, parse_int=integer)
    return list(found.values())


def has_colon_escape(data: bytes) -> bool:
    """True when ``data`` may spell a colon as an escape, so counting colons proves nothing."""
    # the one escape that changes how many colons a line has once decoded: \u003a or \u003A
    return b"\\u003" in data and (b"\\u003a" in data or b"\\u003A" in data)


def may_hold_long_integer(data: bytes) -> bool:
    """False when ``data`` holds no integer outside signed 64 bits, which has 19 digits or more.

    Lines without such a run skip the exact integer check. Found by mapping every digit to "0"
    and searching for 19 of them (a regex is slower).
    """
    return _LONG_DIGITS in data.translate(_DIGITS_AS_ZERO)


def urls_are_valid(joined: str, count: int) -> bool:
    """The rule for ``images``: ``count`` items joined by single spaces are each one URL.

    Counting the spaces keeps an item such as ``"https://a/1.jpg, https://a/2.jpg"`` from
    passing as two.
    """
    return joined.count(" ") == count - 1 and _URL_LIST.match(joined) is not None
