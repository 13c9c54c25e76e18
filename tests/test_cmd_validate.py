"""`psykhe validate` end to end: output shapes, exit codes, stdin, pipes, colour."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.cli import run
from psykhe_cli.commands.options import FeedFormat
from psykhe_cli.feeds import FORMATS

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "examples" / "catalog.jsonl"
CATALOG_CSV = ROOT / "examples" / "catalog.csv"


def _orjson_reason(line: bytes) -> str:
    """orjson's own words for a bad line (they differ between its versions)."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return str(exc).split(":")[0]
    raise AssertionError(f"{line!r} is valid JSON")


#: orjson's message for `{oops`
BAD_KEY = f"invalid JSON: {_orjson_reason(b'{oops')} (column 2)"
GOOD = {
    "product_identifier": "SKU-1",
    "variant_identifier": "SKU-1-S",
    "title": "Wrap Dress",
    "images": ["https://cdn.example.com/SKU-1.jpg"],
    "price": 295.0,
}


def wrapped(**product: object) -> bytes:
    return orjson.dumps({"operation": "insert", "product_data": product})


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "feed.jsonl"
    no_price = {k: v for k, v in GOOD.items() if k not in ("price", "variant_identifier")}
    path.write_bytes(
        wrapped(**GOOD)
        + b"\n"
        + wrapped(**no_price, variant_identifier="SKU-1-M")
        + b"\n"
        + b"{oops\n"
    )
    return path


def test_validate_example_catalog_plain_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", str(CATALOG)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        f"files: {CATALOG}\nlines: 38\nproducts: 11\nvariants: 38\n"
        "errors: 0\nwarnings: 0\nresult: ok\n"
    )


def test_validate_example_csv_has_the_same_products(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate", "--json", str(CATALOG_CSV)]) == 0
    report = json.loads(capsys.readouterr().out)
    # the header row is not a line: one line per variant, as in the JSON Lines catalog
    assert (report["lines"], report["products"], report["variants"]) == (38, 11, 38)


def test_validate_problems_on_stderr_and_exit_3(
    feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", str(feed)]) == 3
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{feed}:2: warning[missing_price]: price is missing (product_identifier=SKU-1)",
        f"{feed}:3: error[invalid_json]: {BAD_KEY}",
    ]
    assert out.splitlines() == [
        f"files: {feed}",
        "lines: 3",
        "products: 1",
        "variants: 2",
        "errors: 1",
        "warnings: 1",
        "  invalid_json: 1",
        "  missing_price: 1",
        "result: invalid",
    ]


def test_validate_json_is_exactly_one_object(
    feed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", "--json", str(feed)]) == 3
    out, _ = capsys.readouterr()
    assert out.count("\n") == 1
    report = json.loads(out)
    assert list(report) == [
        "ok",
        "files",
        "lines",
        "products",
        "variants",
        "errors",
        "warnings",
        "left_out",
        "counts_by_code",
        "problems",
    ]
    assert report["ok"] is False
    assert report["problems"][0] == {
        "file": str(feed),
        "line": 2,
        "level": "warning",
        "code": "missing_price",
        "message": "price is missing",
        "product_identifier": "SKU-1",
    }


def test_validate_warnings_only_is_exit_0_unless_strict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(wrapped(**GOOD) + b"\n" + wrapped(**GOOD) + b"\n")
    assert run(["validate", str(path)]) == 0
    assert "warning[duplicate_variant]" in capsys.readouterr().err
    assert run(["validate", "--strict", str(path)]) == 3
    assert f"{path}:2: error[duplicate_variant]" in capsys.readouterr().err


def test_validate_max_problems_caps_printing_not_counting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b"{bad\n" * 5)
    assert run(["validate", "--max-problems", "2", str(path)]) == 3
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 2
    assert "errors: 5\n" in out
    assert "problems shown: 2 of 5\n" in out


def test_validate_csv_with_map_and_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.txt"
    path.write_bytes(
        b"sku;product_identifier;name;images;price\n"
        b"A-1;A;Coat;https://a.com/a.jpg|https://a.com/b.jpg;120,5\n"
    )
    args = ["validate", "--format", "csv", "--delimiter", ";", "--map", "sku=variant_identifier"]
    assert run([*args, "--map", "name=title", str(path)]) == 3
    assert capsys.readouterr().err == (
        f"{path}:2: error[invalid_price]: price (column 'price'): '120,5' is not a number: "
        "use a dot for decimals: 120.5\n"
    )


def test_validate_gzip_feed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(gzip.compress(CATALOG.read_bytes()))
    assert run(["validate", str(path)]) == 0
    assert "variants: 38\n" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--map", "nope"], "psykhe: error: --map 'nope': expected SRC=DST"),
        (["--delimiter", "ab"], "psykhe: error: --delimiter 'ab': expected one character"),
        (["--format", "xml"], "Invalid value for '--format'"),
        (["-", "-"], "psykhe: error: standard input (-) can be read only once"),
    ],
)
def test_validate_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", *args, str(CATALOG)]) == 2
    assert message in capsys.readouterr().err


