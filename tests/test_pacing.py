"""The compression level of a streamed upload follows the link: up while compressed bytes wait
to be sent, down when the link is about to run dry, and pinned by --compression-level."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from psykhe_cli.pacing import HIGH_WATER, LADDER, LOW_WATER, SETTLE_BLOCKS, Pacer
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, posts, psykhe

BENCH = Path(__file__).resolve().parent.parent / "bench"


def levels(backlogs: list[float]) -> list[int]:
    """The level the pacer gives each block, ``backlogs[n]`` being the backlog when block n
    is given its level."""
    block = 0
    pacer = Pacer(lambda: backlogs[block])
    given = []
    for block in range(len(backlogs)):  # noqa: B007 - read by the backlog function
        given.append(pacer())
    return given


def test_a_growing_backlog_raises_the_level_a_step_at_a_time_up_to_the_top() -> None:
    given = levels([HIGH_WATER * (1 + n) for n in range(10 * SETTLE_BLOCKS)])
    assert given[0] == LADDER[0]
    changes = [i for i in range(1, len(given)) if given[i] != given[i - 1]]
    # one step each time, never before the last change has had its blocks
    assert [given[i] for i in changes] == list(LADDER[1:])
    assert all(b - a >= SETTLE_BLOCKS for a, b in itertools.pairwise(changes))
    assert given[-1] == LADDER[-1]


def test_a_link_about_to_run_dry_lowers_the_level() -> None:
    backlogs = [HIGH_WATER * (1 + n) for n in range(3 * SETTLE_BLOCKS)]
    backlogs += [LOW_WATER / 2] * (8 * SETTLE_BLOCKS)
    given = levels(backlogs)
    assert max(given) == given[3 * SETTLE_BLOCKS - 1] > LADDER[0]
    assert given[-1] == LADDER[0]


def test_a_backlog_between_the_marks_keeps_the_level() -> None:
    between = (HIGH_WATER + LOW_WATER) / 2
    assert set(levels([between] * (5 * SETTLE_BLOCKS))) == {LADDER[0]}


def test_the_pacer_counts_the_blocks_at_each_level() -> None:
    growing = iter(HIGH_WATER * (1 + n) for n in range(3 * SETTLE_BLOCKS))
    pacer = Pacer(lambda: next(growing))
    for _ in range(3 * SETTLE_BLOCKS):
        pacer()
    assert sum(pacer.used.values()) == 3 * SETTLE_BLOCKS
    assert pacer.describe() == ", ".join(f"{k}×{v}" for k, v in sorted(pacer.used.items()))


@pytest.fixture(scope="module")
def catalog_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """~46 MB of the benchmarks' realistic catalog: ~44 blocks, varied enough that a higher
    level makes a smaller body."""
    feed = tmp_path_factory.mktemp("pacing") / "catalog.jsonl"
    with feed.open("wb") as out:
        subprocess.run(
            [sys.executable, str(BENCH / "gen_catalog.py"), "100000"], stdout=out, check=True
        )
    yield feed


def _push_over_a_slow_link(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, *args: str
) -> tuple[int, str]:
    """The body's size as the sandbox read it, and psykhe's stderr."""
    sandbox.reset()
    sandbox.set_faults(slow_read={"bytes_per_second": 1_000_000})
    out = psykhe("push", str(feed), "--debug", *FAST, *args, env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert request["headers"].get("transfer-encoding") == "chunked"  # it streamed
    return request["body_bytes"], out.stderr


def test_a_slow_link_raises_the_level_and_a_pinned_level_stays(
    catalog_feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    paced, said = _push_over_a_slow_link(catalog_feed, env, sandbox)
    used = re.search(r"compression levels \(blocks at each\): (.*)", said)
    assert used is not None, said
    assert max(int(level) for level, _ in re.findall(r"(\d)×(\d+)", used[1])) > LADDER[0]
    products = sandbox.products()

    pinned, said = _push_over_a_slow_link(catalog_feed, env, sandbox, "--compression-level", "3")
    assert "compression levels" not in said
    assert paced < pinned
    # the same catalog either way
    assert [p["data"] for p in sandbox.products()] == [p["data"] for p in products]
