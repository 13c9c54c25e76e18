"""Validation: the rules of ``schema.py`` applied to feed lines, and the feed-checking engine.

Both ``psykhe validate`` and ``psykhe push`` call ``check_feeds``, so both run the very same
code, in one pass over the input (stdin cannot be read twice)::

    report = check_feeds(
        [FeedSource("catalog.jsonl.gz")],
        ValidationOptions(strict=False, max_problems=1000),
        on_problem=print_problem,        # each Problem as found (the first max_problems)
        on_records=spool.write_lines,    # normalized JSON Lines of the lines without an error
        on_rejected=rejects.write,       # (file, line, raw bytes, problems) of the others
        on_progress=bar.update,          # (lines done, raw bytes read), at most ~10 times/s
    )

Problem codes (one level each; ``--strict`` makes every warning an error):

    error    invalid_utf8 invalid_json non_finite_number duplicate_key integer_out_of_range
             not_an_object missing_product_data invalid_product_data invalid_operation
             missing_product_identifier invalid_<field>          (any field of schema.py)
             csv_syntax row_width invalid_cell                    (CSV/TSV rows)
    warning  missing_<field> (variant_identifier, title, images, price) legacy_action
             missing_operation unknown_operation duplicate_variant

Big inputs are checked in worker processes, about one MiB block each, results merged in input
order in the calling process; small inputs and CSV are checked in-process. Only the calling
process keeps state that grows with the feed: see ``HashSet64``.
"""

from __future__ import annotations

import gc
import itertools
import json
import operator
import os
import re
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple

import orjson

from psykhe_cli.feeds import STDIN, FeedSource, OpenFeed, open_feed
from psykhe_cli.feeds.blocks import BLOCK_SIZE, iter_blocks, split_lines
from psykhe_cli.feeds.delimited import CsvReader
from psykhe_cli.feeds.jsonl import reject_json_document
from psykhe_cli.schema import (
    DEFAULT_OPERATION,
    DOCUMENTED_OPERATIONS,
    ERROR,
    KIND_DESCRIPTIONS,
    LEGACY_OPERATION_KEY,
    OPERATION_KEY,
    PRODUCT_DATA_KEY,
    PRODUCT_FIELDS,
    PRODUCT_KEY,
    VARIANT_KEY,
    WARNING,
    FieldRule,
)

__all__ = [
    "FeedReport",
    "FeedSource",
    "HashSet64",
    "Problem",
    "ValidationOptions",
    "check_feeds",
    "check_line",
    "check_product",
]