def test_validate_unreadable_input_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["validate", str(tmp_path / "nope.jsonl")]) == 3
    assert capsys.readouterr().err == f"psykhe: error: {tmp_path}/nope.jsonl: no such file\n"


def test_validate_json_array_says_use_jq(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([GOOD, GOOD], indent=2))
    assert run(["validate", str(path)]) == 3
    assert capsys.readouterr().err == (
        f"psykhe: error: {path}:1: this is a JSON document (an array or a pretty-printed "
        "object), not JSON Lines (one product object per line)\n"
        f"psykhe: hint: convert it with: jq -c '.[]' {path} > feed.jsonl  "
        f"(or jq -c . {path} for a single object)\n"
    )


def test_validate_format_choices_match_the_readers() -> None:
    assert tuple(f.value for f in FeedFormat) == FORMATS


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300), st.sampled_from(["feed.jsonl", "feed.csv", "feed", "f.gz"]))
def test_validate_arbitrary_bytes_exit_0_or_3(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, name: str
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["validate", str(path)])
    assert code in (0, 3), err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert "internal error" not in err.getvalue()


# -- as a real process: stdin, pipes, terminals, colour -----------------------------------


def psykhe(*args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[bytes]:
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"} | env
    return subprocess.run(
        [sys.executable, "-m", "psykhe_cli", *args],
        input=stdin,
        capture_output=True,
        env=environ,
        timeout=60,
    )


def test_process_reads_stdin_from_dash_and_from_a_pipe() -> None:
    data = CATALOG.read_bytes()
    for args in (["validate", "-"], ["validate"]):
        done = psykhe(*args, "--json", stdin=data)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["files"] == ["<stdin>"]
        assert report["variants"] == 38


def test_process_stdin_problems_are_named_stdin() -> None:
    done = psykhe("validate", "-", stdin=b"{oops\n")
    assert done.returncode == 3
    assert done.stderr.decode() == f"<stdin>:1: error[invalid_json]: {BAD_KEY}\n"


def test_process_gzip_on_stdin() -> None:
    done = psykhe("validate", stdin=gzip.compress(CATALOG.read_bytes()))
    assert done.returncode == 0
    assert b"variants: 38\n" in done.stdout


def test_process_no_feed_with_a_terminal_on_stdin_is_usage_error_at_once() -> None:
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "psykhe_cli", "validate"],
            stdin=follower,
            capture_output=True,
            timeout=30,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert done.stderr.startswith(b"psykhe: error: no feed given\n")


def test_process_output_has_no_colour_when_piped_or_no_color() -> None:
    for env in ({}, {"NO_COLOR": "1"}):
        done = psykhe("validate", "-", stdin=b"{oops\n", **env)
        assert b"\x1b[" not in done.stdout + done.stderr


def test_process_broken_pipe_ends_quietly(tmp_path: Path) -> None:
    data = b"{bad\n" * 20000
    with (tmp_path / "stderr").open("w+b") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "psykhe_cli", "validate", "--json", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(data)
        proc.stdin.close()
        proc.stdout.read(10)
        proc.stdout.close()  # like `| head -c 10`
        assert proc.wait(timeout=60) in (0, 3)
        stderr.seek(0)
        assert b"Traceback" not in stderr.read()


