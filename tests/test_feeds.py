"""Feed readers: sources (file, gzip, stdin), blocks, format detection, JSON documents."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from psykhe_cli.errors import InputError
from psykhe_cli.feeds import FeedSource, detect_format, open_feed
from psykhe_cli.feeds.blocks import iter_blocks, non_blank_lines, split_lines
from psykhe_cli.feeds.jsonl import reject_json_document
from psykhe_cli.feeds.sources import ByteSource


def read_all(path: str, stdin: bytes = b"") -> bytes:
    feed = open_feed(FeedSource(path), io.BytesIO(stdin))
    try:
        return b"".join(feed.chunks)
    finally:
        feed.close()


def test_open_feed_reads_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b'{"a":1}\n')
    assert read_all(str(path)) == b'{"a":1}\n'


def test_open_feed_gunzips_by_magic_bytes_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "feed.dat"
    path.write_bytes(gzip.compress(b'{"a":1}\n' * 1000))
    assert read_all(str(path)) == b'{"a":1}\n' * 1000


def test_open_feed_gunzips_stdin() -> None:
    assert read_all("-", gzip.compress(b"x\n")) == b"x\n"


def test_open_feed_reads_concatenated_gzip_members(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(gzip.compress(b"a\n") + gzip.compress(b"b\n"))
    assert read_all(str(path)) == b"a\nb\n"


def test_open_feed_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl.gz"
    data = gzip.compress(b'{"product_identifier":"x"}\n' * 5000)
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(InputError, match=r"feed\.jsonl\.gz: truncated gzip data"):
        read_all(str(path))


def test_open_feed_corrupt_gzip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    with pytest.raises(InputError, match=r"feed\.gz: corrupt gzip data"):
        read_all(str(path))


def test_open_feed_garbage_after_gzip_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.gz"
    path.write_bytes(gzip.compress(b"a\n") + b"garbage")
    with pytest.raises(InputError, match="garbage after the end"):
        read_all(str(path))


def test_open_feed_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.jsonl: no such file"):
        read_all(str(tmp_path / "nope.jsonl"))


def test_open_feed_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_all(str(tmp_path))


def test_open_feed_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.jsonl"
    path.write_bytes(b"x\n")
    path.chmod(0)
    try:
        open(path, "rb").close()
    except PermissionError:
        with pytest.raises(InputError, match="permission denied"):
            read_all(str(path))
    else:
        pytest.skip("running as a user who can read anything")


def test_byte_source_counts_raw_bytes(tmp_path: Path) -> None:
    path = tmp_path / "feed.gz"
    data = gzip.compress(b"line\n" * 100)
    path.write_bytes(data)
    source = ByteSource(FeedSource(str(path)), io.BytesIO())
    assert b"".join(source) == b"line\n" * 100
    assert source.bytes_read == len(data)
    source.close()


def test_feed_source_names_stdin() -> None:
    assert FeedSource("-").name == "<stdin>"
    assert FeedSource("a.jsonl").name == "a.jsonl"


@pytest.mark.parametrize(
    ("path", "head", "expected"),
    [
        ("a.jsonl", b"x", "jsonl"),
        ("a.ndjson.gz", b"x", "jsonl"),
        ("a.json", b"x", "jsonl"),
        ("a.CSV", b"{", "csv"),
        ("a.csv.gz", b"{", "csv"),
        ("a.tsv", b"", "tsv"),
        ("-", b'\xef\xbb\xbf {"a":1}', "jsonl"),
        ("-", b"[{", "jsonl"),
        ("-", b"product_identifier,title\n", "csv"),
        ("-", b"product_identifier;title\n", "csv"),
        ("-", b"product_identifier\ttitle\n", "tsv"),
        ("-", b"", "jsonl"),
        ("-", b"oops\n", "jsonl"),
    ],
)
def test_detect_format_extension_then_content(path: str, head: bytes, expected: str) -> None:
    assert detect_format(FeedSource(path), head) == expected


def test_detect_format_flag_wins() -> None:
    assert detect_format(FeedSource("a.jsonl", format="csv"), b"{") == "csv"


def blocks(data: bytes, block_size: int = 8, line_cap: int = 1 << 20) -> list[tuple[int, bytes]]:
    chunks = [data[i : i + 3] for i in range(0, len(data), 3)]
    return list(iter_blocks(chunks, "f", block_size=block_size, line_cap=line_cap))


def test_iter_blocks_keeps_whole_lines_and_line_numbers() -> None:
    data = b"".join(b"line%d\n" % i for i in range(1, 11))
    result = blocks(data)
    assert b"".join(block for _, block in result) == data
    for first_line, block in result:
        assert block.endswith(b"\n")
        assert block.startswith(b"line%d\n" % first_line)


def test_iter_blocks_last_line_without_newline() -> None:
    assert blocks(b"a\nb", block_size=1) == [(1, b"a\n"), (2, b"b")]


def test_iter_blocks_strips_leading_bom_only() -> None:
    assert (
        b"".join(b for _, b in blocks(b"\xef\xbb\xbfa\n\xef\xbb\xbfb\n")) == b"a\n\xef\xbb\xbfb\n"
    )


def test_iter_blocks_line_over_cap_is_an_error_naming_it() -> None:
    data = b"ok\nok\n" + b"x" * 100 + b"\nok\n"
    with pytest.raises(InputError, match=r"^f:3: line longer than 50 bytes$"):
        blocks(data, block_size=8, line_cap=50)


def test_iter_blocks_line_at_cap_is_fine() -> None:
    data = b"x" * 50 + b"\n"
    assert b"".join(b for _, b in blocks(data, block_size=8, line_cap=50)) == data


def test_split_lines_drops_only_the_final_empty_piece() -> None:
    assert split_lines(b"a\n\nb\n") == [b"a", b"", b"b"]
    assert split_lines(b"a") == [b"a"]


@pytest.mark.parametrize(
    "line", [b"[", b"{", b'[{"a":1},{"a":2}]', b'{"product_identifier": "x",', b"  [  "]
)
def test_reject_json_document_says_so_and_suggests_jq(line: bytes) -> None:
    with pytest.raises(InputError) as caught:
        reject_json_document("cat.json", 1, line)
    assert caught.value.message.startswith("cat.json:1: this is a JSON document")
    assert caught.value.hint is not None
    assert "jq -c '.[]' cat.json" in caught.value.hint


@pytest.mark.parametrize("line", [b'{"a":1}', b"not json", b'{"a":1} x'])
def test_reject_json_document_leaves_json_lines_alone(line: bytes) -> None:
    reject_json_document("f", 1, line)


@pytest.mark.parametrize(
    ("block", "kept", "numbers", "lines"),
    [
        (b"a\nb\n", None, None, None),
        (b"\n\n \r\n", b"", [], 3),
        (b"\na\n\t\nb\n\n", b"a\nb\n", [11, 13], 5),
        (b"a\n  ", b"a\n", [10], 2),
        (b"a\n\nb", b"a\nb", [10, 12], 3),
    ],
)
def test_non_blank_lines_drops_whitespace_lines_and_keeps_numbers(
    block: bytes, kept: bytes | None, numbers: list[int] | None, lines: int | None
) -> None:
    found = non_blank_lines(block, 10)
    if kept is None:
        assert found is None
        return
    assert found is not None
    assert (found.data, list(found.numbers), found.lines) == (kept, numbers, lines)