#: ``(level, code, message)`` found in one line
Issue = tuple[str, str, str]
#: ``(line, raw bytes, issues, product_identifier)`` of a line with an error
Rejected = tuple[int, bytes, list[Issue], "str | None"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_INTEGER_LITERAL = re.compile(r"\d+(?![.eE\d])")
#: any integer outside signed 64 bits has 19 digits or more: lines without such a run skip the
#: check. Found by mapping every digit to "0" and searching for 19 of them (a regex is slower).
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGITS = b"0" * 19
#: URLs cannot hold whitespace, so a list of them joined by " " is checked in one match
_URLS = re.compile(r"https?://[^\s/?#]+\S*(?: https?://[^\s/?#]+\S*)*\Z", re.IGNORECASE)
_BARE_PREFIX = b'{"' + OPERATION_KEY.encode() + b'":"' + DEFAULT_OPERATION.encode() + b'","'
_BARE_PREFIX += PRODUCT_DATA_KEY.encode() + b'":'


@dataclass(frozen=True)
class ValidationOptions:
    """How strictly to check, how much to report, and how to spread the work."""

    #: warnings count as errors
    strict: bool = False
    #: how many problems ``on_problem`` sees and ``FeedReport.problems`` keeps; counts stay complete
    max_problems: int = 1000
    #: worker processes for big JSON Lines input; None: up to 2 (one per core); 0 or 1: none
    workers: int | None = None
    #: bytes of whole lines handed to a worker at a time
    block_size: int = BLOCK_SIZE
    #: bytes checked in-process before starting workers (small feeds never start any)
    parallel_after: int = 4 * BLOCK_SIZE


@dataclass(frozen=True)
class Problem:
    """One problem with one line (or CSV row) of a feed."""

    file: str
    line: int
    level: str
    code: str
    message: str
    product_identifier: str | None = None

    def format(self) -> str:
        """``FILE:LINE: error[CODE]: message (product_identifier=ID)``, always one line."""
        text = f"{self.file}:{self.line}: {self.level}[{self.code}]: {_one_line(self.message)}"
        if self.product_identifier is not None:
            text += f" (product_identifier={_one_line(self.product_identifier)})"
        return text

    def to_json(self) -> dict[str, Any]:
        """The problem as the ``--json`` output shows it."""
        return {
            "file": self.file,
            "line": self.line,
            "level": self.level,
            "code": self.code,
            "message": self.message,
            "product_identifier": self.product_identifier,
        }


@dataclass
class FeedReport:
    """What checking the feeds found; counts are complete, ``problems`` is capped."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    #: distinct product_identifier among the accepted lines
    products: int = 0
    #: accepted lines (no error): what push would send
    variants: int = 0
    errors: int = 0
    warnings: int = 0
    counts_by_code: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: lines (CSV rows) with at least one error: what ``--skip-invalid`` leaves out
    rejected_lines: int = 0

    @property
    def ok(self) -> bool:
        """True when no line has an error (warnings allowed)."""
        return self.errors == 0

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys of the ``--json`` summary."""
        return {
            "ok": self.ok,
            "files": list(self.files),
            "lines": self.lines,
            "products": self.products,
            "variants": self.variants,
            "errors": self.errors,
            "warnings": self.warnings,
            "counts_by_code": dict(sorted(self.counts_by_code.items())),
            "problems": [problem.to_json() for problem in self.problems],
        }


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


# -- rules: one product ------------------------------------------------------------------


def _check_identifier(value: Any) -> bool:
    return type(value) is str and value != "" and not value.isspace()


def _check_string(value: Any) -> bool:
    return type(value) is str


def _check_url_list(value: Any) -> bool:
    if type(value) is not list or not all(type(item) is str for item in value):
        return False
    return not value or _URLS.match(" ".join(value)) is not None


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


_GET_ALL = operator.itemgetter(*_NAMES)


def _product_is_fine(product: dict[str, Any]) -> bool:
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
        for i in _URL_LISTS:
            if values[i] and _URLS.match(" ".join(values[i])) is None:
                return False
    except TypeError:
        return False
    return True


def check_product(product: dict[str, Any]) -> list[Issue]:
    """The problems of one product object against the field rules of ``schema.py``."""
    if _product_is_fine(product):
        return []
    issues: list[Issue] = []
    for name, check, missing, invalid_code, expected in _RULES:
        value = product.get(name, _MISSING)
        if value is _MISSING:
            if missing is not None:
                issues.append(missing)
        elif not check(value):
            message = f"{name} must be {expected}, got {_describe(value)}"
            issues.append((ERROR, invalid_code, message))
    return issues


def _describe(value: Any) -> str:
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    return text if len(text) <= 60 else text[:57] + "..."


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
    issues = _exact_checks(raw, obj, exact_keys, exact_ints)
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
        record, product = _BARE_PREFIX + raw.strip() + b"}\n", obj
    if product is not None:
        product_issues = check_product(product)
        if product_issues:
            issues += product_issues
    if issues and any(issue[0] == ERROR for issue in issues):
        record = None
    return LineResult(record, issues, product)


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


def _exact_checks(
    raw: bytes, obj: dict[str, Any], exact_keys: bool, exact_ints: bool
) -> list[Issue]:
    # orjson keeps the last of duplicate keys and turns integers past 2**64 into floats: catch
    # both here. Colons outside strings are key/value pairs, and orjson never escapes ':', so
    # unless an escape spells a colon (\u003a) the counts differ iff a key was repeated.
    slow_keys = exact_keys and _has_colon_escape(raw)
    suspicious_ints = exact_ints and _LONG_DIGITS in raw.translate(_DIGITS_AS_ZERO)
    if slow_keys or suspicious_ints:
        return _slow_exact_checks(raw)
    if raw.count(b":") != orjson.dumps(obj).count(b":"):
        return [(ERROR, "duplicate_key", "an object has the same key twice")]
    return []


def _slow_exact_checks(raw: bytes) -> list[Issue]:
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


# -- one block of lines (runs in a worker process or in-process) --------------------------


class BlockParams(NamedTuple):
    """What a worker needs to know besides the block."""

    strict: bool
    want_records: bool
    #: keep every problem (for on_rejected); else at most this many per block
    keep_all: bool
    max_problems: int


@dataclass
class BlockResult:
    """One block's findings, small enough to send back from a worker."""

    lines: int = 0
    variants: int = 0
    rejected_lines: int = 0
    errors: int = 0
    warnings: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: ``(line, level, code, message, product_identifier)``, in line order
    problems: list[tuple[int, str, str, str, str | None]] = field(default_factory=list)
    #: line number of each accepted line; pair_hashes and records follow the same order
    accepted: array[int] = field(default_factory=lambda: array("Q"))
    pair_hashes: array[int] = field(default_factory=lambda: array("Q"))
    product_hashes: array[int] = field(default_factory=lambda: array("Q"))
    records: list[bytes] = field(default_factory=list)
    #: ``(line, raw bytes, issues)`` of lines with an error, when asked for
    rejected: list[Rejected] = field(default_factory=list)
    #: ``(product_identifier, variant_identifier)`` of accepted lines, when cheap to keep
    keys: list[tuple[str, str | None]] | None = None
    #: product_identifier of the previous accepted line: consecutive variants hash it once
    last_pid: str | None = None

    def add(self, line: int, issues: list[Issue], pid: str | None, params: BlockParams) -> bool:
        """Count ``issues`` of ``line``; True when one of them is an error."""
        has_error = False
        for level, code, message in issues:
            level = ERROR if params.strict else level
            if level == ERROR:
                self.errors += 1
                has_error = True
            else:
                self.warnings += 1
            self.counts[code] = self.counts.get(code, 0) + 1
            if params.keep_all or len(self.problems) < params.max_problems:
                self.problems.append((line, level, code, message, pid))
        return has_error

    def accept(
        self, line: int, product: dict[str, Any], record: bytes, params: BlockParams
    ) -> None:
        """Count an accepted line and remember what deduplication needs."""
        pid = product[PRODUCT_KEY]
        self.variants += 1
        self.accepted.append(line)
        self.pair_hashes.append(pair_hash(pid, product.get(VARIANT_KEY)))
        if pid != self.last_pid:
            self.product_hashes.append(product_hash(pid))
            self.last_pid = pid
        if params.want_records:
            self.records.append(record)


_UINT64 = (1 << 64) - 1


def pair_hash(product_identifier: str, variant_identifier: Any) -> int:
    """The 64-bit hash identifying a (product_identifier, variant_identifier) pair.

    Built-in ``hash()`` is salted per interpreter, but workers are only ever forked from the
    process that merges their hashes, so every hash of one run shares one salt.
    """
    vid = variant_identifier if type(variant_identifier) is str else None
    return hash((product_identifier, vid)) & _UINT64


def product_hash(product_identifier: str) -> int:
    """The 64-bit hash of a product_identifier (same salt rule as ``pair_hash``)."""
    return hash(product_identifier) & _UINT64


def check_block(block: bytes, first_line: int, params: BlockParams) -> BlockResult:
    """Check a block of whole JSON lines whose first line is ``first_line``.

    The cyclic garbage collector is paused meanwhile: a block's parsed lines are acyclic and
    freed when it ends, and collecting while thousands of them are alive doubled the cost.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check_block(block, first_line, params)
    finally:
        if collecting:
            gc.enable()


def _check_block(block: bytes, first_line: int, params: BlockParams) -> BlockResult:
    """The work of ``check_block``.

    This is the hot path of the whole program. When every line of the block parses and the
    block needs no exact slow check, the parsing and the duplicate-key count run as a few
    C-level calls over the whole block; each line is then accepted when it is the common
    case (wrapped, a documented operation, a fine product) and goes through ``check_line``
    otherwise, which reaches the same verdicts line by line.
    """
    result = BlockResult()
    lines = split_lines(block)
    result.lines = len(lines)
    exact_keys = _has_colon_escape(block)
    exact_ints = _LONG_DIGITS in block.translate(_DIGITS_AS_ZERO)
    objects = None if exact_keys or exact_ints else _parse_all(block, lines)
    if objects is None:
        objects = [_MISSING] * len(lines)  # nothing known: every line takes check_line
    want_records = params.want_records
    accepted, records = result.accepted, result.records
    pair_hashes, product_hashes = result.pair_hashes, result.product_hashes
    operations = DOCUMENTED_OPERATIONS
    last_pid = None
    for line_no, raw, obj in zip(itertools.count(first_line), lines, objects):
        product = obj.get(PRODUCT_DATA_KEY) if type(obj) is dict else None
        if (
            type(product) is dict
            and type(operation := obj.get(OPERATION_KEY)) is str
            and operation in operations
            and _product_is_fine(product)
        ):
            record = raw.removesuffix(b"\r") + b"\n" if want_records else None
        else:
            raw = raw.removesuffix(b"\r")
            if not raw or raw.isspace():
                continue
            record, issues, product = check_line(
                raw, exact_keys=exact_keys, exact_ints=exact_ints, want_record=want_records
            )
            pid = _pid_of(product)
            if issues and result.add(line_no, issues, pid, params):
                result.rejected_lines += 1
                if params.keep_all:
                    result.rejected.append((line_no, raw, issues, pid))
                continue
            assert product is not None
        pid = product[PRODUCT_KEY]
        accepted.append(line_no)
        # accepted: the variant_identifier is a str or absent (None), as pair_hash wants
        pair_hashes.append(hash((pid, product.get(VARIANT_KEY))) & _UINT64)
        if pid != last_pid:
            product_hashes.append(hash(pid) & _UINT64)
            last_pid = pid
        if want_records:
            assert record is not None
            records.append(record)
    result.variants = len(accepted)
    return result


def _parse_all(block: bytes, lines: list[bytes]) -> list[Any] | None:
    """Every line parsed, or None when one does not parse or some object repeats a key.

    The caller has made sure no line spells a colon as an escape, so the colon counts of the
    raw lines and of their re-serialization agree exactly when no key is repeated.
    """
    try:
        objects = list(map(orjson.loads, lines))  # blank lines fail too: fine, rare
    except orjson.JSONDecodeError:
        return None
    # every line parsed, so the block holds no other bytes with a colon than those lines
    if block.count(b":") != orjson.dumps(objects).count(b":"):
        return None
    return objects


def _has_colon_escape(data: bytes) -> bool:
    # the one escape that changes how many colons a line has once decoded: \u003a or \u003A
    return b"\\u003" in data and (b"\\u003a" in data or b"\\u003A" in data)


def _pid_of(product: dict[str, Any] | None) -> str | None:
    if product is None:
        return None
    pid = product.get(PRODUCT_KEY)
    return pid if type(pid) is str else None


def check_rows(reader: CsvReader, params: BlockParams, size: int = 2000) -> Iterator[BlockResult]:
    """Check CSV/TSV rows, ``size`` rows per result (in-process: CSV parsing is the slow part)."""
    result, end = BlockResult(keys=[]), 0
    for row in reader:
        result.lines += row.end_line - end
        end = row.end_line
        if row.error is not None:
            issues: list[Issue] = [(ERROR, *row.error)]
        else:
            assert row.record is not None
            issues = check_product(row.record)
        product = row.record
        pid = _pid_of(product)
        if issues and result.add(row.line, issues, pid, params):
            result.rejected_lines += 1
            if params.keep_all:
                result.rejected.append((row.line, row.raw, issues, pid))
        else:
            assert product is not None and result.keys is not None
            wrapped = {OPERATION_KEY: DEFAULT_OPERATION, PRODUCT_DATA_KEY: product}
            result.accept(row.line, product, orjson.dumps(wrapped) + b"\n", params)
            result.keys.append((product[PRODUCT_KEY], product.get(VARIANT_KEY)))
        if result.lines >= size:
            yield result
            result = BlockResult(keys=[])
    result.lines += reader.lines_read - end
    yield result


# -- state that grows with the feed ------------------------------------------------------


class HashSet64:
    """An exact set of 64-bit hashes in flat arrays, for duplicate and distinct counting.

    Memory: one 8-byte slot per entry in tables kept at most 3/4 full, i.e. 11-21 bytes per
    entry (a Python set of ints takes ~70). The feed's (product_identifier,
    variant_identifier) pairs cost that per accepted line, the distinct product_identifiers
    the same per product: ~21 MB for 1,000,000 lines of ~3 variants a product. The 16
    partitions (by the top 4 bits) grow one at a time, so growing never holds two copies of
    the whole set. With 64-bit hashes a false duplicate among 10**6 lines has probability
    ~3e-8. The value 0 marks an empty slot: a hash of 0 (probability 2**-64) goes unnoticed.
    """

    _PARTS = 16
    _SHIFT = 60

    def __init__(self) -> None:
        self._tables = [array("Q", bytes(8 * 4096)) for _ in range(self._PARTS)]
        self._masks = [4096 - 1] * self._PARTS
        self._used = [0] * self._PARTS
        self.size = 0

    def add_all(self, hashes: Sequence[int]) -> list[int]:
        """Add ``hashes``; return the indexes of those present before (or earlier in the batch)."""
        self._make_room(len(hashes))
        present: list[int] = []
        tables, masks, used, shift = self._tables, self._masks, self._used, self._SHIFT
        for index, value in enumerate(hashes):
            part = value >> shift
            table = tables[part]
            mask = masks[part]
            slot = value & mask
            held = table[slot]
            while held:
                if held == value:
                    present.append(index)
                    break
                slot = (slot + 1) & mask
                held = table[slot]
            else:
                table[slot] = value
                used[part] += 1
        self.size += len(hashes) - len(present)
        return present

    def reserve(self, coming: int) -> None:
        """Grow now, while the tables are small, for about ``coming`` more entries."""
        self._make_room(coming // self._PARTS + coming // (8 * self._PARTS))

    def _make_room(self, coming: int) -> None:
        # room for the whole batch in every partition, so no table can fill up mid-batch
        for part, table in enumerate(self._tables):
            while (self._used[part] + coming) * 4 > len(table) * 3:
                table = self._grown(table)
            self._tables[part] = table
            self._masks[part] = len(table) - 1

    @staticmethod
    def _grown(table: array[int]) -> array[int]:
        bigger = array("Q", bytes(16 * len(table)))
        mask = len(bigger) - 1
        for value in table:
            if value:
                slot = value & mask
                while bigger[slot]:
                    slot = (slot + 1) & mask
                bigger[slot] = value
        return bigger


# -- the engine ---------------------------------------------------------------------------

OnProblem = Callable[[Problem], None]
OnRecords = Callable[[list[bytes]], None]
OnRejected = Callable[[str, int, bytes, list[Problem]], None]
OnProgress = Callable[[int, int], None]


def check_feeds(
    sources: Iterable[FeedSource],
    options: ValidationOptions | None = None,
    *,
    stdin: BinaryIO | None = None,
    on_problem: OnProblem | None = None,
    on_records: OnRecords | None = None,
    on_rejected: OnRejected | None = None,
    on_progress: OnProgress | None = None,
) -> FeedReport:
    """Read and check every feed in one pass; return the report.

    - ``on_problem(problem)``: each problem as it is found, in input order, the first
      ``options.max_problems`` only (the report's counts stay complete).
    - ``on_records(batch)``: in input order, the normalized JSON Lines (each ending in
      ``b"\\n"``) of every line without an error: wrapped lines byte-exact (only CR/LF and a
      leading BOM removed), bare products wrapped as ``{"operation":"insert","product_data":…}``
      around the user's bytes, ``action`` renamed ``operation``, CSV rows as wrapped JSON.
    - ``on_rejected(file, line, raw, problems)``: each line (CSV row) with an error.
    - ``on_progress(lines, raw bytes read)``: now and then, at most ~10 times a second.

    ``stdin`` is read for the source ``-`` (default: this process's standard input).
    Raises ``InputError`` when a feed cannot be read to its end (missing, a directory,
    truncated gzip, a JSON document instead of JSON Lines, a line over 16 MiB, a bad CSV
    header): whatever was reported before stays valid, but the feed is never taken as shorter.
    """
    options = options or ValidationOptions()
    merger = _Merger(options, on_problem, on_records, on_rejected)
    progress = _Progress(on_progress)
    with _Workers(options) as workers:
        for source in sources:
            feed = open_feed(source, stdin if stdin is not None else sys.stdin.buffer)
            merger.report.files.append(source.name)
            try:
                if feed.format == "jsonl":
                    _check_jsonl(feed, merger, workers, progress)
                else:
                    _check_delimited(feed, merger, progress)
            finally:
                progress.finish_file(feed.bytes_read)
                feed.close()
    progress.report(merger.report.lines, force=True)
    return merger.report


def _check_jsonl(feed: OpenFeed, merger: _Merger, workers: _Workers, progress: _Progress) -> None:
    name, params = feed.source.name, merger.params
    inflight: deque[tuple[Future[BlockResult], int, bytes]] = deque()
    seen_a_line = False
    blocks = iter_blocks(feed.chunks, name, block_size=merger.options.block_size)
    for first_line, block in blocks:
        if not seen_a_line:
            seen_a_line = _reject_document(name, first_line, block)
        pool = workers.pool(feed.bytes_read)
        if pool is not None and not inflight:
            merger.expect(_lines_to_come(feed, merger.report.lines))
        if pool is None:
            merger.merge(name, check_block(block, first_line, params), first_line, block)
        else:
            inflight.append(
                (pool.submit(check_block, block, first_line, params), first_line, block)
            )
            while len(inflight) > 2 * workers.count:  # bounds the blocks held in memory
                future, start, held = inflight.popleft()
                merger.merge(name, future.result(), start, held)
        progress.update(merger.report.lines, feed.bytes_read)
    while inflight:
        future, start, held = inflight.popleft()
        merger.merge(name, future.result(), start, held)


def _lines_to_come(feed: OpenFeed, lines_so_far: int) -> int:
    """How many more lines a plain file holds, from its size and the lines read so far."""
    if feed.source.path == STDIN or feed.bytes_source.compressed or not feed.bytes_read:
        return 0
    try:
        size = os.path.getsize(feed.source.path)
    except OSError:
        return 0
    return max(0, size - feed.bytes_read) * lines_so_far // feed.bytes_read


def _reject_document(name: str, first_line: int, block: bytes) -> bool:
    for line_no, raw in enumerate(split_lines(block), start=first_line):
        if raw.strip():
            reject_json_document(name, line_no, raw)
            return True
    return False


def _check_delimited(feed: OpenFeed, merger: _Merger, progress: _Progress) -> None:
    source = feed.source
    delimiter = source.delimiter or ("\t" if feed.format == "tsv" else None)
    reader = CsvReader(
        feed.chunks, source.name, delimiter=delimiter, column_map=dict(source.column_map)
    )
    for result in check_rows(reader, merger.params):
        merger.merge(source.name, result, 0, None)
        progress.update(merger.report.lines, feed.bytes_read)


class _Merger:
    """Folds block results, in input order, into the report and the callbacks."""

    def __init__(
        self,
        options: ValidationOptions,
        on_problem: OnProblem | None,
        on_records: OnRecords | None,
        on_rejected: OnRejected | None,
    ) -> None:
        self.options = options
        self.report = FeedReport()
        self.params = BlockParams(
            options.strict, on_records is not None, on_rejected is not None, options.max_problems
        )
        self._on_problem, self._on_records, self._on_rejected = on_problem, on_records, on_rejected
        self._pairs = HashSet64()
        self._products = HashSet64()

    def expect(self, lines: int) -> None:
        """Size the duplicate tables for ``lines`` more lines (rehashing later costs more)."""
        report = self.report
        if lines and report.lines:
            self._pairs.reserve(lines * report.variants // report.lines)
            self._products.reserve(lines * report.products // report.lines)

    def merge(self, file: str, result: BlockResult, first_line: int, block: bytes | None) -> None:
        """Add one block's result; ``block`` (JSON Lines) lets duplicates be named."""
        report = self.report
        report.lines += result.lines
        report.variants += result.variants
        report.rejected_lines += result.rejected_lines
        report.errors += result.errors
        report.warnings += result.warnings
        for code, count in result.counts.items():
            report.counts_by_code[code] = report.counts_by_code.get(code, 0) + count
        hashes = result.product_hashes
        report.products += len(hashes) - len(self._products.add_all(hashes))
        problems, rejected = result.problems, result.rejected
        repeated = self._pairs.add_all(result.pair_hashes)
        if repeated:
            problems, rejected = self._duplicates(result, repeated, first_line, block)
        for line, level, code, message, pid in problems:
            self._problem(Problem(file, line, level, code, message, pid))
        if self._on_rejected is not None:
            for line, raw, issues, pid in rejected:
                found = [Problem(file, line, self._level(lv), c, m, pid) for lv, c, m in issues]
                self._on_rejected(file, line, raw, found)
        records = result.records
        if repeated and self.options.strict:
            dropped = set(repeated)
            records = [r for i, r in enumerate(records) if i not in dropped]
        if self._on_records is not None and records:
            self._on_records(records)

    def _problem(self, problem: Problem) -> None:
        if len(self.report.problems) < self.options.max_problems:
            self.report.problems.append(problem)
            if self._on_problem is not None:
                self._on_problem(problem)

    def _level(self, level: str) -> str:
        return ERROR if self.options.strict else level

    def _duplicates(
        self, result: BlockResult, repeated: list[int], first_line: int, block: bytes | None
    ) -> tuple[list[tuple[int, str, str, str, str | None]], list[Rejected]]:
        level = ERROR if self.options.strict else WARNING
        lines = split_lines(block) if block is not None else []
        problems = list(result.problems)
        rejected = list(result.rejected)
        pid: str | None
        vid: Any
        for index in repeated:
            line = result.accepted[index]
            if result.keys is not None:
                pid, vid = result.keys[index]
                raw = result.records[index].rstrip(b"\n") if result.records else b""
            else:
                raw = lines[line - first_line].rstrip(b"\r")
                product = _product_of(raw) or {}
                pid, vid = product.get(PRODUCT_KEY), product.get(VARIANT_KEY)
            issue = _duplicate_issue(level, vid)
            problems.append((line, *issue, pid))
            rejected.append((line, raw, [issue], pid))
        count = len(repeated)
        report = self.report
        report.counts_by_code["duplicate_variant"] = (
            report.counts_by_code.get("duplicate_variant", 0) + count
        )
        if level == ERROR:
            report.errors += count
            report.variants -= count
            report.rejected_lines += count
        else:
            report.warnings += count
            rejected = result.rejected
        problems.sort(key=lambda problem: problem[0])
        rejected.sort(key=lambda item: item[0])
        return problems, rejected


def _duplicate_issue(level: str, vid: Any) -> Issue:
    if type(vid) is str:
        message = f"variant_identifier {vid!r} of this product already appeared earlier"
    else:
        message = "this product_identifier already appeared earlier without a variant_identifier"
    return (level, "duplicate_variant", message)


def _product_of(raw: bytes) -> dict[str, Any] | None:
    """The product object of a raw JSON line, when it has one (for naming problems)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(obj) is not dict:
        return None
    product = obj.get(PRODUCT_DATA_KEY, obj)
    return product if type(product) is dict else None


class _Progress:
    """Calls ``on_progress`` at most ten times a second."""

    _INTERVAL = 0.1

    def __init__(self, on_progress: OnProgress | None) -> None:
        self._on_progress = on_progress
        self._next = 0.0
        self._done_bytes = 0  # raw bytes of the feeds already finished
        self._bytes = 0

    def update(self, lines: int, bytes_read: int) -> None:
        """Tell the progress of the current feed."""
        self._bytes = self._done_bytes + bytes_read
        self.report(lines)

    def finish_file(self, bytes_read: int) -> None:
        """Account a finished feed's bytes."""
        self._done_bytes += bytes_read
        self._bytes = self._done_bytes

    def report(self, lines: int, *, force: bool = False) -> None:
        """Call back, unless called back less than 0.1 s ago (and not forced)."""
        if self._on_progress is None:
            return
        now = time.monotonic()
        if force or now >= self._next:
            self._next = now + self._INTERVAL
            self._on_progress(lines, self._bytes)


class _Workers:
    """Worker processes for big JSON Lines feeds, started only once one is worth it."""

    def __init__(self, options: ValidationOptions) -> None:
        wanted = options.workers
        if wanted is None:
            wanted = min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        # fork only: a spawned worker would re-run the CLI's __main__, and fork is unsafe in a
        # process with threads. Elsewhere the work stays in-process: same code, one core.
        forkable = hasattr(os, "fork") and threading.active_count() == 1
        self.count = wanted if wanted > 1 and forkable else 0
        self._after = options.parallel_after
        self._pool: ProcessPoolExecutor | None = None

    def pool(self, bytes_read: int) -> ProcessPoolExecutor | None:
        """The pool, started once ``bytes_read`` passes the threshold; None for in-process."""
        if self._pool is None and self.count and bytes_read >= self._after:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                self.count,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_worker_init,
            )
        return self._pool

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _worker_init() -> None:
    import signal

    # the parent handles Ctrl-C and SIGTERM and shuts the pool down
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
