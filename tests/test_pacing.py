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

from psykhe_cli.deflate import DEFAULT_LEVEL
from psykhe_cli.pacing import HIGH_WATER, LADDER, LOW_WATER, SETTLE_BLOCKS, Pacer
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import posts, psykhe

#: where the ladder starts: the default level
START = LADDER.index(DEFAULT_LEVEL)

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
    assert given[0] == DEFAULT_LEVEL
    changes = [i for i in range(1, len(given)) if given[i] != given[i - 1]]
    # one step each time, never before the last change has had its blocks
    assert [given[i] for i in changes] == list(LADDER[START + 1 :])
    assert all(b - a >= SETTLE_BLOCKS for a, b in itertools.pairwise(changes))
    assert given[-1] == LADDER[-1]


def test_a_link_about_to_run_dry_lowers_the_level_down_to_the_fastest() -> None:
    backlogs = [HIGH_WATER * (1 + n) for n in range(3 * SETTLE_BLOCKS)]
    backlogs += [LOW_WATER / 2] * (12 * SETTLE_BLOCKS)
    given = levels(backlogs)
    assert max(given) == given[3 * SETTLE_BLOCKS - 1] > DEFAULT_LEVEL
    assert given[-1] == LADDER[0] < DEFAULT_LEVEL


def test_a_backlog_between_the_marks_keeps_the_level() -> None:
    between = (HIGH_WATER + LOW_WATER) / 2
    assert set(levels([between] * (5 * SETTLE_BLOCKS))) == {DEFAULT_LEVEL}


def test_the_pacer_counts_the_blocks_at_each_level() -> None:
    growing = iter(HIGH_WATER * (1 + n) for n in range(3 * SETTLE_BLOCKS))
    pacer = Pacer(lambda: next(growing))
    for _ in range(3 * SETTLE_BLOCKS):
        pacer()
    assert sum(pacer.used.values()) == 3 * SETTLE_BLOCKS
    assert pacer.describe() == ", ".join(f"{k}×{v}" for k, v in sorted(pacer.used.items()))


@pytest.fixture(scope="module")
def catalog_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """~137 MB of the benchmarks' realistic catalog (~130 blocks, ~10 MB compressed: well
    past what the sandbox's socket buffers take at once), varied enough that a higher level
    makes a smaller body."""
    feed = tmp_path_factory.mktemp("pacing") / "catalog.jsonl"
    with feed.open("wb") as out:
        subprocess.run(
            [sys.executable, str(BENCH / "gen_catalog.py"), "300000"], stdout=out, check=True
        )
    yield feed


def _push_over_a_slow_link(
    feed: Path, env: dict[str, str], sandbox: SandboxHandle, *args: str
) -> tuple[int, str]:
    """The body's size as the sandbox read it, and psykhe's stderr."""
    sandbox.reset()
    # 1 MB/s: slower than a check short of CPU (another test beside it) still compresses
    sandbox.set_faults(slow_read={"bytes_per_second": 1_000_000})
    out = psykhe("push", str(feed), "--debug", "--no-wait", *args, env=env)
    assert out.returncode == 0, out.stderr
    (request,) = posts(sandbox)
    assert request["headers"].get("transfer-encoding") == "chunked"  # it streamed
    assert request["complete"] is True and len(sandbox.ingestions()) == 1
    return request["body_bytes"], out.stderr


@pytest.mark.slow
def test_a_slow_link_raises_the_level_and_a_pinned_level_stays(
    catalog_feed: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    paced, said = _push_over_a_slow_link(catalog_feed, env, sandbox)
    used = re.search(r"compression levels \(blocks at each\): (.*)", said)
    assert used is not None, said
    assert max(int(level) for level, _ in re.findall(r"(\d)×(\d+)", used[1])) > DEFAULT_LEVEL

    pinned, said = _push_over_a_slow_link(catalog_feed, env, sandbox, "--compression-level", "3")
    assert "compression levels" not in said
    assert paced < pinned


def test_an_idle_link_counts_as_fast_only_once_it_took_more_than_its_buffers() -> None:
    from psykhe_cli.pacing import BUFFERED

    sent = 0
    pacer = Pacer(lambda: 0.0, lambda: sent)
    early = [pacer() for _ in range(4 * SETTLE_BLOCKS)]
    assert set(early) == {DEFAULT_LEVEL}  # the buffers may be what took the body so fast
    sent = BUFFERED
    later = [pacer() for _ in range(4 * SETTLE_BLOCKS)]
    assert later[-1] < DEFAULT_LEVEL
