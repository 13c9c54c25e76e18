"""Byte ranges of a plain file read as whole lines: the rules of ``iter_blocks``, range by range."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import BOM, iter_blocks
from psykhe_cli.feeds.ranges import RangeLines, read_again, read_lines


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(data)
    return str(path)


def test_a_bom_opening_the_file_is_left_out(tmp_path: Path) -> None:
    path = write(tmp_path, BOM + b"a\nb\n")
    assert read_lines(path, 0, 7) == RangeLines(b"a\nb\n", len(BOM))
    assert read_lines(path, 0, 4) == RangeLines(b"a\n", len(BOM))


@pytest.mark.parametrize("end", [1, 2])
def test_a_bom_is_left_out_by_a_range_shorter_than_it(tmp_path: Path, end: int) -> None:
    path = write(tmp_path, BOM + b"a\nb\n")
    assert read_lines(path, 0, end) == RangeLines(b"a\n", len(BOM))
    assert read_lines(path, end, 3) == RangeLines(b"", 3)
    path = write(tmp_path, BOM[:2] + b"\nb\n")  # not a BOM: the first line holds it
    assert read_lines(path, 0, end) == RangeLines(BOM[:2] + b"\n", 0)


def test_a_bom_elsewhere_is_part_of_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\n" + BOM + b"b\n" + BOM)
    assert read_lines(path, 0, 1) == RangeLines(b"a\n", 0)
    assert read_lines(path, 2, 3) == RangeLines(BOM + b"b\n", 2)
    assert read_lines(path, 7, 10) == RangeLines(BOM, 7)


def test_the_line_across_the_end_is_read_to_its_end(tmp_path: Path) -> None:
    path = write(tmp_path, b"aa\nbbbb\ncc")
    assert read_lines(path, 0, 5) == RangeLines(b"aa\nbbbb\n", 0)
    assert read_lines(path, 3, 4) == RangeLines(b"bbbb\n", 3)
    assert read_lines(path, 8, 9) == RangeLines(b"cc", 8)  # the last line, no newline


def test_the_line_across_the_start_belongs_to_the_range_before(tmp_path: Path) -> None:
    path = write(tmp_path, b"aa\nbbbb\ncc\n")
    assert read_lines(path, 5, 9) == RangeLines(b"cc\n", 8)
    assert read_lines(path, 4, 6) == RangeLines(b"", 6)  # the middle of a line: none starts
    assert read_lines(path, 6, 8) == RangeLines(b"", 8)  # its newline: none starts either
    assert read_lines(path, 1, 3) == RangeLines(b"", 3)


def test_a_line_over_the_cap_stops_the_range(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\nb\n" + b"x" * 11 + b"\nc\n")
    assert read_lines(path, 0, 6, line_cap=10) == RangeLines(b"a\nb\n", 0, too_long=True)
    assert read_lines(path, 0, 6, line_cap=11) == RangeLines(b"a\nb\n" + b"x" * 11 + b"\n", 0)


def test_the_cap_counts_a_carriage_return_not_the_newline_nor_a_bom(tmp_path: Path) -> None:
    path = write(tmp_path, BOM + b"x" * 9 + b"\r\n")
    assert read_lines(path, 0, 5, line_cap=10) == RangeLines(b"x" * 9 + b"\r\n", len(BOM))
    assert read_lines(path, 0, 5, line_cap=9).too_long


@pytest.mark.parametrize("cap", [300_000, 299_999])
def test_the_cap_holds_for_a_line_read_in_many_pieces(tmp_path: Path, cap: int) -> None:
    line = b"x" * 300_000
    path = write(tmp_path, b"a\n" + line + b"\nb\n")
    read = read_lines(path, 0, 10, line_cap=cap)
    if cap >= len(line):
        assert read == RangeLines(b"a\n" + line + b"\n", 0)
    else:
        assert read == RangeLines(b"a\n", 0, too_long=True)


def test_a_path_naming_another_file_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, b"a\nb\n")
    info = os.stat(path)
    same = (info.st_dev, info.st_ino)
    assert read_lines(path, 0, 4, same) == RangeLines(b"a\nb\n", 0)
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"a\nb\n")
    os.replace(other, path)  # the same bytes, another file
    assert read_lines(path, 0, 4, same) == RangeLines(b"", 0, changed=True)
    assert read_lines(path, 0, 4) == RangeLines(b"a\nb\n", 0)


def test_read_again_gives_back_the_lines_read(tmp_path: Path) -> None:
    path = write(tmp_path, BOM + b"aa\nbbbb\ncc")
    for start, end in [(0, 4), (4, 9), (9, 13)]:
        read = read_lines(path, start, end)
        assert read_again(path, read.start, len(read.data)) == read.data


def by_blocks(data: bytes, step: int, cap: int) -> tuple[bytes, int | None]:
    """What ``iter_blocks`` reads, and the number of the line over the cap (or None)."""
    try:
        return b"".join(
            block for _, block in iter_blocks([data], "f", block_size=step, line_cap=cap)
        ), None
    except InputError as exc:
        match = re.match(r"f:(\d+): line longer than", str(exc))
        assert match is not None
        return b"", int(match[1])


def by_ranges(path: str, size: int, step: int, cap: int) -> tuple[bytes, int | None]:
    """What ``read_lines`` reads over consecutive ranges, and the number of the line over
    the cap (or None)."""
    pieces: list[bytes] = []
    for start in range(0, size, step):
        read = read_lines(path, start, min(start + step, size), line_cap=cap)
        if read.too_long:
            return b"", b"".join(pieces).count(b"\n") + read.data.count(b"\n") + 1
        if read.data:
            assert read_again(path, read.start, len(read.data)) == read.data
        pieces.append(read.data)
    return b"".join(pieces), None


lines = st.lists(
    st.one_of(st.binary(max_size=12), st.sampled_from([b"", b"\r", BOM, b"x" * 30])), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(
    lines=lines,
    bom=st.booleans(),
    ending=st.sampled_from([b"", b"\n"]),
    step=st.integers(1, 16),
    extra=st.integers(0, 20),
)
def test_ranges_read_what_blocks_read(
    lines: list[bytes], bom: bool, ending: bytes, step: int, extra: int
) -> None:
    data = (BOM if bom else b"") + b"\n".join(line.replace(b"\n", b"") for line in lines) + ending
    cap = step + extra  # a range is never longer than the cap
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), data)
        assert by_ranges(path, len(data), step, cap) == by_blocks(data, step, cap)
