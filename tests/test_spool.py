"""The spool: gzip parts on disk, counted, hashed, private, split on demand, always removed."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from psykhe_cli.deflate import deflate
from psykhe_cli.errors import ConfigError, UsageError
from psykhe_cli.spool import BatchLimit, Spool

LINES = [
    b'{"operation":"insert","product_data":{"product_identifier":"P%d"}}\n' % i for i in range(10)
]


def test_spool_writes_one_gzip_part_with_counts_and_hashes(tmp_path: Path) -> None:
    with Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES)
        (part,) = spool.finish()
        body = part.path.read_bytes()
        assert gzip.decompress(body) == b"".join(LINES)
        assert (part.lines, part.raw_bytes, part.size) == (10, len(b"".join(LINES)), len(body))
        assert spool.feed_sha256.hexdigest() == hashlib.sha256(body).hexdigest()
        assert body.startswith(b"\x1f\x8b\x08")


def test_spool_files_are_private_and_removed_on_exit(tmp_path: Path) -> None:
    with Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES)
        (part,) = spool.finish()
        assert stat.S_IMODE(spool.directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(part.path.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == []


def test_spool_is_removed_when_interrupted(tmp_path: Path) -> None:
    with pytest.raises(KeyboardInterrupt), Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_part_open_restarts_from_first_byte_each_time(tmp_path: Path) -> None:
    with Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES * 5000)
        (part,) = spool.finish()
        first, second = b"".join(part.open()), b"".join(part.open())
        assert first == second == part.path.read_bytes()
        assert max(len(chunk) for chunk in part.open()) <= 64 * 1024


@pytest.mark.parametrize(
    ("limit", "sizes"),
    [(BatchLimit(max_lines=4), [4, 4, 2]), (BatchLimit(max_bytes=len(LINES[0]) * 5), [5, 5])],
)
def test_spool_cuts_parts_at_the_batch_limit(
    tmp_path: Path, limit: BatchLimit, sizes: list[int]
) -> None:
    with Spool(directory=str(tmp_path), limit=limit) as spool:
        spool.write(LINES)
        parts = spool.finish()
        assert [part.lines for part in parts] == sizes
        joined = b"".join(gzip.decompress(part.path.read_bytes()) for part in parts)
        assert joined == b"".join(LINES)


def test_spool_split_keeps_every_line_once_in_order(tmp_path: Path) -> None:
    with Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES[:7])
        (part,) = spool.finish()
        first, second = spool.split(part)
        assert (first.lines, second.lines) == (3, 4)
        assert not part.path.exists()
        halves = gzip.decompress(first.path.read_bytes()) + gzip.decompress(
            second.path.read_bytes()
        )
        assert halves == b"".join(LINES[:7])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50MB", BatchLimit(max_bytes=50_000_000)),
        ("512KiB", BatchLimit(max_bytes=512 * 1024)),
        ("1.5GB", BatchLimit(max_bytes=1_500_000_000)),
        ("100000", BatchLimit(max_lines=100_000)),
    ],
)
def test_batch_limit_parse(text: str, expected: BatchLimit) -> None:
    assert BatchLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["", "0", "-5", "MB", "ten", "0MB"])
def test_batch_limit_parse_rejects_nonsense(text: str) -> None:
    with pytest.raises(UsageError, match="--batch-size"):
        BatchLimit.parse(text)


@pytest.mark.parametrize("level", [1, 6, 9])
def test_compression_levels_all_write_gzip(tmp_path: Path, level: int) -> None:
    with Spool(directory=str(tmp_path), compression_level=level) as spool:
        spool.write(LINES)
        (part,) = spool.finish()
        assert gzip.decompress(part.path.read_bytes()) == b"".join(LINES)


def test_compression_level_out_of_range_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--compression-level"):
        Spool(directory=str(tmp_path), compression_level=10)


def test_unwritable_spool_directory_is_the_machines_fault_not_the_feeds(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        missing = tmp_path / "no" / "such" / "dir"
        with pytest.raises(ConfigError, match="cannot create the temporary spool"):
            Spool(directory=str(missing))
    else:  # pragma: no cover - root ignores directory permissions
        tmp_path.chmod(0o500)
        with pytest.raises(ConfigError, match="cannot create the temporary spool"):
            Spool(directory=str(tmp_path))


def test_a_new_spool_removes_those_no_live_process_holds(tmp_path: Path) -> None:
    live = Spool(directory=str(tmp_path))
    killed = (  # a spool whose process ends without removing it, as SIGKILL would
        "import os, sys; from psykhe_cli.spool import Spool; "
        "Spool(directory=sys.argv[1]); os._exit(9)"
    )
    subprocess.run([sys.executable, "-c", killed, str(tmp_path)], check=False)
    assert len(list(tmp_path.glob("psykhe-spool-*"))) == 2
    legacy_old = tmp_path / "psykhe-spool-old"
    legacy_new = tmp_path / "psykhe-spool-new"
    for legacy in (legacy_old, legacy_new):  # an earlier version's: no .owner to ask
        legacy.mkdir()
    os.utime(legacy_old, (0, 0))
    other = tmp_path / "not-ours"
    other.mkdir()
    with Spool(directory=str(tmp_path)) as fresh:
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live.directory.name, fresh.directory.name, legacy_new.name, other.name]
        )
    live.discard()


def _single_member(body: bytes) -> bytes:
    """The data of ``body``, asserting it is exactly one complete gzip member."""
    decompressor = zlib.decompressobj(31)
    data = decompressor.decompress(body) + decompressor.flush()
    assert decompressor.eof
    assert decompressor.unused_data == b""
    return data


def test_pieces_compressed_elsewhere_join_into_one_gzip_member(tmp_path: Path) -> None:
    blocks = [b"".join(LINES[i : i + 3]) for i in range(0, 10, 3)]
    with Spool(directory=str(tmp_path)) as spool:
        spool.write_deflated(deflate(blocks[0], 3, 4))
        spool.write(LINES[3:6])  # compressed here, between pieces compressed elsewhere
        for block in blocks[2:]:
            spool.write_deflated(deflate(block, block.count(b"\n"), 1))
        (part,) = spool.finish()
        body = part.path.read_bytes()
        assert _single_member(body) == b"".join(LINES)
        assert gzip.decompress(body) == b"".join(LINES)
        assert (part.lines, part.raw_bytes) == (10, len(b"".join(LINES)))


def test_pieces_compressed_elsewhere_cannot_be_cut_at_a_limit(tmp_path: Path) -> None:
    limit = BatchLimit(max_lines=2)
    with Spool(directory=str(tmp_path), limit=limit) as spool, pytest.raises(ValueError):
        spool.write_deflated(deflate(LINES[0], 1))


def test_split_parts_do_not_change_the_feed_hash(tmp_path: Path) -> None:
    with Spool(directory=str(tmp_path)) as spool:
        spool.write(LINES)
        (part,) = spool.finish()
        before = spool.feed_sha256.hexdigest()
        first, second = spool.split(part)
        assert spool.feed_sha256.hexdigest() == before
        assert _single_member(first.path.read_bytes()) == b"".join(LINES[:5])
        assert _single_member(second.path.read_bytes()) == b"".join(LINES[5:])
