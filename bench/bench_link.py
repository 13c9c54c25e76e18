"""Push over a link of limited speed, against shell pipelines that stream, in one run.

    python bench/bench_link.py [--lines 1000000] [--speeds 0,12.5,5] [--repeat 3] [--keep DIR]
                               [--only LABELS] [--baseline CHECKOUT] [--fresh]

A local server on 127.0.0.1 reads every request body at a fixed rate (MB/s; 0: as fast as
it can) through a small receive buffer, so a client that sends faster than the "link" is
held back the way a real uplink holds it back, and answers like the API (202 with an id).
At each speed, every contender uploads the same generated feed, in rounds:

    psykhe push FILE --no-wait --quiet
    gzip -6 -c FILE | curl --data-binary @- URL      (compresses everything, then sends)
    gzip -6 -c FILE | curl -T - -X POST URL          (streams: chunked, while compressing)
    pigz -p2 -1 -c FILE | curl -T - -X POST URL      (skipped when pigz is not installed)

Printed per speed: the median wall time of ``--repeat`` rounds, bytes on the wire, the ratio
of psykhe's time to the best streaming contender's (target ≤ 1.0 on a limited link) and to
``gzip -6 | curl --data-binary``'s speed (target ≥ 2 unlimited), and psykhe's peak RSS.
The ideal on a limited link is max(CPU time, bytes ÷ link speed); ``link s`` is the second,
and ``idle s`` — the wall time less its own bytes ÷ the link, median (min-max) of the rounds —
what a contender leaves the link waiting: its start, until its first byte, and its end
(target ≤ 0.2 s for psykhe at 5 MB/s).

Each push runs from a copy of the state directory a completed push of the same feed left (a
waited push before the rounds): the steady state of a catalog pushed again and again, its
records compared with the catalog memory. With ``--fresh``, from an empty one: a first push
to its target, every record hashed in full (~2x a push's CPU at 200k lines).

psykhe runs from its bytecode, written before the first round (an installed psykhe has its
``.pyc`` files; with ``PYTHONDONTWRITEBYTECODE`` set, as some shells and CI set it, every
module would be compiled again in every run: ~0.1 s of each push).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from bench_push import KEY, Sink, run_timed

HERE = Path(__file__).resolve().parent
#: the server's receive buffer: small, so that the kernel cannot absorb the upload for it
RECEIVE_BUFFER = 64 * 1024
#: bytes read per step of the rate limiter
STEP = 16 * 1024


class LinkSink(Sink):
    """A ``Sink`` that reads bodies at ``rate`` bytes per second (0: unlimited), and answers
    every status request COMPLETED (so that a push leaves the catalog memory behind)."""

    rate: ClassVar[float] = 0.0

    def do_GET(self) -> None:
        found = re.match(r"^/v1/ingestion/(\d+)", self.path)
        ingestion_id = int(found[1]) if found else 0
        data = {"id": ingestion_id, "status": 4, "trigger_source": {"mode": "insert"}}
        body = json.dumps({"errors": None, "meta": None, "data": data}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    def _read(self, length: int) -> int:
        if not LinkSink.rate:
            return super()._read(length)
        total = 0
        started = time.perf_counter()
        while total < length:
            chunk = self.rfile.read(min(STEP, length - total))
            if not chunk:
                break
            total += len(chunk)
            # hold the average at the rate: sleep until these bytes "have crossed the link"
            ahead = total / LinkSink.rate - (time.perf_counter() - started)
            if ahead > 0:
                time.sleep(ahead)
        return total


class LinkServer(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # set before listen(): accepted sockets inherit it, and the window is sized from it
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        super().server_bind()


def contenders(feed: Path, url: str, baseline: Path | None) -> dict[str, str | list[str]]:
    post = f"-s -o /dev/null -H 'Content-Encoding: gzip' {url}/v1/ingestion/"
    push = [sys.executable, "-m", "psykhe_cli", "push", str(feed), "--no-wait", "-q"]
    found: dict[str, str | list[str]] = {"psykhe push": push}
    if baseline is not None:  # another checkout's psykhe, in the same rounds
        found[BASELINE] = ["env", f"PYTHONPATH={baseline.resolve()}", *push]
    found |= {
        "gzip -6 | curl --data-binary": f"gzip -6 -c {feed} | curl --data-binary @- {post}",
        "gzip -6 | curl -T -": f"gzip -6 -c {feed} | curl -T - -X POST {post}",
    }
    if shutil.which("pigz"):
        found["pigz -p2 -1 | curl -T -"] = f"pigz -p2 -1 -c {feed} | curl -T - -X POST {post}"
    return found


STREAMING = ("gzip -6 | curl -T -", "pigz -p2 -1 | curl -T -")
BASELINE = "psykhe push (--baseline)"


def measure(cmd: str | list[str], env: dict[str, str]) -> tuple[float, int, float]:
    """Seconds, bytes received by the server and peak RSS (MB) of one run."""
    before = len(Sink.received)
    seconds, code, rss_kb = run_timed(cmd, env)
    if code != 0:
        raise SystemExit(f"{cmd}: exit {code}")
    return seconds, sum(Sink.received[before:]), rss_kb / 1024


def feed_of(lines: int, work: Path) -> Path:
    feed = work / f"catalog-{lines}.jsonl"
    if not feed.exists():
        with feed.open("wb") as out:
            subprocess.run(
                [sys.executable, str(HERE / "gen_catalog.py"), str(lines)], stdout=out, check=True
            )
    return feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--speeds", default="0,12.5,5", help="MB/s, comma-separated; 0 = no limit")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep generated feeds in this folder")
    parser.add_argument(
        "--only", help="comma-separated contenders to run (default: all), e.g. 'psykhe push'"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of another commit: its psykhe push runs in the same rounds, and the "
        "ratio of the two is printed (e.g. git worktree add --detach /tmp/before HEAD~10)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="every psykhe push from an empty state directory (no catalog memory)",
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="psykhe-link-"))
    work.mkdir(parents=True, exist_ok=True)
    feed = feed_of(args.lines, work)
    server = LinkServer(("127.0.0.1", 0), LinkSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PSYKHE_BASE_URL": url, "PSYKHE_API_KEY": KEY}
    for tree in (HERE.parent, args.baseline):
        if tree is not None:
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", str(tree / "psykhe_cli")],
                env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
    env |= {"TMPDIR": str(work)}

    # each psykhe push starts from the state a completed push of the same feed left (its
    # catalog memory), or with --fresh from none: a first push to its target
    seeds: dict[str, Path] = {}
    if not args.fresh:
        for label, cmd in contenders(feed, url, args.baseline).items():
            if label.startswith("psykhe push") and not (args.only and label not in args.only):
                seeds[label] = work / f"seed-{len(seeds)}"
                shutil.rmtree(seeds[label], ignore_errors=True)
                waited = [part for part in cmd if part != "--no-wait"]
                measure(waited, env | {"XDG_STATE_HOME": str(seeds[label])})
    print(
        f"feed: {args.lines:,} lines, {feed.stat().st_size / 1e6:.0f} MB; medians of "
        f"{args.repeat}; load average {os.getloadavg()[0]:.2f} at the start"
    )
    print(
        f"{'link':>9}  {'contender':<30}{'s':>7}{'min-max':>13}{'sent MB':>9}{'link s':>9}"
        f"{'idle s':>18}{'RSS MB':>8}"
    )
    for speed in (float(s) for s in args.speeds.split(",")):
        LinkSink.rate = speed * 1e6
        runs: dict[str, list[tuple[float, int, float]]] = {}
        for _ in range(args.repeat):  # rounds: the machine's drift hits every contender alike
            for label, cmd in contenders(feed, url, args.baseline).items():
                if args.only and label not in args.only.split(","):
                    continue
                with tempfile.TemporaryDirectory(dir=work) as state:
                    seed = seeds.get(label)
                    if seed is not None:  # the state a completed push of the feed left
                        shutil.copytree(seed, state, dirs_exist_ok=True)
                    runs.setdefault(label, []).append(measure(cmd, env | {"XDG_STATE_HOME": state}))
        medians = {label: statistics.median(r[0] for r in rs) for label, rs in runs.items()}
        for label, rs in runs.items():
            times = [r[0] for r in rs]
            sent = rs[-1][1]
            link = f"{sent / LinkSink.rate:>9.2f}" if speed else f"{'':>9}"
            idle = f"{'':>18}"
            if speed:
                idles = [r[0] - r[1] / LinkSink.rate for r in rs]
                low, high = min(idles), max(idles)
                idle = f"{statistics.median(idles):>8.2f} ({low:.2f}-{high:.2f})"
            rss = f"{max(r[2] for r in rs):>8.1f}" if label.startswith("psykhe push") else ""
            print(
                f"{speed or 'no limit':>9}  {label:<30}{medians[label]:>7.2f}"
                f"{min(times):>6.2f}-{max(times):<6.2f}{sent / 1e6:>9.1f}{link}{idle}{rss}"
            )
        ours = medians.get("psykhe push")
        best = min((medians[label] for label in STREAMING if label in medians), default=None)
        if ours is not None and best is not None:
            ratio = ours / best
            print(f"{'':>9}  psykhe ÷ best streaming: {ratio:.2f} (target ≤ 1.0, limited link)")
        before = medians.get(BASELINE)
        if ours is not None and before is not None:
            pairs = [a[0] / b[0] for a, b in zip(runs["psykhe push"], runs[BASELINE], strict=True)]
            print(
                f"{'':>9}  psykhe ÷ --baseline: {statistics.median(pairs):.2f} "
                f"(rounds {min(pairs):.2f}-{max(pairs):.2f})"
            )
        whole = medians.get("gzip -6 | curl --data-binary")
        if ours is not None and whole is not None:
            print(f"{'':>9}  gzip|curl --data-binary ÷ psykhe: {whole / ours:.2f} (target ≥ 2)")
    server.shutdown()
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
