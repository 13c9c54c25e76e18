"""What a person sees of a soft_replace's plan and of a push's phases: lines for the
question, rows for the summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psykhe_cli.plan import RANGE_NOTE, Plan, RecordCount, counted, plan_counts
from psykhe_cli.printable import printable

if TYPE_CHECKING:
    from psykhe_cli.push import PushResult


def plan_lines(plan: Plan) -> list[str]:
    """The plan's counts, records and products, then up to ``plan.SAMPLE`` identifiers it
    would deactivate."""
    counts = plan_counts(plan)
    lines = [
        f"{'plan' if index == 0 else '':<12} {what:<10} {count}"
        for index, (what, count) in enumerate(counts)
    ]
    if not plan.records_known:
        lines.append(f"{'':<12} {RANGE_NOTE}")
    return lines + sample_lines(plan.sample, plan.deactivate)


def sample_lines(sample: list[str], deactivate: int) -> list[str]:
    """Up to ``plan.SAMPLE`` identifiers a plan would deactivate, one a line, and how many
    more."""
    lines = []
    for index, identifier in enumerate(sample):
        label = "deactivates" if index == 0 else ""
        shown = printable(identifier)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        lines.append(f"{label:<12} {shown}")
    more = deactivate - len(sample)
    if more > 0:
        lines.append(f"{'':<12} … and {more:,} more (--plan-file lists them all)")
    return lines


def plan_rows(plan: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A soft_replace's plan (``guard.plan_json``) as summary rows: records and products,
    and up to ``plan.SAMPLE`` identifiers it deactivates."""
    if plan is None or plan["deactivate"] is None:
        return []
    rows = []
    exact = True
    for what in ("deactivate", "new", "kept"):
        records = RecordCount.from_json(plan[f"{what}_records"])
        exact = exact and records.exact
        rows.append((f"plan {what}", counted(records, plan[what])))
    if not exact:
        rows.append(("plan records", RANGE_NOTE))
    sample = [printable(identifier) for identifier in plan["deactivate_sample"]]
    if sample:
        more = plan["deactivate"] - len(sample)
        rows.append(("deactivates", ", ".join(sample) + (f", … and {more:,} more" if more else "")))
    return rows


def phase_rows(result: PushResult) -> list[tuple[str, str]]:
    """The phases' times, each from the same clock, so they add up to the total shown (a
    streamed upload's time while preparing is named in the preparing row, not added)."""
    if not result.phases:
        return []
    phases, wall = result.timeline()
    overlap = result.uploading_while_preparing()
    rows = []
    done = 0.0
    for name, seconds in phases.items():
        # each shown as the difference of its rounded ends: the rows add up to the total
        shown = round(done + seconds, 1) - round(done, 1)
        done += seconds
        if name == "before_upload" and shown < 0.05:
            continue
        text = f"{shown:.1f} s"
        if name == "preparing" and overlap >= 0.05:
            text += f", uploading during the last {overlap:.1f} s of it"
        rows.append((name.replace("_", " "), text))
    rows.append(("total", f"{round(wall, 1):.1f} s"))
    return rows
