"""``psykhe push --only-changed`` on a big catalog with a few records changed, in one run.

    python bench/bench_changed.py [--lines 1000000] [--changed 1.0] [--repeat 3] [--keep DIR]
                                  [--speed MB/s]

A local sink on 127.0.0.1 reads every body to its end and answers like the API (202 with an
id; every status request: COMPLETED). The catalog (``gen_catalog.py``) is pushed once whole,
which leaves the catalog memory; then a copy with ``--changed`` percent of its records'
prices changed is pushed ``--repeat`` times with ``--only-changed``, each time from a copy
of the state directory that first push left (so each run compares with the same memory),
in rounds with ``psykhe validate`` of the same feed. Printed: wall seconds of each run
(min, median, max) and its CPU seconds (user + system, workers included), the ratio of the
medians (target ≤ 2×), the body sent against the whole push's (target ≤ 2 %), psykhe's peak
RSS (target ≤ 120 MB, the largest process) and the memory's size on disk (target ≤ ~40 MB
at 1M variants).

With ``--speed`` (MB/s; 0, the default: no limit), the sink reads every body at that rate, as
``bench_link.py``'s does, and each round also uploads the whole changed feed the way a script
would without psykhe, ``gzip -6 -c FEED | curl -T - -X POST URL`` (streamed: chunked, while
compressing); printed besides: its time and bytes, and its time ÷ the ``--only-changed``
push's, of the medians and round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench_link import LinkServer, LinkSink, contenders, measure
from bench_push import KEY, Sink, run_timed

HERE = Path(__file__).resolve().parent
_STATUS = re.compile(rb"^/v1/ingestion/(\d+)")


class CompletingSink(Sink):
    """The sink, answering every status request with COMPLETED."""

    def do_GET(self) -> None:
        found = _STATUS.match(self.path.encode())
        ingestion_id = int(found.group(1)) if found else 0
        if ingestion_id == 0:
            body = b'{"errors":[{"code":"not_found","message":"no"}],"meta":null,"data":null}'
            self.send_response(404)
        else:
            data = {"id": ingestion_id, "status": 4, "trigger_source": {"mode": "insert"}}
            body = json.dumps({"errors": None, "meta": None, "data": data}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CompletingLinkSink(CompletingSink, LinkSink):
    """The completing sink, reading request bodies at ``LinkSink.rate`` bytes per second."""


#: the contender of ``--speed``: the whole feed, streamed as it is compressed
STREAMED = "gzip -6 | curl -T -"


def changed_copy(feed: Path, out: Path, percent: float) -> int:
    """Write ``feed`` with the price of every (100 / percent)th line changed; how many."""
    step, changed = max(1, round(100 / percent)), 0
    with feed.open("rb") as source, out.open("wb") as target:
        for number, line in enumerate(source):
            if number % step == 0:
                item = json.loads(line)
                product = item.get("product_data", item)
                product["price"] = round(float(product.get("price") or 0) + 1.0, 2)
                line = json.dumps(item, separators=(",", ":")).encode() + b"\n"
                changed += 1
            target.write(line)
    return changed


def children_cpu() -> float:
    """CPU seconds (user + system) of every child waited for so far, and of theirs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=1.0, help="percent of lines changed")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep generated feeds in this folder")
    parser.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help=f"the link's speed in MB/s (0: no limit); with a limit, '{STREAMED}' of the "
        "whole feed runs in the same rounds",
    )
    args = parser.parse_args()

    # absolute: XDG_STATE_HOME is ignored when relative (the XDG spec)
    work = (args.keep or Path(tempfile.mkdtemp(prefix="psykhe-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.speed:
        LinkSink.rate = args.speed * 1e6
        server: ThreadingHTTPServer = LinkServer(("127.0.0.1", 0), CompletingLinkSink)
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), CompletingSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ, PSYKHE_BASE_URL=url, PSYKHE_API_KEY=KEY, TMPDIR=str(work))

    feed = work / f"catalog-{args.lines}.jsonl"
    if not feed.exists():
        with feed.open("wb") as out:
            subprocess.run(
                [sys.executable, str(HERE / "gen_catalog.py"), str(args.lines)],
                stdout=out,
                check=True,
            )
    changed_feed = work / f"catalog-{args.lines}-changed.jsonl"
    changed = changed_copy(feed, changed_feed, args.changed)
    streamed = contenders(changed_feed, url, None)[STREAMED] if args.speed else None

    first_state = work / "state-first"
    shutil.rmtree(first_state, ignore_errors=True)
    psykhe = [sys.executable, "-m", "psykhe_cli"]
    before = len(Sink.received)
    seconds, code, rss_kb = run_timed(
        [*psykhe, "push", str(feed), "--quiet", "--poll-interval", "0.05"],
        env | {"XDG_STATE_HOME": str(first_state)},
    )
    if code != 0:
        raise SystemExit(f"the whole push: exit {code}")
    whole_body = sum(Sink.received[before:])
    (memory,) = (first_state / "psykhe" / "catalog").glob("*.memory")
    link = f" over a {args.speed:g} MB/s link" if args.speed else ""
    print(
        f"whole push of {args.lines:,} lines{link}: {seconds:.2f} s, "
        f"body {whole_body / 1e6:.1f} MB, "
        f"peak RSS {rss_kb / 1024:.0f} MB; memory on disk {memory.stat().st_size / 1e6:.1f} MB"
    )

    pushes: list[float] = []
    validates: list[float] = []
    bodies: list[int] = []
    rss: list[float] = []
    whole: list[tuple[float, int, float]] = []
    cpu: dict[str, list[float]] = {"push": [], "validate": [], STREAMED: []}
    for round_ in range(args.repeat):
        state = work / f"state-{round_}"
        shutil.rmtree(state, ignore_errors=True)
        shutil.copytree(first_state, state)
        before, used = len(Sink.received), children_cpu()
        seconds, code, rss_kb = run_timed(
            [*psykhe, "push", str(changed_feed), "--only-changed", "--quiet"],
            env | {"XDG_STATE_HOME": str(state)},
        )
        if code != 0:
            raise SystemExit(f"--only-changed: exit {code}")
        pushes.append(seconds)
        rss.append(rss_kb / 1024)
        bodies.append(sum(Sink.received[before:]))
        cpu["push"].append(children_cpu() - used)
        used = children_cpu()
        seconds, code, _ = run_timed(
            [*psykhe, "validate", str(changed_feed), "--quiet"],
            env | {"XDG_STATE_HOME": str(state)},
        )
        if code != 0:
            raise SystemExit(f"validate: exit {code}")
        validates.append(seconds)
        cpu["validate"].append(children_cpu() - used)
        if streamed is not None:
            used = children_cpu()
            whole.append(measure(streamed, env))
            cpu[STREAMED].append(children_cpu() - used)
        shutil.rmtree(state, ignore_errors=True)
    ratio = statistics.median(pushes) / statistics.median(validates)
    body = statistics.median(bodies)
    print(
        f"{changed:,} lines changed ({args.changed:g} %), {args.repeat} rounds (min / median / max)"
    )
    print(f"psykhe push --only-changed  {spread(pushes)} s  (CPU {spread(cpu['push'])} s)")
    print(f"psykhe validate             {spread(validates)} s  (CPU {spread(cpu['validate'])} s)")
    print(f"push ÷ validate (medians)   {ratio:.2f}×  (target ≤ 2×)")
    print(
        f"body                        {body / 1e3:.0f} kB = {100 * body / whole_body:.2f} % "
        "of the whole push's (target ≤ 2 %)"
    )
    print(f"peak RSS                    {max(rss):.0f} MB  (target ≤ 120 MB)")
    if whole:
        times = [run[0] for run in whole]
        sent = statistics.median(run[1] for run in whole)
        pairs = [theirs / ours for theirs, ours in zip(times, pushes, strict=True)]
        print(
            f"{STREAMED + ' (whole)':<28}{spread(times)} s  (CPU {spread(cpu[STREAMED])} s), "
            f"{sent / 1e6:.1f} MB = {sent / LinkSink.rate:.2f} s of link at {args.speed:g} MB/s"
        )
        print(
            f"{STREAMED} ÷ push --only-changed: "
            f"{statistics.median(times) / statistics.median(pushes):.2f}× (medians); "
            f"round by round {spread(pairs)}"
        )
    server.shutdown()
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
