"""The field table is the contract's "Product fields" section."""

from __future__ import annotations

from psykhe_cli.schema import LIST_FIELDS, NUMBER_FIELDS, PRODUCT_FIELDS


def test_schema_levels_match_the_contract() -> None:
    assert {rule.name: (rule.kind, rule.when_missing) for rule in PRODUCT_FIELDS} == {
        "product_identifier": ("identifier", "error"),
        "variant_identifier": ("identifier", "warning"),
        "title": ("string", "warning"),
        "images": ("url_list", "warning"),
        "price": ("price", "warning"),
        "designer": ("string", None),
        "color": ("string", None),
        "categories": ("string_list", None),
        "sizes": ("string_list", None),
    }


def test_schema_csv_field_kinds() -> None:
    assert {"images", "categories", "sizes"} == LIST_FIELDS
    assert {"price"} == NUMBER_FIELDS
