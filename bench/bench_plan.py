"""The deactivation plan at a million products: time and peak RSS, against the push budget.

    python bench/bench_plan.py                      # 1,000,000-product baseline, 1M-line catalog
    python bench/bench_plan.py --products 200000 --lines 200000 --repeat 3

Two measures, each in fresh processes (feeds and baselines cached in bench/out/):

1. **The comparison.** A baseline of N product identifiers (a products file, as a completed
   full sync leaves it) against a feed holding 90% of them and 1,000 new ones. One process
   validates the feed as a push does (``check_feeds``, its product hashes kept), then builds
   the plan with every identifier to deactivate written out (``--plan-file``). Reported: the
   seconds of the comparison, the process's RSS before it, its peak during it (the peak is
   reset in between through ``/proc/self/clear_refs``), and the peak of the whole run —
   against the 100 MB budget of a push.
2. **The whole dry run.** ``psykhe push FEED --mode soft_replace --dry-run --plan-file F``
   (validation, hashes kept, the plan against the baseline kept in a state directory)
   against ``psykhe push FEED --dry-run`` (an insert: no plan) on the same feed: wall seconds
   and the peak RSS of the psykhe process (``wait4``), alternately, ``--repeat`` times.
3. **Collecting the identifiers while validating.** ``check_feeds`` on the generated catalog
   (``gen_catalog.py``) as a soft_replace push calls it (identifiers handed to a products file,
   hashes kept) and as an insert push calls it, alternately, ``--repeat`` times: the median
   seconds, the ratio, and each run's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
BUDGET_MB = 100


def _mb(kb: int) -> float:
    return kb / 1024


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith(key):
                return int(row.split()[1])
    return 0


# -- the child processes --------------------------------------------------------------------


def child_compare(feed: str, baseline: str) -> None:
    from psykhe_cli.feeds import FeedSource
    from psykhe_cli.plan import compare
    from psykhe_cli.validate import check_feeds

    report = check_feeds([FeedSource(feed)], want_product_hashes=True)
    before = _status_kb("VmRSS:")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM: the peak from here on is the comparison's
    with tempfile.TemporaryFile() as plan_file:
        started = time.perf_counter()
        plan = compare(report.product_hashes, report.products, Path(baseline), plan_file=plan_file)
        seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM:")
    result = {
        "seconds": seconds,
        "rss_before_mb": _mb(before),
        "compare_peak_mb": _mb(peak),
        "run_peak_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "deactivate": plan.deactivate,
        "new": plan.new,
        "kept": plan.kept,
    }
    print(json.dumps(result))


def child_validate(feed: str, collect: bool) -> None:
    from psykhe_cli.feeds import FeedSource
    from psykhe_cli.plan import ProductsWriter
    from psykhe_cli.validate import check_feeds

    with tempfile.TemporaryDirectory() as folder:
        writer = ProductsWriter(Path(folder) / "p.products") if collect else None
        started = time.perf_counter()
        report = check_feeds(
            [FeedSource(feed)],
            on_records=lambda batch: None,
            on_products=writer.add if writer else None,
            want_product_hashes=collect,
        )
        if writer is not None:
            writer.close()
        seconds = time.perf_counter() - started
        size = writer.path.stat().st_size if writer is not None else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": _mb(peak),
                "products": report.products,
                "file_mb": size / 1e6,
            }
        )
    )


# -- the inputs -----------------------------------------------------------------------------


def baseline_and_feed(products: int) -> tuple[Path, Path]:
    """A products file of ``products`` identifiers and a feed with 90% of them + 1,000 new."""
    from psykhe_cli.plan import ProductsWriter

    OUT.mkdir(exist_ok=True)
    baseline = OUT / f"baseline-{products}.products"
    feed = OUT / f"plan-feed-{products}-v2.jsonl"
    ids = [f"SKU-{i:08d}" for i in range(products)]
    if not baseline.exists():
        writer = ProductsWriter(baseline)
        writer.add(ids)
        writer.close()
    if not feed.exists():
        # complete products, one variant each: the fast path, no warnings to report
        line = (
            b'{"operation":"insert","product_data":{"product_identifier":"%s",'
            b'"variant_identifier":"%s","title":"Product","images":'
            b'["https://cdn.example.com/%s.jpg"],"price":10.5}}\n'
        )
        with feed.open("wb") as out:
            for i, pid in enumerate(ids):
                if i % 10:
                    out.write(line % ((pid.encode(),) * 3))
            for i in range(1000):
                out.write(line % ((b"NEW-%d" % i,) * 3))
    return baseline, feed


def catalog(lines: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"catalog-{lines}.jsonl"
    if not path.exists():
        with path.open("wb") as out:
            subprocess.run(
                [sys.executable, str(HERE / "gen_catalog.py"), str(lines)], stdout=out, check=True
            )
    return path


def state_with_baseline(baseline: Path, products: int) -> tuple[Path, dict[str, str]]:
    """A home whose state directory remembers ``baseline`` as the last full sync."""
    from psykhe_cli.config import key_fingerprint
    from psykhe_cli.full_syncs import FullSync
    from psykhe_cli.state import StateStore, Target

    home = Path(tempfile.mkdtemp(prefix="bench-plan-"))
    key, url = "sk_bench_plan_0123456789", "http://127.0.0.1:9"
    store = StateStore(home / "state" / "psykhe")
    target = Target(base_url=url, key_fingerprint=key_fingerprint(key))
    kept = store.new_baseline_file()
    kept.write_bytes(baseline.read_bytes())
    store.remember_pending(
        target, FullSync(products=products, variants=products, ingestion_id=1), kept
    )
    store.settle_full_sync(target, 1, completed=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PSYKHE_", "XDG_"))}
    env |= {
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "PSYKHE_BASE_URL": url,
        "PSYKHE_API_KEY": key,
        "PYTHONPATH": str(ROOT),
    }
    return home, env


def run_push(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``psykhe`` run."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "psykhe_cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"psykhe {' '.join(args)}: exit {process.returncode}: {errors[-500:]!r}")
    return time.perf_counter() - started, _mb(usage.ru_maxrss)


def run_child(*args: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], env=env, capture_output=True, check=True
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "compare":
            child_compare(args.child[1], args.child[2])
        else:
            child_validate(args.child[1], args.child[0] == "collect")
        return

    baseline, feed = baseline_and_feed(args.products)
    print(f"baseline: {args.products:,} products, {baseline.stat().st_size / 1e6:.1f} MB on disk")
    runs = [run_child("compare", str(feed), str(baseline)) for _ in range(args.repeat)]
    first = runs[0]
    print(
        f"plan: deactivate {first['deactivate']:,.0f}, new {first['new']:,.0f}, "
        f"kept {first['kept']:,.0f}"
    )
    print("| run | compare s | RSS before MB | compare peak MB | run peak MB | budget |")
    print("|---|---|---|---|---|---|")
    for number, run in enumerate(runs, 1):
        print(
            f"| {number} | {run['seconds']:.2f} | {run['rss_before_mb']:.0f} | "
            f"{run['compare_peak_mb']:.0f} | {run['run_peak_mb']:.0f} | "
            f"{run['run_peak_mb'] / BUDGET_MB:.2f} of {BUDGET_MB} MB |"
        )

    home, env = state_with_baseline(baseline, args.products)
    plan_file = home / "plan.txt"
    pushes: dict[str, list[tuple[float, float]]] = {"insert": [], "soft_replace": []}
    for _ in range(args.repeat):
        pushes["insert"].append(run_push(["push", str(feed), "--dry-run", "--quiet"], env))
        soft = [
            "push",
            str(feed),
            "--mode",
            "soft_replace",
            "--dry-run",
            "--quiet",
            "--plan-file",
            str(plan_file),
        ]
        pushes["soft_replace"].append(run_push(soft, env))
    lines = sum(1 for _ in plan_file.open())
    print(
        f"\npsykhe push --dry-run of the feed ({feed.stat().st_size / 1e6:.0f} MB), "
        f"median of {args.repeat} (plan file: {lines:,} lines):"
    )
    print("| push | seconds | ratio | peak RSS MB (max of runs) | budget |")
    print("|---|---|---|---|---|")
    base_s = statistics.median(s for s, _ in pushes["insert"])
    for label, found in pushes.items():
        seconds = statistics.median(s for s, _ in found)
        peak = max(r for _, r in found)
        print(
            f"| {label} | {seconds:.2f} | {seconds / base_s:.2f} | {peak:.0f} | "
            f"{peak / BUDGET_MB:.2f} of {BUDGET_MB} MB |"
        )
    print(
        "spread (s, MB):", {k: [(round(s, 2), round(r)) for s, r in v] for k, v in pushes.items()}
    )

    source = catalog(args.lines)
    timings: dict[str, list[dict[str, float]]] = {"insert": [], "soft_replace": []}
    for _ in range(args.repeat):  # alternate, so that the machine's drift hits both alike
        timings["insert"].append(run_child("plain", str(source)))
        timings["soft_replace"].append(run_child("collect", str(source)))
    print(
        f"\ncheck_feeds on {args.lines:,} lines ({source.stat().st_size / 1e6:.0f} MB), "
        f"median of {args.repeat}:"
    )
    print("| as for | seconds | ratio | peak RSS MB | products file MB |")
    print("|---|---|---|---|---|")
    base = statistics.median(r["seconds"] for r in timings["insert"])
    for label, found in timings.items():
        seconds = statistics.median(r["seconds"] for r in found)
        peak = max(r["peak_mb"] for r in found)
        size = found[0]["file_mb"]
        print(f"| {label} | {seconds:.2f} | {seconds / base:.3f} | {peak:.0f} | {size:.1f} |")
    print("spread (s):", {k: [round(r["seconds"], 2) for r in v] for k, v in timings.items()})


if __name__ == "__main__":
    main()
