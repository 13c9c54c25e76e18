"""Measure one big gzip upload into the sandbox: the sandbox's peak RSS and the times.

    python bench/bench_sandbox.py                 # 1,000,000 lines, soft_replace
    python bench/bench_sandbox.py --lines 100000 --mode insert

Lines come from ``bench/gen_catalog.py`` (bare product lines wrapped as the client would
wrap them), gzip-compressed into a temporary file, then streamed in 1 MiB chunks to a
``psykhe sandbox`` subprocess on 127.0.0.1. Peak RSS is the sandbox process's ``VmHWM``.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
from isal import igzip

HERE = Path(__file__).resolve().parent
CHUNK = 1 << 20


def write_body(lines: int, path: Path) -> int:
    """Generate ``lines`` body lines gzip-compressed into ``path``; the raw size."""
    raw = 0
    generator = subprocess.Popen(
        [sys.executable, str(HERE / "gen_catalog.py"), str(lines)], stdout=subprocess.PIPE
    )
    assert generator.stdout is not None
    with igzip.open(path, "wb", compresslevel=1) as out:
        for line in generator.stdout:
            record = orjson.loads(line)
            if "product_data" not in record:  # a bare product: wrap it as the client does
                line = orjson.dumps({"operation": "insert", "product_data": record}) + b"\n"
            raw += len(line)
            out.write(line)
    if generator.wait() != 0:
        raise SystemExit("gen_catalog.py failed")
    return raw


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as body:
        while chunk := body.read(CHUNK):
            yield chunk


def peak_rss_mb(pid: int) -> float:
    for entry in Path(f"/proc/{pid}/status").read_text().splitlines():
        if entry.startswith("VmHWM:"):
            return int(entry.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--mode", choices=["insert", "soft_replace"], default="soft_replace")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="psykhe-bench-") as tmp:
        body = Path(tmp) / "body.jsonl.gz"
        started = time.monotonic()
        raw = write_body(args.lines, body)
        generated = time.monotonic() - started

        key = "sk_bench_key"
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "psykhe_cli", "sandbox", "--port", "0", "--key", key,
             "--processing-delay", "0", "--max-body-mb", "2048", "--quiet"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert sandbox.stdout is not None
        base_url = shlex.split(sandbox.stdout.readline().partition("=")[2])[0]
        try:
            with httpx.Client(base_url=base_url, trust_env=False, timeout=600) as http:
                headers = {"X-PSYKHE-API-KEY": key, "Content-Encoding": "gzip",
                           "Content-Type": "application/x-ndjson",
                           "X-PSYKHE-PROCESSING-MODE": args.mode}  # fmt: skip
                started = time.monotonic()
                response = http.post("/v1/ingestion/", content=chunks(body), headers=headers)
                uploaded = time.monotonic() - started
                response.raise_for_status()
                ingestion_id = response.json()["data"]["ingestion_id"]
                while True:
                    data = http.get(f"/v1/ingestion/{ingestion_id}", headers=headers).json()["data"]
                    if data["status"] in (4, 5):
                        break
                    time.sleep(0.2)
                processed = time.monotonic() - started - uploaded
            rss = peak_rss_mb(sandbox.pid)
        finally:
            sandbox.send_signal(signal.SIGTERM)
            sandbox.wait(timeout=60)
        result = {
            "lines": args.lines,
            "mode": args.mode,
            "raw_mb": round(raw / 1e6, 1),
            "gzip_mb": round(os.path.getsize(body) / 1e6, 1),
            "generate_s": round(generated, 1),
            "upload_s": round(uploaded, 1),
            "processing_s": round(processed, 1),
            "status": data["status"],
            "product_metrics": data["product_metrics"],
            "sandbox_peak_rss_mb": round(rss, 1),
            "sandbox_exit_code": sandbox.returncode,
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
