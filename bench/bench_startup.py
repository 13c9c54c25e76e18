"""The start-up budget: short commands against ``python -c "import typer"``, in one run.

    python bench/bench_startup.py [--repeat 9] [--baseline CHECKOUT] [--no-imports]

A sandbox (``psykhe sandbox``, processing delay 0) runs on 127.0.0.1; a 3-line feed is pushed
to it once, for an ingestion id. Then, in rounds (the machine's drift hits all of them
alike), each of these runs once:

    python -c "import typer"                         the yardstick
    psykhe --help
    psykhe status ID                                 one status request
    psykhe push FEED3 --no-wait -q                   validate, key check, upload
    psykhe push FEED3 -q                             the same, then polls to COMPLETED

Each psykhe command runs as ``python -m psykhe_cli`` with this checkout first on the path;
with ``--baseline DIR``, the same commands of another checkout (e.g. ``git worktree add
--detach /tmp/before HEAD~5``) run in the same rounds too. Each push contender has its own
state directory for the whole run: a ``--no-wait`` push leaves its update unsettled, so the
next one looks that ingestion up first, as a repeated ``--no-wait`` push does.

Printed: per command the median wall time of the rounds (min-max), the median of its
per-round ratio to ``import typer`` (range), and with ``--baseline`` its per-round ratio to
the baseline's. Then where a push's time goes: ``python -X importtime`` of one ``push
--no-wait``, summed by top-level package, and psykhe's own slowest modules (import time
only; the rest of a push is its work and its requests). Bytecode is written and used (a
warm-up round comes first): an installed psykhe has its ``.pyc`` files, and with
``PYTHONDONTWRITEBYTECODE`` set every module would be compiled again in every run.
No pass/fail: the figures are ratios within one run on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
TREE = HERE.parent
KEY = "sk_bench_startup_0000000000"
FEED = (
    b'{"product_identifier":"P1","variant_identifier":"P1-S","title":"Shirt","images":'
    b'["https://example.com/p1.jpg"],"designer":"Acme","categories":["Men: Shirts"],'
    b'"sizes":["S"],"color":"blue","price":10.0}\n'
    b'{"product_identifier":"P1","variant_identifier":"P1-M","title":"Shirt","images":'
    b'["https://example.com/p1.jpg"],"designer":"Acme","categories":["Men: Shirts"],'
    b'"sizes":["M"],"color":"blue","price":10.0}\n'
    b'{"product_identifier":"P2","variant_identifier":"P2","title":"Hat","images":'
    b'["https://example.com/p2.jpg"],"designer":"Acme","categories":["Men: Hats"],'
    b'"sizes":["all"],"color":"","price":5.0}\n'
)
YARDSTICK = "import typer"


def psykhe(tree: Path, *args: str) -> list[str]:
    return ["env", f"PYTHONPATH={tree}", sys.executable, "-m", "psykhe_cli", *args]


def commands(tree: Path, feed: Path, ingestion_id: int) -> dict[str, list[str]]:
    return {
        "psykhe --help": psykhe(tree, "--help"),
        f"psykhe status {ingestion_id}": psykhe(tree, "status", str(ingestion_id)),
        "push 3 lines --no-wait": psykhe(tree, "push", str(feed), "--no-wait", "-q"),
        "push 3 lines (waits)": psykhe(tree, "push", str(feed), "-q"),
    }


def run_once(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(cmd)}: exit {done.returncode}\n{done.stderr.decode()}")
    return seconds


def start_sandbox(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "psykhe_cli", "sandbox", "--port", "0", "--key", KEY,
         "--processing-delay", "0", "--quiet"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert sandbox.stdout is not None
    base_url = shlex.split(sandbox.stdout.readline().partition("=")[2])[0]
    return sandbox, base_url


def first_ingestion(feed: Path, env: dict[str, str]) -> int:
    done = subprocess.run(
        psykhe(TREE, "push", str(feed), "--no-wait", "--json"),
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(re.search(r'"ingestion_ids":\s*\[(\d+)', done.stdout)[1])  # type: ignore[index]


def spread(values: list[float], scale: float = 1.0, fmt: str = "{:.0f}") -> str:
    middle = fmt.format(statistics.median(values) * scale)
    return f"{middle} ({fmt.format(min(values) * scale)}-{fmt.format(max(values) * scale)})"


def import_summary(cmd: list[str], env: dict[str, str]) -> None:
    """``-X importtime`` of ``cmd``: self time summed by top-level package, and psykhe's."""
    cmd = [*cmd[:2], sys.executable, "-X", "importtime", *cmd[3:]]
    lines = subprocess.run(cmd, env=env, capture_output=True, text=True).stderr.splitlines()
    by_package: dict[str, int] = defaultdict(int)
    ours: dict[str, tuple[int, int]] = {}
    for line in lines:
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if not found:
            continue
        own, total, name = int(found[1]), int(found[2]), found[4]
        by_package[name.split(".")[0]] += own
        if name.startswith("psykhe_cli"):
            ours[name] = (own, total)
    whole = sum(by_package.values())
    print(f"\nimport time of `{shlex.join(cmd[3:])}` (-X importtime adds its own overhead):")
    print(f"  all imports: {whole / 1000:.0f} ms; by top-level package (self time, ms):")
    top = sorted(by_package.items(), key=lambda item: -item[1])[:16]
    for package, own in top:
        print(f"  {own / 1000:8.1f}  {package}")
    print("  psykhe's slowest modules (self ms, with what they import ms):")
    for name, (own, total) in sorted(ours.items(), key=lambda item: -item[1][0])[:10]:
        print(f"  {own / 1000:8.1f} {total / 1000:8.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9, help="rounds (after one warm-up)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose commands run in the same rounds"
    )
    parser.add_argument("--no-imports", action="store_true", help="skip the import summary")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="psykhe-startup-"))
    feed = work / "feed3.jsonl"
    feed.write_bytes(FEED)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PSYKHE_API_KEY": KEY, "XDG_STATE_HOME": str(work / "state"), "TMPDIR": str(work)}
    sandbox, base_url = start_sandbox(env)
    env["PSYKHE_BASE_URL"] = base_url
    try:
        ingestion_id = first_ingestion(feed, env)
        trees = {"": TREE} | ({" (baseline)": args.baseline.resolve()} if args.baseline else {})
        contenders: dict[str, list[str]] = {YARDSTICK: [sys.executable, "-c", "import typer"]}
        for suffix, tree in trees.items():
            for label, cmd in commands(tree, feed, ingestion_id).items():
                contenders[label + suffix] = cmd
        # each contender its own state directory: pushes of one tree never settle another's
        states = {label: work / f"state-{n}" for n, label in enumerate(contenders)}
        runs: dict[str, list[float]] = defaultdict(list)
        for round_ in range(args.repeat + 1):
            for label, cmd in contenders.items():
                seconds = run_once(cmd, env | {"XDG_STATE_HOME": str(states[label])})
                if round_:  # the first round writes the bytecode and warms the caches
                    runs[label].append(seconds)
        load = os.getloadavg()[0]
        print(f"{args.repeat} rounds, medians (min-max); load average {load:.2f} at the end")
        print(f"{'command':<34}{'ms':>18}{'÷ import typer':>22}{'÷ baseline':>22}")
        typer_runs = runs[YARDSTICK]
        for label, times in runs.items():
            ratio = [t / y for t, y in zip(times, typer_runs, strict=True)]
            versus = ""
            baseline = runs.get(f"{label} (baseline)")
            if baseline is not None:
                pairs = [a / b for a, b in zip(times, baseline, strict=True)]
                versus = spread(pairs, fmt="{:.2f}")
            print(
                f"{label:<34}{spread(times, 1000):>18}{spread(ratio, fmt='{:.2f}'):>22}{versus:>22}"
            )
        if not args.no_imports:
            push = commands(TREE, feed, ingestion_id)["push 3 lines --no-wait"]
            import_summary(push, env | {"XDG_STATE_HOME": str(states[YARDSTICK])})
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)


if __name__ == "__main__":
    main()
