"""Peak RSS of the pushes that build or update the catalog memory, a few runs each.

    python bench/bench_memory_rss.py [--feed FILE] [--lines 1000000] [--repeat 3] [--keep DIR]

Against the completing sink of ``bench_changed.py`` (every ingestion COMPLETED, so each push
settles its update), from a fresh or copied state directory each run:

- ``soft_replace, no memory``: the whole feed as a full sync to a target with no memory;
- ``insert, merged``: the feed with 1 % of prices changed, pushed whole as an insert, merged
  into the 1M memory the first push left;
- ``--only-changed``: the same changed feed, only its changed records sent.

Printed: each scenario's peak RSS (the largest process) min / median / max, and wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench_changed import CompletingSink, changed_copy
from bench_push import KEY, run_timed

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feed", type=Path, help="a catalog (default: generated)")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep generated feeds in this folder")
    args = parser.parse_args()

    work = (args.keep or Path(tempfile.mkdtemp(prefix="psykhe-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), CompletingSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ, PSYKHE_BASE_URL=url, PSYKHE_API_KEY=KEY, TMPDIR=str(work))

    feed = args.feed.resolve() if args.feed else work / f"catalog-{args.lines}.jsonl"
    if not feed.exists():
        with feed.open("wb") as out:
            generator = [sys.executable, str(HERE / "gen_catalog.py"), str(args.lines)]
            subprocess.run(generator, stdout=out, check=True)
    changed_feed = work / "catalog-changed.jsonl"
    if not changed_feed.exists():
        changed_copy(feed, changed_feed, 1.0)

    psykhe = [sys.executable, "-m", "psykhe_cli", "push"]
    full = [*psykhe, str(feed), "--mode", "soft_replace", "--yes", "--quiet"]
    scenarios = {
        "soft_replace, no memory": (full, None),
        "insert, merged into 1M": ([*psykhe, str(changed_feed), "--quiet"], "base"),
        "--only-changed, 1 %": ([*psykhe, str(changed_feed), "--only-changed", "--quiet"], "base"),
    }
    base = work / "state-base"
    shutil.rmtree(base, ignore_errors=True)
    if run_timed(full, env | {"XDG_STATE_HOME": str(base)})[1] != 0:
        raise SystemExit("the first full sync failed")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in scenarios}
    for round_ in range(args.repeat):
        for name, (cmd, source) in scenarios.items():
            state = work / f"state-{round_}"
            shutil.rmtree(state, ignore_errors=True)
            if source is not None:
                shutil.copytree(base, state)
            seconds, code, rss_kb = run_timed(cmd, env | {"XDG_STATE_HOME": str(state)})
            if code != 0:
                raise SystemExit(f"{name}: exit {code}")
            results[name].append((rss_kb / 1024, seconds))
            shutil.rmtree(state, ignore_errors=True)
    for name, runs in results.items():
        rss = sorted(r for r, _ in runs)
        wall = statistics.median(s for _, s in runs)
        print(
            f"{name:26} peak RSS {rss[0]:.0f} / {statistics.median(rss):.0f} / {rss[-1]:.0f} MB"
            f"  (min / median / max of {len(runs)}), wall {wall:.2f} s median"
        )
    server.shutdown()
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
