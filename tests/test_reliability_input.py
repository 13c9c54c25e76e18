"""Reliability matrix, bad input: one clear line naming file and line, exit 3, 0 requests.

Every row runs the real ``psykhe push`` as a subprocess against the sandbox; the server must
receive nothing, because the whole feed is checked before anything is sent.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import KEY_CHECK, PSYKHE, catalog, posts, product, psykhe, wrapped

PRODUCT = orjson.dumps(product("A"))


def refused(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, *args: str
) -> subprocess.CompletedProcess[str]:
    """Push ``feed``; assert exit 3, no traceback, nothing created by the server: no request
    (a small feed), or one closed before its end (a big one, whose upload started while it
    was checked); the key check a big feed's push makes meanwhile sends none of it."""
    out = psykhe("push", str(feed), *args, env=env)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr
    sent = [r for r in sandbox.requests() if (r["method"], r["path"]) != KEY_CHECK]
    assert all(not r["complete"] and r["status"] is None for r in sent)
    assert sandbox.ingestions() == []
    return out


# -- encoding and JSON ---------------------------------------------------------------------


def test_invalid_utf8_on_line_1_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b'{"product_identifier":"\xff\xfe"}\n' + PRODUCT + b"\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[invalid_utf8]: invalid UTF-8 at byte offset" in out.stderr


def _big_feed(path: Path, size: int, last_line: bytes) -> int:
    """About ``size`` bytes of distinct valid lines, then ``last_line``; returns its number."""
    template = (
        '{"product_identifier":"P%(n)08d","variant_identifier":"V%(n)08d","title":"Dress",'
        '"images":["https://cdn.example.com/p.jpg"],"designer":"Acme","price":10.5}\n'
    )
    per_line = len(template % {"n": 0})
    count = size // per_line + 1
    with path.open("wb") as handle:
        for start in range(0, count, 50_000):
            stop = min(count, start + 50_000)
            handle.write("".join(template % {"n": i} for i in range(start, stop)).encode())
        handle.write(last_line)
    return count + 1


@pytest.mark.slow
def test_invalid_utf8_on_the_last_line_of_a_200_mb_feed_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "big.jsonl"
    last = _big_feed(feed, 200 * 1024 * 1024, b'{"product_identifier":"Z\xc3"}\n')
    assert feed.stat().st_size > 200 * 1024 * 1024
    out = refused(feed, env, sandbox)
    assert f"{feed}:{last}: error[invalid_utf8]" in out.stderr
    (request,) = posts(sandbox)  # streamed while it was checked, never completed
    assert request["headers"].get("transfer-encoding") == "chunked"
    assert request["body_bytes"] > 0


@pytest.mark.parametrize(
    ("value", "row"),
    [
        (b"NaN", "nan"),
        (b"Infinity", "infinity"),
        (b"-Infinity", "minus_infinity"),
        (b"1e400", "1e400"),
    ],
)
def test_non_finite_numbers_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, value: bytes, row: str
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT + b"\n" + PRODUCT[:-1] + b',"price":' + value + b"}\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:2: error[" in out.stderr
    assert "error[non_finite_number]" in out.stderr or "error[duplicate_key]" in out.stderr


def test_duplicate_keys_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT[:-1] + b',"title":"again"}\n')
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[duplicate_key]" in out.stderr


def test_integers_beyond_64_bits_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT[:-1] + b',"stock":18446744073709551616}\n')
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[integer_out_of_range]" in out.stderr
    assert "18446744073709551616" in out.stderr


def test_nesting_deeper_than_the_parser_allows_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT[:-1] + b',"deep":' + b"[" * 2000 + b"]" * 2000 + b"}\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[invalid_json]" in out.stderr


def test_lone_surrogates_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT + b"\n" + PRODUCT[:-1] + b',"title":"\\ud800"}\n')
    out = refused(feed, env, sandbox)
    assert f"{feed}:2: error[invalid_json]" in out.stderr


