"""Pieces compressed independently make one valid gzip member; CRC-32s combine exactly."""

from __future__ import annotations

import gzip
import zlib

from hypothesis import given
from hypothesis import strategies as st

from psykhe_cli.deflate import GZIP_HEADER, combine_crc32, crc32_combine, deflate, trailer


@given(st.lists(st.binary(max_size=5000), max_size=6), st.integers(1, 9))
def test_pieces_concatenate_into_one_gzip_member(pieces: list[bytes], level: int) -> None:
    body, crc, size = GZIP_HEADER, 0, 0
    for data in pieces:
        piece = deflate(data, data.count(b"\n"), level)
        body += piece.data
        crc, size = combine_crc32(crc, piece), size + piece.size
    body += trailer(crc, size)
    assert gzip.decompress(body) == b"".join(pieces)


@given(st.binary(max_size=4000), st.binary(max_size=4000))
def test_crc32_combine_matches_zlib(first: bytes, second: bytes) -> None:
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_trailer_keeps_the_size_modulo_2_to_the_32() -> None:
    assert trailer(0x01020304, 2**32 + 5) == b"\x03\x00\x04\x03\x02\x01\x05\x00\x00\x00"


def test_the_command_line_default_level_is_the_library_default() -> None:
    import inspect

    from psykhe_cli.commands.push import push
    from psykhe_cli.deflate import DEFAULT_LEVEL
    from psykhe_cli.pacing import LADDER

    option = inspect.signature(push).parameters["compression_level"]
    assert option.default is None  # not pinned: paced, from the library default
    assert DEFAULT_LEVEL in LADDER
    assert f"Default: {DEFAULT_LEVEL}," in str(option.annotation)
