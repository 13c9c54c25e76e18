"""Time `psykhe validate` against `jq empty` on the same generated feeds; print throughput and RSS.

    python bench/bench_validate.py                 # 100k and 1M lines (feeds cached in bench/out/)
    python bench/bench_validate.py 20000 200000    # other sizes

For each feed both tools run once, one after the other. Peak RSS is reported two ways:
`max` is ru_maxrss from wait4 (the largest single process of the tree, what `/usr/bin/time -v`
shows); `tree` is the proportional set size (PSS, shared pages split between the processes
sharing them) summed over psykhe and its worker processes, sampled every 20 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
JQ = "/usr/bin/jq"


def feed(lines: int) -> Path:
    """The generated feed of ``lines`` lines, made once."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"catalog-{lines}.jsonl"
    if not path.exists():
        with path.open("wb") as out:
            subprocess.run(
                [sys.executable, str(HERE / "gen_catalog.py"), str(lines)], stdout=out, check=True
            )
    return path


def _pss_kb(pid: int) -> int:
    # proportional set size: pages shared by forked workers count once over the tree
    for name, key in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(name) as status:
                for row in status:
                    if row.startswith(key):
                        return int(row.split()[1])
        except OSError:
            continue
    return 0


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(c) for c in children.read().split()]
    except OSError:
        return []


def measure(command: list[str]) -> tuple[float, float, int, int, int]:
    """Run ``command`` (output discarded): seconds, CPU seconds, exit code, max/tree RSS MB."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree_peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal tree_peak
        while not done.is_set():
            pids = [proc.pid, *_children(proc.pid)]
            tree_peak = max(tree_peak, sum(_pss_kb(p) for p in pids))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime  # the workers' time included: they were waited for
    return seconds, cpu, proc.returncode, usage.ru_maxrss // 1024, tree_peak // 1024


def main() -> None:
    """Run the comparison for each size given (default 100k and 1M lines)."""
    sizes = [int(a) for a in sys.argv[1:]] or [100_000, 1_000_000]
    psykhe = [sys.executable, "-m", "psykhe_cli", "validate"]
    print(
        f"{'lines':>9} {'tool':<16} {'seconds':>8} {'MB/s':>7} {'CPU s':>7} "
        f"{'max RSS':>8} {'tree RSS':>9}"
    )
    rss: dict[int, int] = {}
    max_rss_of: dict[int, int] = {}
    for lines in sizes:
        path = feed(lines)
        megabytes = path.stat().st_size / 1e6
        results = {}
        for name, command in (
            ("psykhe validate", [*psykhe, str(path)]),
            ("jq empty", [JQ, "empty", str(path)]),
        ):
            seconds, cpu, code, max_rss, tree_rss = measure(command)
            results[name] = seconds
            if name == "psykhe validate":
                rss[lines], max_rss_of[lines] = tree_rss, max_rss
            status = "" if code == 0 else f"  (exit {code})"
            print(
                f"{lines:>9} {name:<16} {seconds:>8.2f} {megabytes / seconds:>7.1f} {cpu:>7.2f} "
                f"{max_rss:>6} MB {tree_rss:>6} MB{status}"
            )
        ratio = results["jq empty"] / results["psykhe validate"]
        print(f"{lines:>9} throughput psykhe/jq = {ratio:.2f}x ({megabytes:.0f} MB feed)")
    if len(rss) > 1:
        small, big = min(rss), max(rss)
        print(
            f"RSS growth {small} -> {big} lines: max {max_rss_of[big] - max_rss_of[small]} MB, ",
            end="",
        )
        print(f"tree {rss[big] - rss[small]} MB")
    # other processes on the machine slow both tools: say how busy it was
    print("load average over 1/5/15 min: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
