"""The product field rules of ``shared/api-contract.md`` ("Product fields"), as data.

This table is the one place the rules live: when the vendor publishes a schema, change the
rows below and nothing else. ``validate.py`` interprets each row; the CSV reader uses it to know
which columns hold lists and which hold numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: what a field's value must be
Kind = Literal["identifier", "string", "url_list", "string_list", "price"]
#: how bad a problem is
Level = Literal["error", "warning"]

ERROR: Level = "error"
WARNING: Level = "warning"


@dataclass(frozen=True)
class FieldRule:
    """One product field: the kind of value it takes and how bad its absence is."""

    name: str
    kind: Kind
    #: level of the problem when the field is absent; None when it may be absent
    when_missing: Level | None
    #: a wrong type or value is always an error


#: Fields not listed here are passed through untouched, whatever their value.
PRODUCT_FIELDS: tuple[FieldRule, ...] = (
    FieldRule("product_identifier", "identifier", when_missing=ERROR),
    FieldRule("variant_identifier", "identifier", when_missing=WARNING),
    FieldRule("title", "string", when_missing=WARNING),
    FieldRule("images", "url_list", when_missing=WARNING),
    FieldRule("price", "price", when_missing=WARNING),
    FieldRule("designer", "string", when_missing=None),
    FieldRule("color", "string", when_missing=None),
    FieldRule("categories", "string_list", when_missing=None),
    FieldRule("sizes", "string_list", when_missing=None),
)

#: what each kind of value is, in words, for messages
KIND_DESCRIPTIONS: dict[Kind, str] = {
    "identifier": "a non-empty string",
    "string": "a string",
    "url_list": "a list of absolute http(s) URL strings",
    "string_list": "a list of strings",
    "price": "a finite number >= 0",
}

#: the wrapper of a body line: {"operation": "insert", "product_data": {...}}
OPERATION_KEY = "operation"
PRODUCT_DATA_KEY = "product_data"
#: an older page of the reference used this key instead of ``operation``
LEGACY_OPERATION_KEY = "action"
#: the only documented operation; any other is a warning
DOCUMENTED_OPERATIONS: frozenset[str] = frozenset({"insert"})
DEFAULT_OPERATION = "insert"

#: the two fields whose pair identifies one record (a variant) in a feed
PRODUCT_KEY = "product_identifier"
VARIANT_KEY = "variant_identifier"

#: CSV cells of list fields are split on this by default (or hold a JSON array)
CSV_LIST_SEPARATOR = "|"

LIST_FIELDS: frozenset[str] = frozenset(
    rule.name for rule in PRODUCT_FIELDS if rule.kind in ("url_list", "string_list")
)
URL_LIST_FIELDS: frozenset[str] = frozenset(
    rule.name for rule in PRODUCT_FIELDS if rule.kind == "url_list"
)
NUMBER_FIELDS: frozenset[str] = frozenset(
    rule.name for rule in PRODUCT_FIELDS if rule.kind == "price"
)