def test_summary_is_a_table_on_a_terminal_without_colour_under_no_color() -> None:
    from psykhe_cli.render.validate import render_report
    from psykhe_cli.terminal import Environment
    from psykhe_cli.validate import FeedReport

    out = io.StringIO()
    env = Environment(
        stdin=io.BytesIO(),
        stdout=out,
        stderr=io.StringIO(),
        stdin_isatty=False,
        stdout_isatty=True,
        stderr_isatty=True,
        no_color=True,
    )
    report = FeedReport(files=["a.jsonl"], lines=3, products=1, variants=2, errors=1)
    report.counts_by_code["invalid_json"] = 1
    render_report(env, report, as_json=False)
    assert out.getvalue().splitlines() == [
        "psykhe validate             ",
        "┌────────────────┬─────────┐",
        "│ files          │ a.jsonl │",
        "│ lines          │       3 │",
        "│ products       │       1 │",
        "│ variants       │       2 │",
        "│ errors         │       1 │",
        "│ warnings       │       0 │",
        "│   invalid_json │       1 │",
        "│ problems shown │  0 of 1 │",
        "│ result         │ invalid │",
        "└────────────────┴─────────┘",
    ]


def test_validate_names_invalid_utf8_in_a_complete_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # every field of the table present: the line reaches the fast proof first
    full = GOOD | {"designer": "D", "color": "C", "categories": ["Women"], "sizes": ["S"]}
    good = wrapped(**full)
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(good + b"\n" + good.replace(b"Wrap", b"Wr\xffp") + b"\n")
    assert run(["validate", str(feed)]) == 3
    _, err = capsys.readouterr()
    assert err.startswith(f"{feed}:2: error[invalid_utf8]: invalid UTF-8 at byte offset ")


def test_validate_takes_any_extra_field_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = GOOD | {"designer": "D", "color": "C", "categories": ["Women"], "sizes": ["S"]}
    odd = {'say "hi"': 1, "back\\slash": 2, "bell\x07": 3}
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(wrapped(**full, **odd) + b"\n" for _ in range(3)))
    assert run(["validate", str(feed)]) == 0
    out, err = capsys.readouterr()
    assert "variants: 3" in out and "internal error" not in err


def test_validate_map_of_an_unknown_column_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "catalog.csv"
    feed.write_bytes(b"product_identifier,id,title\nA,1,x\n")
    assert run(["validate", "--map", "idd=variant_identifier", str(feed)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"psykhe: error: --map idd=variant_identifier: {feed} has no column 'idd' "
        "(did you mean 'id'?)\n"
        "psykhe: hint: its columns: product_identifier, id, title\n"
    )


def test_validate_missing_key_column_is_one_error_not_one_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "catalog.csv"
    feed.write_bytes(b"sku,title\n" + b"".join(b"S%d,x\n" % i for i in range(50)))
    assert run(["validate", str(feed)]) == 3
    err = capsys.readouterr().err
    assert err == (
        f"psykhe: error: {feed}:1: the header has no product_identifier column "
        "(its columns: sku, title)\n"
        "psykhe: hint: name the column that identifies a product: "
        "--map COLUMN=product_identifier\n"
    )


def test_validate_map_joins_columns_and_list_separator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = tmp_path / "catalog.csv"
    feed.write_bytes(
        b"product_identifier,image_link,more,sizes\n"
        b'A,https://a/1.jpg,https://a/2.jpg;https://a/3.jpg,"S; M"\n'
    )
    args = ["--map", "images=image_link+more", "--list-separator", ";", "--json", str(feed)]
    assert run(["validate", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["lines"], report["variants"], report["errors"]) == (1, 1, 0)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("title=name+subtitle", "columns joined with + make a list, and 'title' is not a list"),
        ("images=a+", "a column name is missing around '+'"),
    ],
)
def test_validate_bad_join_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, message: str
) -> None:
    feed = tmp_path / "catalog.csv"
    feed.write_bytes(b"product_identifier\nA\n")
    assert run(["validate", "--map", item, str(feed)]) == 2
    assert message in capsys.readouterr().err
