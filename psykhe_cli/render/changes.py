"""What a push changes against the catalog memory, in words: the plan's lines and the
summary's rows (``catalog.Changes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psykhe_cli.catalog import Changes


def changed_line(changes: Changes) -> str:
    """``changed 12,345 variants: price 12,001 · images 310 · title 45``."""
    fields = " · ".join(f"{name} {count:,}" for name, count in changes.fields.items())
    return f"changed {changes.changed or 0:,} variants" + (f": {fields}" if fields else "")


def counts_text(changes: Changes) -> str:
    """``new 200 · changed 1,000 · unchanged 98,700 · absent 300``."""
    return (
        f"new {changes.new or 0:,} · changed {changes.changed or 0:,} · "
        f"unchanged {changes.unchanged or 0:,} · absent {changes.absent or 0:,}"
    )


def changes_lines(changes: Changes) -> list[str]:
    """The plan's lines; none when no memory is trusted."""
    baseline = changes.baseline
    if baseline is None:
        return []
    since = (
        f"ingestion {baseline['ingestion_id']}, {baseline['at']}"
        if baseline["at"] is not None
        else "the memory"
    )
    lines = [f"changes: {counts_text(changes)} (against {since}; sending {changes.sent:,})"]
    if changes.changed:
        lines.append(changed_line(changes))
    if changes.absent:
        lines.append(
            f"absent {changes.absent:,} variants: not in the feed; insert leaves them active, "
            "a full sync would deactivate them"
        )
    return lines


def changes_rows(changes: Changes | None) -> list[tuple[str, str]]:
    """The summary's rows."""
    if changes is None or changes.baseline is None:
        return []
    rows = [("changes", counts_text(changes)), ("sent", f"{changes.sent:,} records")]
    if changes.changed:
        rows.append(("changed fields", changed_line(changes).partition(": ")[2] or "-"))
    return rows


def question_lines(changes: Changes | None) -> list[str]:
    """The lines the soft_replace question shows beside the deactivation plan."""
    if changes is None or changes.baseline is None:
        return []
    lines = [f"changes      {counts_text(changes)}"]
    if changes.changed:
        lines.append(f"{'':<12} {changed_line(changes)}")
    return lines