def test_a_truncated_last_line_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT + b"\n" + PRODUCT[: len(PRODUCT) // 2])
    out = refused(feed, env, sandbox)
    assert f"{feed}:2: error[invalid_json]" in out.stderr


def test_a_trailing_comma_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(PRODUCT[:-1] + b",}\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[invalid_json]" in out.stderr
    assert "trailing comma" in out.stderr


def test_a_pretty_printed_json_document_is_refused_with_a_jq_hint(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(orjson.dumps(product("A"), option=orjson.OPT_INDENT_2) + b"\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: this is a JSON document" in out.stderr
    assert "jq -c" in out.stderr


def test_a_json_array_is_refused_with_a_jq_hint(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(orjson.dumps([product("A"), product("B")]) + b"\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: this is a JSON document" in out.stderr
    assert "jq -c '.[]'" in out.stderr


# -- CSV -----------------------------------------------------------------------------------

HEADER = b"product_identifier,variant_identifier,title,images,price\n"


def test_csv_ragged_rows_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(
        HEADER + b"A,A,t,https://x.test/a.jpg,1\nB,B,t\nC,C,t,https://x.test/c.jpg,1,9\n"
    )
    out = refused(feed, env, sandbox)
    assert f"{feed}:3: error[row_width]: row has 3 cells, the header has 5" in out.stderr
    assert f"{feed}:4: error[row_width]: row has 6 cells, the header has 5" in out.stderr


def test_csv_duplicate_headers_are_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(b"product_identifier,title,title\nA,t,u\n")
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: two columns are named 'title'" in out.stderr


def test_csv_header_only_is_refused_as_empty(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(HEADER)
    out = refused(feed, env, sandbox)
    assert "no product lines; nothing was sent" in out.stderr


def test_csv_quoted_field_with_an_embedded_newline_is_one_record(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(
        HEADER + b'A,A,"two\r\nlines",https://x.test/a.jpg,1\nB,B,t,https://x.test/b.jpg,2\n'
    )
    out = psykhe("push", str(feed), "--poll-interval", "0.05", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["lines"] == 2
    titles = {p["product_identifier"]: p["data"]["title"] for p in sandbox.products()}
    assert titles == {"A": "two\r\nlines", "B": "t"}


# -- compressed input ----------------------------------------------------------------------


def test_a_truncated_gz_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    whole = gzip.compress(b"".join(wrapped(item) for item in catalog(300)))
    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(whole[: len(whole) * 2 // 3])
    out = refused(feed, env, sandbox)
    assert f"{feed}: truncated gzip data" in out.stderr


def test_a_gz_that_is_not_gzip_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(bytes(range(256)) * 4)
    out = refused(feed, env, sandbox)
    assert f"{feed}:1: error[" in out.stderr


def test_a_gz_with_a_corrupt_stream_is_refused(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    whole = bytearray(gzip.compress(b"".join(wrapped(item) for item in catalog(300))))
    whole[40:60] = b"\xff" * 20
    feed = tmp_path / "feed.jsonl.gz"
    feed.write_bytes(bytes(whole))
    out = refused(feed, env, sandbox)
    assert f"{feed}: " in out.stderr
    assert "gzip" in out.stderr


# -- size ----------------------------------------------------------------------------------


#: runs a command, then writes its peak RSS (KiB, largest single descendant) to argv[1]
_MEASURE = (
    "import pathlib, resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "pathlib.Path(sys.argv[1]).write_text(str(peak))\n"
    "sys.exit(code)\n"
)


@pytest.mark.slow
def test_a_20_mb_single_line_is_refused_with_bounded_memory(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    with feed.open("wb") as handle:
        handle.write(PRODUCT + b"\n" + b'{"product_identifier":"L","title":"')
        for _ in range(20):
            handle.write(b"x" * (1024 * 1024))
        handle.write(b'"}\n')
    assert feed.stat().st_size > 20 * 1024 * 1024
    peak_file = tmp_path / "peak"
    # through a pipe, so the reader cannot know the size in advance
    with feed.open("rb") as stdin:
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(peak_file), *PSYKHE, "push", "-"],
            env=env,
            stdin=stdin,
            capture_output=True,
            timeout=120,
        )
    peak_kib = int(peak_file.read_text())
    stderr = out.stderr.decode()
    assert out.returncode == 3, stderr
    assert "<stdin>:2: line longer than 16 MiB" in stderr
    assert "Traceback" not in stderr
    assert sandbox.requests() == []
    # the line is 20 MiB: a reader holding it whole (as bytes, then str) would pass 60 MiB
    assert 0 < peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"


def _peak_of(tmp_path: Path, args: list[str], env: dict[str, str]) -> tuple[int, str, str, int]:
    """Run ``psykhe ARGS``: its exit code, stdout, stderr and peak RSS (KiB, its largest
    process)."""
    peak_file = tmp_path / "peak"
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(peak_file), *PSYKHE, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,  # a hang guard only: the blank lines once took minutes
    )
    peak_kib = int(peak_file.read_text())
    return out.returncode, out.stdout.decode(), out.stderr.decode(), peak_kib


_BLANK = b"\n" * (48 * 1024 * 1024)


def test_a_gzip_of_blank_lines_is_pushed_with_bounded_memory(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "blank.jsonl.gz"
    feed.write_bytes(gzip.compress(_BLANK + wrapped(product("A")) + _BLANK, 1))
    code, stdout, stderr, peak_kib = _peak_of(tmp_path, ["push", str(feed), "--json"], env)
    assert code == 0, stderr
    report = orjson.loads(stdout)
    assert (report["exit_code"], report["variants"]) == (0, 1)
    assert [p["product_identifier"] for p in sandbox.products()] == ["A"]
    # each blank line once held a step of Python and stayed staged to the end: ~1 MB per MB
    assert 0 < peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"


def test_a_plain_file_of_blank_lines_is_validated_with_bounded_memory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    feed = tmp_path / "blank.jsonl"
    feed.write_bytes(_BLANK + PRODUCT + b"\n" + b" \r\n" * (8 * 1024 * 1024))
    code, stdout, stderr, peak_kib = _peak_of(tmp_path, ["validate", str(feed), "--json"], env)
    assert code == 0, stderr
    report = orjson.loads(stdout)
    assert (report["lines"], report["variants"]) == (len(_BLANK) + 1 + 8 * 1024 * 1024, 1)
    assert 0 < peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"
