"""CSV/TSV reader: header, delimiters, quoting, list and number cells, bad rows."""

from __future__ import annotations

import pytest

from psykhe_cli.errors import InputError, UsageError
from psykhe_cli.feeds.delimited import CsvReader, Row, cell_value, sniff_delimiter


def rows(data: bytes, delimiter: str | None = None, **renames: str) -> list[Row]:
    chunks = [data[i : i + 5] for i in range(0, len(data), 5)]
    return list(CsvReader(chunks, "f.csv", delimiter=delimiter, column_map=renames))


def test_csv_rows_become_records_with_first_line_numbers() -> None:
    data = b"product_identifier,title,price\nA,Dress,10.5\nB,Coat,20\n"
    assert [(r.line, r.record) for r in rows(data)] == [
        (2, {"product_identifier": "A", "title": "Dress", "price": 10.5}),
        (3, {"product_identifier": "B", "title": "Coat", "price": 20}),
    ]


def test_csv_list_cells_split_on_pipe_or_read_as_json_array() -> None:
    data = (
        b"product_identifier,sizes,images,categories\n"
        b'A,"S | M|L",["https://a/x.jpg"],Beauty: Skincare\n'
    )
    assert rows(data)[0].record == {
        "product_identifier": "A",
        "sizes": ["S", "M", "L"],
        "images": ["https://a/x.jpg"],
        "categories": ["Beauty: Skincare"],
    }


def test_csv_empty_cells_are_omitted() -> None:
    assert rows(b"product_identifier,color,sizes\nA,,\n")[0].record == {"product_identifier": "A"}


def test_csv_quoted_field_with_newline_is_one_record() -> None:
    result = rows(b'product_identifier,title\nA,"two\nlines"\nB,x\n')
    assert [(r.line, r.record) for r in result] == [
        (2, {"product_identifier": "A", "title": "two\nlines"}),
        (4, {"product_identifier": "B", "title": "x"}),
    ]


def test_csv_bom_crlf_and_blank_lines() -> None:
    result = rows(b"\xef\xbb\xbfproduct_identifier,title\r\nA,x\r\n\r\nB,y\r\n")
    assert [(r.line, r.record) for r in result] == [
        (2, {"product_identifier": "A", "title": "x"}),
        (4, {"product_identifier": "B", "title": "y"}),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [(b"a,b;c", ","), (b"a;b;c", ";"), (b"a\tb\tc", "\t"), (b"a", ","), (b"a;b,c", ",")],
)
def test_sniff_delimiter(header: bytes, expected: str) -> None:
    assert sniff_delimiter(header) == expected


def test_csv_semicolon_and_tab_detected() -> None:
    assert rows(b"product_identifier;title\nA;x\n")[0].record == {
        "product_identifier": "A",
        "title": "x",
    }
    assert rows(b"product_identifier\ttitle\nA\tx, y\n")[0].record == {
        "product_identifier": "A",
        "title": "x, y",
    }


def test_csv_delimiter_flag_wins() -> None:
    assert rows(b"product_identifier|a,b\nA|1,2\n", delimiter="|")[0].record == {
        "product_identifier": "A",
        "a,b": "1,2",
    }


def test_csv_map_renames_columns() -> None:
    record = rows(b"sku,name\nA,x\n", sku="product_identifier", name="title")[0].record
    assert record == {"product_identifier": "A", "title": "x"}


def test_csv_row_with_wrong_cell_count_is_an_error_naming_it() -> None:
    result = rows(b"product_identifier,b\n1,2\n1,2,3\n1\n")
    assert [(r.line, r.error) for r in result] == [
        (2, None),
        (3, ("row_width", "row has 3 cells, the header has 2")),
        (4, ("row_width", "row has 1 cells, the header has 2")),
    ]


def test_csv_duplicate_column_is_an_error() -> None:
    with pytest.raises(InputError, match=r"^f\.csv:1: two columns are named 'title'$"):
        rows(b"title,title\nx,y\n")


def test_csv_duplicate_column_after_map_is_an_error() -> None:
    with pytest.raises(InputError, match="two columns are named 'title'"):
        rows(b"name,title\nx,y\n", name="title")


def test_csv_unnamed_column_is_an_error() -> None:
    with pytest.raises(InputError, match="column 2 of the header has no name"):
        rows(b"a,,c\n1,2,3\n")


def test_csv_invalid_utf8_names_line_and_offset() -> None:
    result = rows(b"product_identifier,b\n1,2\n1,\xff\n")
    assert result[1].error == ("invalid_utf8", "invalid UTF-8 at line 3 byte offset 2")
    assert result[1].raw == b"1,\xff"


def test_csv_unterminated_quote_is_an_error_not_a_crash() -> None:
    result = rows(b'product_identifier,b\n1,"2\n')
    assert result[-1].error is not None


def test_csv_empty_feed_has_no_rows() -> None:
    assert rows(b"") == []
    assert rows(b"product_identifier,b\n") == []


