"""CSV/TSV reader: header, delimiters, quoting, list and number cells, bad rows."""

from __future__ import annotations

import pytest

from psykhe_cli.errors import InputError
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
    data = b'sizes,images,categories\n"S | M|L",["https://a/x.jpg"],Beauty: Skincare\n'
    assert rows(data)[0].record == {
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
    assert rows(b"a,b|c\n1,2|3\n", delimiter="|")[0].record == {"a,b": "1,2", "c": "3"}


def test_csv_map_renames_columns() -> None:
    record = rows(b"sku,name\nA,x\n", sku="product_identifier", name="title")[0].record
    assert record == {"product_identifier": "A", "title": "x"}


def test_csv_row_with_wrong_cell_count_is_an_error_naming_it() -> None:
    result = rows(b"a,b\n1,2\n1,2,3\n1\n")
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
    result = rows(b"a,b\n1,2\n1,\xff\n")
    assert result[1].error == ("invalid_utf8", "invalid UTF-8 at line 3 byte offset 2")
    assert result[1].raw == b"1,\xff"


def test_csv_unterminated_quote_is_an_error_not_a_crash() -> None:
    result = rows(b'a,b\n1,"2\n')
    assert result[-1].error is not None


def test_csv_empty_feed_has_no_rows() -> None:
    assert rows(b"") == []
    assert rows(b"a,b\n") == []


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
