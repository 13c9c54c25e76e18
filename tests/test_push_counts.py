"""One vocabulary of counts: the plan, the question, the summary and ``--json`` show records
(variants, as the server counts them) beside products, and the phase times add up. The CLI
runs as a subprocess, on a pseudo-terminal where the display matters."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, isolated_env, product, psykhe, run_in_pty, write_feed

SOFT = ("--mode", "soft_replace")


def summary(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines() if ": " in line)


def test_a_full_replacement_plans_the_records_the_server_deactivates(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    old = write_feed(tmp_path / "old.jsonl", catalog(60))  # 20 products, 3 records each
    new = write_feed(tmp_path / "new.jsonl", catalog(60, prefix="N"))
    assert psykhe("push", str(old), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(new), *SOFT, "--yes", *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    result = orjson.loads(out.stdout)
    plan = result["plan"]
    assert (plan["deactivate_records"], plan["new_records"], plan["kept_records"]) == (
        {"at_least": 60, "at_most": 60},
        {"at_least": 60, "at_most": 60},
        {"at_least": 0, "at_most": 0},
    )
    [metrics] = result["product_metrics"].values()
    assert result["product_metrics_count"] == "records, one per variant"
    assert metrics["deactivated"] == plan["deactivate_records"]["at_most"]
    assert (
        "psykhe: plan: deactivate 60 records (20 products), new 60 records (20 products), "
        "kept 0 records (0 products), against the last full sync\n"
    ) in out.stderr


def test_the_summary_shows_the_plan_in_records_and_products_beside_the_server(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = write_feed(tmp_path / "full.jsonl", catalog(60))
    part = write_feed(tmp_path / "part.jsonl", catalog(60)[12:])  # 4 products gone
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    out = psykhe("push", str(part), *SOFT, "--yes", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    rows = summary(out.stdout)
    assert [rows[key] for key in ("plan deactivate", "plan new", "plan kept")] == [
        "4 to 44 records (4 products)",
        "0 records (0 products)",
        "48 records (16 products)",
    ]
    assert rows["plan records"] == "a range where psykhe cannot know the records per product"
    assert rows["deactivates"] == "P00000, P00001, P00002, P00003"
    assert (rows["server counts"], rows["deactivated"]) == ("records, one per variant", "12")


def test_the_question_names_the_baseline_and_counts_records_and_products(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "80"})
    full = write_feed(tmp_path / "full.jsonl", catalog(60))
    first = psykhe("push", str(full), *SOFT, "--yes", *FAST, "--json", env=env)
    [ingestion_id] = orjson.loads(first.stdout)["ingestion_ids"]
    part = write_feed(tmp_path / "part.jsonl", catalog(60)[12:])
    code, screen = run_in_pty(["push", str(part), *SOFT], env=env, answers={b"[y/N]": b"n\n"})
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.decode(errors="replace"))  # no colour
    assert code == 7, text
    # every line whole in the panel on an 80-column terminal, none wrapped
    for line in (
        "feed         48 records (16 products)",
        "plan         deactivate 4 to 44 records (4 products)",
        "             new        0 records (0 products)",
        "             kept       48 records (16 products)",
        "             a range where psykhe cannot know the records per product",
        "soft_replace upserts these products and DEACTIVATES every other",
        "             active product of this catalog (kept, but excluded from",
        "             recommendations).",
    ):
        assert f"│ {line}" in text, line
    assert re.search(
        rf"last sync    60 records \(20 products\): ingestion {ingestion_id}, "
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        text,
    ), text


def test_a_dry_run_on_a_terminal_shows_what_it_would_deactivate(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    env = isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "160"})
    full = write_feed(tmp_path / "full.jsonl", catalog(60))
    assert psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env).returncode == 0
    part = write_feed(tmp_path / "part.jsonl", catalog(60)[12:])
    code, screen = run_in_pty(["push", str(part), *SOFT, "--dry-run"], env=env)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert re.search(r"deactivates\s*│\s*P00000, P00001, P00002, P00003\s*│", text), text


@pytest.fixture
def big_feed(tmp_path: Path) -> Path:
    """A feed well past 4 MiB (~19 MB): its upload starts while most of it is still being
    checked, even on a loaded machine."""
    items = [product(f"P{i:06d}", title="x" * 200) for i in range(60_000)]
    return write_feed(tmp_path / "big.jsonl", items)


def test_the_phases_add_up_to_the_wall_time_and_name_the_streamed_overlap(
    big_feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    assert big_feed.stat().st_size > 4 << 20
    out = psykhe("push", str(big_feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    result = orjson.loads(out.stdout)
    phases = result["phases"]
    assert list(phases) == ["preparing", "before_upload", "uploading", "processing"]
    assert sum(phases.values()) == pytest.approx(result["seconds"], abs=0.003)
    assert 0 < result["uploading_while_preparing"] <= phases["preparing"]
    plain = psykhe("push", str(big_feed), *FAST, env=env)
    assert plain.returncode == 0, plain.stderr
    rows = summary(plain.stdout)
    assert re.fullmatch(r"\d+\.\d s, uploading during the last \d+\.\d s of it", rows["preparing"])
    names = [name.replace("_", " ") for name in phases]
    shown = [Decimal(rows[name].split(" s")[0]) for name in names if name in rows]
    assert sum(shown) == Decimal(rows["total"].removesuffix(" s"))