@pytest.mark.parametrize(
    ("field", "cell", "value"),
    [
        ("price", "105", 105),
        ("price", "105.50", 105.5),
        ("price", " 7 ", 7),
        ("price", "abc", "abc"),
        ("sizes", '["S", "M"]', ["S", "M"]),
        ("sizes", "S||M|", ["S", "M"]),
        ("title", "a|b", "a|b"),
    ],
)
def test_cell_value(field: str, cell: str, value: object) -> None:
    assert cell_value(field, cell) == value


@pytest.mark.parametrize(
    ("field", "cell"),
    [("price", "nan"), ("price", "inf"), ("price", "9223372036854775808"), ("sizes", "[1,")],
)
def test_cell_value_rejects(field: str, cell: str) -> None:
    with pytest.raises(ValueError):
        cell_value(field, cell)


# -- the generic CSV path cannot silently mangle a catalog (issue 11) ---------------------


def test_csv_map_of_a_column_the_header_lacks_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        rows(b"product_identifier,id,title\nA,1,x\n", idd="variant_identifier")
    assert caught.value.message == (
        "--map idd=variant_identifier: f.csv has no column 'idd' (did you mean 'id'?)"
    )
    assert caught.value.hint == "its columns: product_identifier, id, title"


def test_csv_map_joins_columns_into_one_list() -> None:
    data = (
        b"product_identifier,image_link,additional_image_link,title\n"
        b"A,https://a/1.jpg,https://a/2.jpg|https://a/3.jpg,x\n"
        b"B,https://b/1.jpg,,y\n"
    )
    chunks = [data]
    column_map = {"image_link+additional_image_link": "images"}
    result = list(CsvReader(chunks, "f.csv", delimiter=None, column_map=column_map))
    assert [r.record for r in result] == [
        {
            "product_identifier": "A",
            "title": "x",
            "images": ["https://a/1.jpg", "https://a/2.jpg", "https://a/3.jpg"],
        },
        {"product_identifier": "B", "title": "y", "images": ["https://b/1.jpg"]},
    ]


def test_csv_list_separator() -> None:
    data = b'product_identifier,sizes,images\nA,"S; M",https://a/1.jpg; https://a/2.jpg\n'
    reader = CsvReader([data], "f.csv", delimiter=",", column_map={}, list_separator=";")
    assert [r.record for r in reader] == [
        {
            "product_identifier": "A",
            "sizes": ["S", "M"],
            "images": ["https://a/1.jpg", "https://a/2.jpg"],
        }
    ]


def test_csv_header_without_product_identifier_is_one_error_naming_the_header() -> None:
    with pytest.raises(InputError) as caught:
        rows(b"sku,title\nA,x\nB,y\nC,z\n")
    assert caught.value.message == (
        "f.csv:1: the header has no product_identifier column (its columns: sku, title)"
    )
    assert caught.value.hint == (
        "name the column that identifies a product: --map COLUMN=product_identifier"
    )


def test_csv_header_row_is_not_a_line() -> None:
    reader = CsvReader([b"product_identifier\nA\nB\n"], "f.csv", delimiter=None, column_map={})
    assert [r.line for r in reader] == [2, 3]
    assert reader.lines_read == 2


@pytest.mark.parametrize(
    "cell",
    [
        "https://a/1.jpg, https://a/2.jpg",
        "https://a/1.jpg https://a/2.jpg",
        "https://a/1.jpg,https://a/2.jpg",
    ],
)
def test_csv_image_cell_with_several_urls_is_an_error_with_a_hint(cell: str) -> None:
    (row,) = rows(b'product_identifier,images\nA,"' + cell.encode() + b'"\n')
    assert row.error == (
        "invalid_cell",
        f"images: {cell!r} holds several URLs: separate them with '|' "
        "(or name the separator the feed uses with --list-separator)",
    )


def test_csv_image_url_with_a_comma_inside_is_one_url() -> None:
    (row,) = rows(b'product_identifier,images\nA,"https://cdn/w_100,h_100/a.jpg"\n')
    assert row.record == {"product_identifier": "A", "images": ["https://cdn/w_100,h_100/a.jpg"]}


@pytest.mark.parametrize("cell", ["1_000", "\u0663", "\uff11\uff12", "1_0.5", "\u0661.5"])
def test_csv_price_in_other_digits_is_an_error_not_a_number(cell: str) -> None:
    with pytest.raises(ValueError, match="is not a plain number: write it with the digits 0-9"):
        cell_value("price", cell)


@pytest.mark.parametrize("cell", ["295.00 USD", "USD 295", "€12", "12 €", "1,200.00 EUR"])
def test_csv_price_with_a_currency_is_an_error_with_a_hint(cell: str) -> None:
    with pytest.raises(ValueError, match="has a currency: a price is a number") as caught:
        cell_value("price", cell)
    assert "--format gmc" in str(caught.value)


def test_csv_price_error_is_on_its_row() -> None:
    (row,) = rows(b"product_identifier,price\nA,1_000\n")
    assert row.error == (
        "invalid_price",
        "price (column 'price'): '1_000' is not a plain number: write it with the digits 0-9 "
        "and a dot only",
    )
