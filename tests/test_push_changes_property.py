"""An hour of cron, simulated: a sequence of feeds with random edits pushed with
``--only-changed`` (one of them FAILED on the server, one answered never), and after every
push that completed the sandbox holds exactly what a full insert of that feed would leave.
The real CLI as a subprocess against the sandbox on 127.0.0.1."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, isolated_env, product, psykhe

Key = tuple[str, str]
KEYS: list[Key] = [(f"P{i // 2}", f"P{i // 2}-{i % 2}") for i in range(24)]

#: one edit of a feed: (what, which record, a number)
edits = st.lists(
    st.tuples(
        st.sampled_from(["price", "title", "remove", "add", "reorder", "images"]),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, 3),
    ),
    max_size=6,
)


def apply(feed: dict[Key, dict[str, Any]], changes: list[tuple[str, int, int]]) -> None:
    for what, index, number in changes:
        key = KEYS[index]
        if what == "add" or key not in feed:
            feed[key] = product(*key, price=float(number))
        elif what == "remove":
            del feed[key]
        elif what == "price":
            feed[key] = feed[key] | {"price": float(number)}
        elif what == "title":
            feed[key] = feed[key] | {"title": f"title {number}"}
        elif what == "images":
            feed[key] = feed[key] | {"images": [f"https://cdn.example.com/{number}.jpg"]}
        else:  # the same record, its keys in another order: no change
            feed[key] = dict(reversed(list(feed[key].items())))


def write(path: Path, feed: dict[Key, dict[str, Any]]) -> Path:
    lines = [
        json.dumps({"operation": "insert", "product_data": record}) for record in feed.values()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def stored(sandbox: SandboxHandle) -> dict[Key, Any]:
    return {
        (p["product_identifier"], p["variant_identifier"]): p["data"]
        for p in sandbox.products(active=True)
    }


def cron(sandbox: SandboxHandle, steps: list[list[tuple[str, int, int]]], faults: dict[int, str]):
    sandbox.reset()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = isolated_env(home, sandbox.env())
        feed = {key: product(*key) for key in KEYS[:16]}
        for number, changes in enumerate(steps):
            apply(feed, changes)
            if not feed:
                feed[KEYS[0]] = product(*KEYS[0])
            path = write(home / f"feed-{number}.jsonl", feed)
            before = stored(sandbox)
            fault = faults.get(number)
            if fault == "failed":
                sandbox.set_faults(ingestion={"outcome": "failed"})
            elif fault == "unknown":
                sandbox.set_faults(drop={})
            out = psykhe(
                "push", str(path), "--only-changed", "--retries", "0", *FAST, "--json", env=env
            )
            sandbox.clear_faults()
            report = json.loads(out.stdout)
            if fault is not None and report["changes"]["sent"]:
                assert out.returncode == (9 if fault == "failed" else 8), out.stderr
                continue
            assert out.returncode == 0, out.stderr
            # what a full insert of this feed would have left
            expected = before | {key: dict(record) for key, record in feed.items()}
            assert stored(sandbox) == expected, (number, report["changes"])


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(edits, min_size=8, max_size=8), st.permutations(range(1, 7)))
def test_cron_with_only_changed_leaves_what_a_full_insert_would(
    sandbox: SandboxHandle, steps: list[Any], order: list[int]
) -> None:
    cron(sandbox, steps, {order[0]: "failed", order[1]: "unknown"})


@pytest.mark.slow
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(edits, min_size=20, max_size=20), st.permutations(range(1, 19)))
def test_an_hour_of_cron_with_only_changed_leaves_what_a_full_insert_would(
    sandbox: SandboxHandle, steps: list[Any], order: list[int]
) -> None:
    cron(sandbox, steps, {order[0]: "failed", order[1]: "unknown"})
