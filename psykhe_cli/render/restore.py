"""What ``psykhe restore --list`` shows: the target's kept full syncs, newest first."""

from __future__ import annotations

from collections.abc import Sequence

from psykhe_cli.kept import KeptBody
from psykhe_cli.render import write_line
from psykhe_cli.render.push import human_bytes
from psykhe_cli.terminal import Environment


def print_kept(env: Environment, base_url: str, bodies: Sequence[KeptBody], keep: int) -> None:
    """One line per kept body under a header; a sentence when none is kept."""
    if not bodies:
        write_line(
            env.stdout,
            f"no full sync is kept for {base_url} yet: psykhe keeps the last {keep} "
            "that complete (keep_full_syncs)"
            if keep
            else f"no full sync is kept for {base_url}: keep_full_syncs is 0",
        )
        return
    write_line(env.stdout, f"kept full syncs of {base_url}, newest first:")
    write_line(
        env.stdout, f"{'ingestion':>10}  {'date':<20}  {'products':>10}  {'variants':>10}  size"
    )
    for body in bodies:
        write_line(
            env.stdout,
            f"{body.ingestion_id:>10}  {body.time:<20}  {body.products:>10,}  "
            f"{body.variants:>10,}  {human_bytes(body.size)}",
        )
