"""Reliability matrix, property and fuzz rows: whatever the bytes, exit 0 or 3, never a crash.

Most examples run in-process through ``psykhe_cli.cli.run`` (the very code the console script
runs, minus interpreter start-up) with stdin replaced; a few run the real subprocess. Valid
generated catalogs are pushed to the sandbox and must arrive line for line, field for field.
"""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.cli import run
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import isolated_env, psykhe, wrapped

FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- strategies ----------------------------------------------------------------------------

text = st.text(max_size=40)
identifier = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")
json_scalar = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
url = st.builds(
    lambda path: f"https://cdn.example.com/{path}.jpg",
    st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
)


@st.composite
def valid_product(draw: Any, pid: str, vid: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "product_identifier": pid,
        "variant_identifier": vid,
        "title": draw(text),
        "images": draw(st.lists(url, min_size=1, max_size=3)),
        "price": draw(st.floats(min_value=0, max_value=1e9, allow_nan=False)),
    }
    for name, strategy in (
        ("designer", text),
        ("color", text),
        ("categories", st.lists(text, max_size=3)),
        ("sizes", st.lists(text, max_size=3)),
        ("extra", json_value),
    ):
        if draw(st.booleans()):
            item[name] = draw(strategy)
    return item


@st.composite
def valid_catalog(draw: Any) -> list[dict[str, Any]]:
    # one variant id, one record: a variant id given by two products is an error
    keys = draw(
        st.lists(
            st.tuples(identifier, identifier), min_size=1, max_size=25, unique_by=lambda k: k[1]
        )
    )
    return [draw(valid_product(pid, vid)) for pid, vid in keys]


@st.composite
def feed_bytes(draw: Any) -> bytes:
    """JSON Lines that are mostly right: valid lines, bare products, and broken ones."""
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["wrapped", "bare", "broken", "value", "blank"]))
        if kind == "wrapped":
            lines.append(wrapped(draw(valid_product(draw(identifier), draw(identifier)))))
        elif kind == "bare":
            lines.append(orjson.dumps(draw(st.dictionaries(text, json_value, max_size=5))) + b"\n")
        elif kind == "broken":
            lines.append(draw(st.binary(max_size=60)) + b"\n")
        elif kind == "value":
            lines.append(orjson.dumps(draw(json_value)) + b"\n")
        else:
            lines.append(draw(st.sampled_from([b"\n", b"\r\n", b"   \n"])))
    data = b"".join(lines)
    if draw(st.booleans()):
        data = data.rstrip(b"\n")
    return gzip.compress(data) if draw(st.integers(0, 4)) == 0 else data


