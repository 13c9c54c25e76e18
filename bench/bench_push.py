"""Push throughput, compressed size and memory against shell pipelines, in one run.

    python bench/bench_push.py [--lines 1000000] [--small 100000] [--keep DIR] [--repeat 3]

Every contender uploads the same feed to the same local sink server on 127.0.0.1, which
reads each body to its end and answers like the API (202 with an ingestion id):

    psykhe push FILE --no-wait                     (reads, validates every line, spools, sends)
    gzip -6 -c FILE | curl --data-binary @- URL
    pigz -p2 -1 -c FILE | curl -T - -X POST URL    (skipped when pigz is not installed)

Every contender runs ``--repeat`` times, in rounds (so that the machine's drift hits all of
them alike); printed: the median wall time, throughput (feed MB/s), ratio to `gzip -6 |
curl`, bytes on the wire and their ratio to gzip -6's, and psykhe's peak RSS (the highest
of its runs) at both sizes. Also `psykhe --help`
against `python -c "import typer"` (median of several runs). Targets (issue 4): push ≥ 2×
gzip|curl, size ≤ 1.2× gzip -6, RSS ≤ 100 MB at 1M lines and ≤ 30 MB above the small run,
--help ≤ 1.5× import typer. Figures are ratios within one run: the machine is shared.
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
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

HERE = Path(__file__).resolve().parent
KEY = "sk_bench_0000000000000000"


class Sink(BaseHTTPRequestHandler):
    """Reads a request body to its end (Content-Length or chunked) and counts its bytes."""

    received: ClassVar[list[int]] = []
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        size = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                length = int(self.rfile.readline().split(b";")[0], 16)
                if length == 0:
                    self.rfile.readline()
                    break
                size += self._read(length)
                self.rfile.readline()
        else:
            size = self._read(int(self.headers.get("Content-Length", 0)))
        Sink.received.append(size)
        body = b'{"errors":null,"meta":null,"data":{"ingestion_id":%d}}' % len(Sink.received)
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read(self, length: int) -> int:
        # Read and drop in 1 MiB pieces: the sink must never be the bottleneck or hold memory.
        total = 0
        while total < length:
            chunk = self.rfile.read(min(1 << 20, length - total))
            if not chunk:
                break
            total += len(chunk)
        return total

    def log_message(self, format: str, *args: object) -> None:
        pass


def run_timed(cmd: str | list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, exit status and peak RSS (kB) of the slowest process of ``cmd``."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=isinstance(cmd, str), env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, proc.returncode, usage.ru_maxrss


def measure(label: str, cmd: str | list[str], env: dict[str, str], feed: Path) -> dict[str, float]:
    before = len(Sink.received)
    seconds, code, rss_kb = run_timed(cmd, env)
    if code != 0:
        raise SystemExit(f"{label}: exit {code}")
    sent = sum(Sink.received[before:])
    return {
        "seconds": seconds,
        "mb_s": feed.stat().st_size / seconds / 1e6,
        "sent": sent,
        "rss_mb": rss_kb / 1024,
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run of median time, with the highest peak RSS of all runs."""
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return middle | {"rss_mb": max(run["rss_mb"] for run in runs)}


def help_timing(env: dict[str, str], runs: int = 7) -> tuple[float, float]:
    def median(cmd: list[str]) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return median([sys.executable, "-m", "psykhe_cli", "--help"]), median(
        [sys.executable, "-c", "import typer"]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="reuse/keep generated feeds in this folder")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every contender; the median is shown"
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="psykhe-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    env = dict(os.environ, PSYKHE_BASE_URL=url, PSYKHE_API_KEY=KEY)
    env["XDG_STATE_HOME"] = str(work / "state")
    env["TMPDIR"] = str(work)

    feeds = {}
    for n in (args.small, args.lines):
        feed = work / f"catalog-{n}.jsonl"
        if not feed.exists():
            with feed.open("wb") as out:
                subprocess.run(
                    [sys.executable, str(HERE / "gen_catalog.py"), str(n)], stdout=out, check=True
                )
        feeds[n] = feed

    psykhe = [sys.executable, "-m", "psykhe_cli", "push"]
    print(
        f"{'contender':<34}{'lines':>10}{'s':>8}{'MB/s':>8}{'ratio':>7}{'sent MB':>9}"
        f"{'size×':>7}{'RSS MB':>8}"
    )
    rss = {}
    for n, feed in feeds.items():
        contenders: dict[str, str | list[str]] = {
            "gzip -6 | curl": f"gzip -6 -c {feed} | curl -s -o /dev/null --data-binary @- "
            f"-H 'Content-Encoding: gzip' {url}/v1/ingestion/"
        }
        if shutil.which("pigz"):
            contenders["pigz -p2 -1 | curl -T -"] = (
                f"pigz -p2 -1 -c {feed} | curl -s -o /dev/null -T - -X POST "
                f"-H 'Content-Encoding: gzip' {url}/v1/ingestion/"
            )
        contenders["psykhe push"] = [*psykhe, str(feed), "--no-wait", "--quiet"]
        runs: dict[str, list[dict[str, float]]] = {label: [] for label in contenders}
        for _ in range(args.repeat):  # rounds of every contender: drift hits them alike
            for label, cmd in contenders.items():
                runs[label].append(measure(label, cmd, env, feed))
        results = {label: _median_run(measured) for label, measured in runs.items()}
        base = results["gzip -6 | curl"]
        for label, r in results.items():
            print(
                f"{label:<34}{n:>10,}{r['seconds']:>8.2f}{r['mb_s']:>8.1f}"
                f"{r['mb_s'] / base['mb_s']:>7.2f}{r['sent'] / 1e6:>9.1f}"
                f"{r['sent'] / base['sent']:>7.2f}"
                + (f"{r['rss_mb']:>8.1f}" if label == "psykhe push" else "")
            )
        rss[n] = results["psykhe push"]["rss_mb"]
    print(
        f"\npsykhe peak RSS: {rss[args.lines]:.1f} MB at {args.lines:,} lines, "
        f"{rss[args.lines] - rss[args.small]:+.1f} MB over {args.small:,} lines"
    )
    help_s, typer_s = help_timing(env)
    print(
        f"psykhe --help {help_s * 1000:.0f} ms vs import typer {typer_s * 1000:.0f} ms "
        f"= {help_s / typer_s:.2f}x"
    )
    server.shutdown()
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
