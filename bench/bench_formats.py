"""Time `psykhe validate` on a shop export against the same catalog as JSON Lines; print RSS.

    python bench/bench_formats.py                   # 1,000,000 rows, 3 rounds
    python bench/bench_formats.py 200000 --repeat 5
    python bench/bench_formats.py --format woocommerce --against /tmp/old   # old code vs this

With ``--against DIR`` (a checkout of other psykhe code, e.g. ``git worktree add --detach
/tmp/old HEAD~3``) the export is validated by that code and by this tree's in turns instead of
against JSON Lines: the before/after of a change, each round both, on the same noisy machine.
For ``gmc``, ``iterparse_gmc.py`` (the standard library's ``iterparse``, each item to a JSON
line, no checks) runs in the same rounds: the script a user would write instead.

For each format, a generated export (cached in bench/out/) and its equivalent JSON Lines —
the very records the format's reader makes of it, one wrapped line each — are validated in
turns, ``--repeat`` rounds. Printed per contender: the median seconds with the range over the
rounds, the source rows per second, the CPU seconds of the process and its workers, the peak
RSS (largest of the rounds; ``max`` as in bench_validate.py) against the 100 MB budget; then
the median of the per-round ratios export/JSON Lines with their range. Other work on the
machine slows both alike, which the ratio of one round cancels.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import orjson
from bench_validate import measure

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ITERPARSE = HERE / "iterparse_gmc.py"
RSS_BUDGET_MB = 100


def _shopify_records(path: Path) -> Iterable[dict[str, object]]:
    from psykhe_cli.feeds.shopify import ShopifyReader

    with path.open("rb") as chunks:
        for row in ShopifyReader(chunks, str(path)):
            if row.record is not None:
                yield row.record


def _woocommerce_records(path: Path) -> Iterable[dict[str, object]]:
    from psykhe_cli.feeds.woocommerce import WooCommerceReader

    with path.open("rb") as chunks:
        for row in WooCommerceReader(chunks, str(path)):
            if row.record is not None:
                yield row.record


def _gmc_records(path: Path) -> Iterable[dict[str, object]]:
    from psykhe_cli.feeds.gmc_xml import XmlReader

    with path.open("rb") as chunks:
        for row in XmlReader(chunks, str(path)):
            if row.record is not None:
                yield row.record


def _gmc_tsv_records(path: Path) -> Iterable[dict[str, object]]:
    from psykhe_cli.feeds.gmc import DelimitedReader

    with path.open("rb") as chunks:
        for row in DelimitedReader(chunks, str(path), "\t", {}):
            if row.record is not None:
                yield row.record


#: format -> (generator script and its options, extension, the records its reader makes)
FORMATS: dict[str, tuple[list[str], str, Callable[[Path], Iterable[dict[str, object]]]]] = {
    "shopify": (["gen_shopify.py"], "csv", _shopify_records),
    "gmc": (["gen_gmc.py"], "xml", _gmc_records),
    "gmc-tsv": (["gen_gmc.py", "--tsv"], "tsv", _gmc_tsv_records),
    "woocommerce": (["gen_woo.py"], "csv", _woocommerce_records),
}


def _generate(fmt: str, rows: int, export: Path) -> None:
    script, *options = FORMATS[fmt][0]
    with export.open("wb") as out:
        command = [sys.executable, str(HERE / script), str(rows), *options]
        subprocess.run(command, stdout=out, check=True)


def _format_option(fmt: str) -> list[str]:
    """psykhe's ``--format`` for a bench format (a Merchant Center TSV feed is ``gmc``)."""
    return ["--format", fmt.removesuffix("-tsv")]


def feeds(fmt: str, rows: int) -> tuple[Path, Path]:
    """The generated export of ``rows`` data rows and its JSON Lines twin, made once."""
    _, extension, records = FORMATS[fmt]
    OUT.mkdir(exist_ok=True)
    export = OUT / f"{fmt}-{rows}.{extension}"
    if not export.exists():
        _generate(fmt, rows, export)
    twin = OUT / f"{fmt}-{rows}.jsonl"
    if not twin.exists():
        with twin.open("wb") as out:
            for record in records(export):
                out.write(orjson.dumps({"operation": "insert", "product_data": record}) + b"\n")
    return export, twin


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    """Run each format's rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=list(FORMATS), action="append")
    parser.add_argument("--against", type=Path, help="other psykhe code to time the export with")
    args = parser.parse_args()
    validate = [sys.executable, "-m", "psykhe_cli", "validate"]
    here = ["env", f"PYTHONPATH={HERE.parent}", *validate]
    for fmt in args.format or list(FORMATS):
        if args.against:
            OUT.mkdir(exist_ok=True)
            export = OUT / f"{fmt}-{args.rows}.{FORMATS[fmt][1]}"
            if not export.exists():
                _generate(fmt, args.rows, export)
            there = ["env", f"PYTHONPATH={args.against.resolve()}", *validate]
            contenders = {
                f"{fmt} before": [*there, *_format_option(fmt), str(export)],
                f"{fmt} after": [*here, *_format_option(fmt), str(export)],
            }
            if fmt == "gmc":  # what a user would write instead: the yardstick
                contenders["iterparse script"] = [sys.executable, str(ITERPARSE), str(export)]
        else:
            export, twin = feeds(fmt, args.rows)
            contenders = {
                f"{fmt} export": [*here, *_format_option(fmt), str(export)],
                "JSON Lines": [*here, str(twin)],
            }
        seconds: dict[str, list[float]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        rss: dict[str, int] = dict.fromkeys(contenders, 0)
        for round_number in range(1, args.repeat + 1):
            for name, command in contenders.items():
                took, used, code, max_rss, _ = measure(command)
                if code != 0:
                    sys.exit(f"{name}: exit {code}: {' '.join(command)}")
                seconds[name].append(took)
                cpu[name].append(used)
                rss[name] = max(rss[name], max_rss)
                print(
                    f"  round {round_number}: {name:<16} {took:6.2f} s  CPU {used:6.2f} s  "
                    f"max RSS {max_rss} MB"
                )
        print(
            f"{fmt}: {args.rows:,} rows, {export.stat().st_size / 1e6:.0f} MB, {args.repeat} rounds"
        )
        for name in contenders:
            rate = args.rows / statistics.median(seconds[name])
            verdict = "within" if rss[name] <= RSS_BUDGET_MB else "OVER"
            print(
                f"  {name:<16} {_spread(seconds[name])} s  {rate:>9,.0f} rows/s  "
                f"CPU {_spread(cpu[name])} s  max RSS {rss[name]} MB "
                f"({verdict} the {RSS_BUDGET_MB} MB budget)"
            )
        names = list(contenders)
        ratios = [a / b for a, b in zip(seconds[names[0]], seconds[names[1]], strict=True)]
        print(f"  time {names[0]} / {names[1]}: {_spread(ratios)}x")
        if "iterparse script" in seconds:
            after = seconds[names[1]]
            ratios = [a / b for a, b in zip(seconds["iterparse script"], after, strict=True)]
            print(f"  time iterparse script / {names[1]}: {_spread(ratios)}x")


if __name__ == "__main__":
    main()
