"""What ``psykhe status`` shows of one ingestion, and the server's figures a push shows too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from psykhe_cli.render import SummaryRow, print_summary
from psykhe_cli.terminal import Environment

if TYPE_CHECKING:
    from psykhe_cli.ingestion import Ingestion

STATUS_STYLES = {
    "completed": "bold green",
    "failed": "bold red",
    "created": "yellow",
    "started": "cyan",
    "unknown": "magenta",
}


def styled(rows: list[tuple[str, str]]) -> list[SummaryRow]:
    """Rows with the status coloured by its meaning."""
    return [
        (key, value, STATUS_STYLES.get(value, "") if key == "status" else "") for key, value in rows
    ]


def metric_label(key: str) -> str:
    """A server metric's key as a label like the others: ``failed_lines`` -> ``failed lines``."""
    return key.replace("_", " ")


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def metric_rows(ingestions: Mapping[int, Ingestion]) -> list[tuple[str, str]]:
    """The server's product metrics: per ingestion, and totals when there were several.

    The server counts records, and it indexes one record per variant: its figures compare
    with the feed's variants, not its products. A heading row says so.
    """
    reported = {i: ing.product_metrics for i, ing in ingestions.items() if ing.product_metrics}
    if not reported:
        return []
    rows = [("server counts", "records, one per variant")]
    several = len(ingestions) > 1
    totals: dict[str, int] = {}
    for ingestion_id, metrics in reported.items():
        for key, value in metrics.items():
            label = metric_label(key)
            rows.append((f"{ingestion_id} {label}" if several else label, _number(value)))
            if isinstance(value, int) and not isinstance(value, bool):
                totals[key] = totals.get(key, 0) + value
    if several:
        rows += [(f"total {metric_label(key)}", f"{value:,}") for key, value in totals.items()]
    return rows


def _when(stamp: str | None, now: datetime | None = None) -> str:
    """``2026-05-13 18:03:50 UTC (4 min ago)`` from the API's ISO-8601 time; as sent if odd."""
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    age = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_age(age)})"


def _age(seconds: float) -> str:
    if seconds < 0:
        return "in the future: check this machine's clock"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''} ago"
    return f"{int(seconds)} s ago"


def ingestion_rows(ingestion: Ingestion) -> list[tuple[str, str]]:
    """Every documented field of one ingestion, for ``psykhe status``."""
    rows = [
        ("ingestion id", str(ingestion.id)),
        ("status", ingestion.status_name),
        ("mode", ingestion.mode or "-"),
        ("client id", ingestion.client_id or "-"),
        ("file identifier", ingestion.file_identifier or "-"),
        ("created at", _when(ingestion.created_at)),
        ("updated at", _when(ingestion.updated_at)),
    ]
    if ingestion.product_metrics is None:
        rows.append(("product metrics", "-"))
    rows += metric_rows({ingestion.id: ingestion})
    return rows


def print_ingestion(env: Environment, ingestion: Ingestion) -> None:
    """``psykhe status``: a table on a terminal, ``key: value`` lines otherwise."""
    print_summary(env, "psykhe status", styled(ingestion_rows(ingestion)))