# -- in-process runs -----------------------------------------------------------------------


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No key, no config, a private TMPDIR: dry runs need nothing else."""
    home = tmp_path / "home"
    for name, value in isolated_env(home).items():
        if name.startswith(("XDG_", "TMPDIR", "HOME")):
            monkeypatch.setenv(name, value)
    for name in ("PSYKHE_API_KEY", "PSYKHE_BASE_URL", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    return home


def run_with_stdin(
    args: list[str],
    data: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[int, str, str]:
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        code = run(args)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_exit(code: int, err: str) -> None:
    assert code in (0, 3), err
    assert "Traceback" not in err
    assert "internal error" not in err


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_through_validate_exit_0_or_3(
    data: bytes, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_with_stdin(["validate", "-"], data, monkeypatch, capsys)
    assert_clean_exit(code, err)


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_through_push_dry_run_exit_0_or_3(
    data: bytes, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_with_stdin(["push", "-", "--dry-run"], data, monkeypatch, capsys)
    assert_clean_exit(code, err)
    assert not list((isolated / "tmp").glob("psykhe-spool-*"))


@FUZZ
@given(data=feed_bytes())
def test_generated_feeds_through_validate_and_push_dry_run_agree(
    data: bytes, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_with_stdin(["validate", "-", "--json"], data, monkeypatch, capsys)
    assert_clean_exit(code, err)
    pushed, _, push_err = run_with_stdin(["push", "-", "--dry-run"], data, monkeypatch, capsys)
    assert_clean_exit(pushed, push_err)
    report = orjson.loads(out)  # one object, also when the feed cannot be read at all
    if report["errors"]:
        assert (code, pushed) == (3, 3)
    elif report["lines"] and report["products"]:
        assert (code, pushed) == (0, 0), push_err
    else:  # nothing to send: both refuse it alike
        assert (code, pushed) == (3, 3), push_err


@FUZZ
@given(data=st.binary(max_size=400), csv=st.booleans())
def test_arbitrary_bytes_as_csv_exit_0_or_3(
    data: bytes,
    csv: bool,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    header = b"product_identifier,variant_identifier,title,price\n" if csv else b""
    code, _, err = run_with_stdin(
        ["validate", "-", "--format", "csv"], header + data, monkeypatch, capsys
    )
    assert_clean_exit(code, err)


@FUZZ
@given(
    data=st.binary(max_size=300),
    tail=st.sampled_from(["", "<item><g:id>A</g:id>", "<item><g:price>1 USD</g:price></item>"]),
    tsv=st.booleans(),
)
def test_arbitrary_bytes_as_gmc_exit_0_or_3(
    data: bytes,
    tail: str,
    tsv: bool,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if tsv:
        head = b"id\ttitle\tprice\tadditional_image_link\n"
    else:
        head = b'<rss xmlns:g="http://base.google.com/ns/1.0"><channel>' + tail.encode()
    code, _, err = run_with_stdin(
        ["validate", "-", "--format", "gmc"], head + data, monkeypatch, capsys
    )
    assert_clean_exit(code, err)


@pytest.mark.parametrize("data", [b"[]\n", gzip.compress(b"{}\n")[:-8]], ids=["array", "gzip"])
def test_validate_json_is_one_object_even_when_the_feed_cannot_be_read(
    data: bytes, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_with_stdin(["validate", "-", "--json"], data, monkeypatch, capsys)
    assert code == 3, err
    report = orjson.loads(out)
    assert report["ok"] is False
    assert report["files"] == ["<stdin>"]
    assert report["error"]["code"] == "invalid_input"


# -- the uploaded body ---------------------------------------------------------------------


@settings(FUZZ, max_examples=20)
@given(items=valid_catalog(), bare=st.booleans())
def test_a_valid_catalog_arrives_with_its_exact_count_and_content(
    items: list[dict[str, Any]],
    bare: bool,
    sandbox: SandboxHandle,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox.reset()
    monkeypatch.setenv("PSYKHE_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("PSYKHE_API_KEY", sandbox.api_key)
    lines = [orjson.dumps(item) + b"\n" if bare else wrapped(item) for item in items]
    args = ["push", "-", "--poll-interval", "0.02", "--json", "--retries", "0"]
    code, out, err = run_with_stdin(args, b"".join(lines), monkeypatch, capsys)
    assert code == 0, err
    report = orjson.loads(out)
    assert report["lines"] == len(items)
    arrived = {
        (p["product_identifier"], p["variant_identifier"]): p["data"] for p in sandbox.products()
    }
    assert arrived == {(i["product_identifier"], i["variant_identifier"]): i for i in items}
    (ingestion,) = sandbox.ingestions()
    assert ingestion["product_metrics"]["upserted"] == len(items)


# -- a few real processes ------------------------------------------------------------------

TRICKY = [
    b"",
    b"\x00" * 64,
    b"\xef\xbb\xbf",
    b"\r\r\r",
    b"\x1f\x8b",
    b"\x1f\x8b\x08\x00" + b"\x00" * 20,
    b"[" * 5000,
    b"{" * 5000,
    b'{"product_identifier":"A"}' * 3,
    b"product_identifier\n\n\n",
    b"\xff\xfe{\x00}\x00",
    b'{"product_identifier":"A","price":' + b"9" * 5000 + b"}\n",
]


@pytest.mark.parametrize("data", TRICKY, ids=range(len(TRICKY)))
def test_tricky_bytes_exit_0_or_3(
    data: bytes, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for args in (["validate", "-"], ["push", "-", "--dry-run"]):
        code, _, err = run_with_stdin(args, data, monkeypatch, capsys)
        assert_clean_exit(code, err)


@pytest.mark.parametrize("index", [0, 1, 5, 6])  # empty, NULs, a cut gzip, 5000 '['
def test_tricky_bytes_through_the_real_process_exit_0_or_3(tmp_path: Path, index: int) -> None:
    env = isolated_env(tmp_path / "home")
    for args in (("validate", "-"), ("push", "-", "--dry-run")):
        out = psykhe(*args, env=env, input=TRICKY[index], timeout=60)
        assert out.returncode in (0, 3), out.stderr
        assert "Traceback" not in out.stderr
        assert "internal error" not in out.stderr
