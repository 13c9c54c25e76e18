"""What a push is asked to do and what it did: ``Mode``, ``PushRequest``, ``PushResult``.

Light on purpose: ``commands/push.py`` takes its defaults and ``Mode`` from here when the CLI
starts, before anything of the pipeline (validation, compression, HTTP) is imported.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psykhe_cli.errors import UsageError
from psykhe_cli.poll import DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from psykhe_cli.catalog import Changes
    from psykhe_cli.errors import PsykheError
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.kept import KeptFile
    from psykhe_cli.plan import Plan
    from psykhe_cli.spool import BatchLimit
    from psykhe_cli.validate import FeedReport, FeedSource, ValidationOptions

__all__ = [
    "DEFAULT_BASELINE_MAX_AGE",
    "DEFAULT_MAX_DROP",
    "DEFAULT_TIMEOUT",
    "GuardQuestion",
    "Mode",
    "PushRequest",
    "PushResult",
    "overall_status",
]

#: soft_replace: refuse when products or variants fell by more than this percent
DEFAULT_MAX_DROP = 50.0
#: days: a catalog memory not refreshed by a whole feed for longer is not trusted
DEFAULT_BASELINE_MAX_AGE = 7.0


class Mode(str, Enum):
    """The API's processing modes (the ``X-Psykhe-Processing-Mode`` header's values); a
    ``str``, so it is written, compared and sent as its value."""

    #: upsert the feed's products; nothing else changes
    INSERT = "insert"
    #: a full sync: upsert the feed's products and deactivate every other active one
    SOFT_REPLACE = "soft_replace"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


def _validation_options() -> ValidationOptions:
    from psykhe_cli.validate import ValidationOptions

    return ValidationOptions()


@dataclass(frozen=True, kw_only=True)
class PushRequest:
    """What the user asked ``psykhe push`` to do; the options are checked where parsed."""

    sources: Sequence[FeedSource]
    validation: ValidationOptions = field(default_factory=_validation_options)
    mode: Mode = Mode.INSERT
    skip_invalid: bool = False
    rejects: Path | None = None
    dry_run: bool = False
    yes: bool = False
    force: bool = False
    max_drop: float = DEFAULT_MAX_DROP
    #: soft_replace: write every product identifier it would deactivate here
    plan_file: Path | None = None
    #: seconds to wait for another push to the same target to let go of the sync lock
    wait_lock: float = 0.0
    batch_limit: BatchLimit | None = None
    #: pinned by ``--compression-level``; else paced by the link when the upload streams
    compression_level: int | None = None
    wait: bool = True
    timeout: float = DEFAULT_TIMEOUT
    poll_interval: float | None = None
    #: upload while the feed is checked, where that is safe (``--no-stream``: False)
    stream: bool = True
    #: ``psykhe restore``: this kept body is sent byte for byte instead of ``sources``; its
    #: lines are checked and planned as any feed's (never streamed)
    kept: KeptFile | None = None
    #: insert: send only the records new or changed since the confirmed catalog memory
    only_changed: bool = False
    #: refuse when more than this percent of the memory's variants change (None: off)
    max_changed: float | None = None
    #: days since a whole feed refreshed the memory after which it is not trusted
    baseline_max_age: float = DEFAULT_BASELINE_MAX_AGE


@dataclass(frozen=True, kw_only=True)
class GuardQuestion:
    """What the soft_replace confirmation shows before asking."""

    base_url: str
    products: int
    variants: int
    compressed_bytes: int
    previous_products: int | None
    previous_variants: int | None = None
    #: which full sync those are, as the refusal names it (``guard.sync_status``)
    previous: str | None = None
    plan: Plan | None = None
    #: a ``protected = true`` profile: the operator types its name instead of y
    protected_profile: str | None = None
    #: what the push changes against the catalog memory (``catalog.Changes``)
    changes: Changes | None = None


@dataclass
class PushResult:
    """What a push did so far; complete once ``push`` returns."""

    mode: Mode
    base_url: str | None = None
    ingestion_ids: list[int] = field(default_factory=list)
    ingestions: dict[int, Ingestion] = field(default_factory=dict)
    #: the final status name (created, started, completed, failed, unknown) or None
    status: str | None = None
    lines: int = 0
    products: int = 0
    variants: int = 0
    warnings: int = 0
    rejected: int = 0
    raw_bytes: int = 0
    compressed_bytes: int = 0
    #: bytes the server acknowledged: the accepted requests', and those of one that may
    #: have reached it whole without an answer
    bytes_sent: int = 0
    requests: int = 0
    previous_products: int | None = None
    previous_variants: int | None = None
    #: soft_replace: what it would deactivate, add and keep (``guard.plan_json``)
    plan: dict[str, Any] | None = None
    #: the guards ``--force`` overrode: {"check", "previous", "feed", "max_drop"}
    overrides: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    #: seconds spent in each phase: preparing, uploading (from the end of the lock and guard
    #: until accepted), processing
    phases: dict[str, float] = field(default_factory=dict)
    #: the monotonic clock when the push began, when a streamed upload began (while the feed
    #: was being prepared), when preparing ended, and when the push ended
    began: float = field(default_factory=time.monotonic)
    upload_began: float | None = None
    prepared: float | None = None
    ended: float | None = None
    report: FeedReport | None = None
    #: SHA-256 of the gzip body (the same feed and level always give the same body)
    feed_sha256: str | None = None
    error: PsykheError | None = None
    #: what it changes against the catalog memory (``catalog.Changes``)
    changes: Changes | None = None

    def timeline(self) -> tuple[dict[str, float], float]:
        """The phases in order, adding up to the wall time (also returned): ``preparing``,
        ``before_upload`` (the rest: the lock, the soft_replace guard and its question, the
        HTTP client being made, before the check when the upload streams), ``uploading``,
        ``processing``. A streamed upload's time while preparing is
        ``uploading_while_preparing``, not in the sum."""
        measured = {name: self.phases[name] for name in _PHASES if name in self.phases}
        ended = self.ended if self.ended is not None else time.monotonic()
        wall = max(ended - self.began, sum(measured.values()))
        phases: dict[str, float] = {}
        for name in _PHASES:
            if name == "before_upload":
                phases[name] = wall - sum(measured.values())
            elif name in measured:
                phases[name] = measured[name]
        return phases, wall

    def uploading_while_preparing(self) -> float:
        """Seconds of a streamed upload before preparing ended (0 when it did not stream)."""
        if self.upload_began is None or self.prepared is None:
            return 0.0
        return max(0.0, self.prepared - self.upload_began)

    @property
    def left_out(self) -> int:
        """Products of a shop export the feed's reader left out as not active."""
        return self.report.left_out if self.report is not None else 0

    def to_json(self, exit_code: int) -> dict[str, Any]:
        """The one object ``push --json`` prints."""
        error = None
        if self.error is not None:
            error = {"code": self.error.code, "message": self.error.message}
            if self.error.hint:
                error["hint"] = self.error.hint
        return {
            "exit_code": exit_code,
            "mode": str(self.mode),
            "base_url": self.base_url,
            "dry_run": self.dry_run,
            "ingestion_ids": list(self.ingestion_ids),
            "status": self.status,
            "lines": self.lines,
            "products": self.products,
            "variants": self.variants,
            "warnings": self.warnings,
            "rejected": self.rejected,
            "left_out": self.left_out,
            "raw_bytes": self.raw_bytes,
            "compressed_bytes": self.compressed_bytes,
            "bytes_sent": self.bytes_sent,
            "overrides": list(self.overrides),
            "plan": self.plan,
            **self._timing(),
            "product_metrics": {
                str(ingestion_id): ingestion.product_metrics
                for ingestion_id, ingestion in self.ingestions.items()
            },
            # as the server gave them; it counts records, as the plan's "*_records" do
            "product_metrics_count": "records, one per variant",
            "error": error,
            "changes": self.changes.to_json() if self.changes is not None else None,
        }

    def _timing(self) -> dict[str, Any]:
        phases, wall = self.timeline()
        return {
            "phases": {name: round(seconds, 3) for name, seconds in phases.items()},
            "seconds": round(wall, 3),
            "uploading_while_preparing": round(self.uploading_while_preparing(), 3),
        }


#: the phases of a push in order; ``before_upload`` is what the others leave of the wall time
_PHASES = ("preparing", "before_upload", "uploading", "processing")
_PROGRESS = ("unknown", "created", "started", "completed")


def overall_status(names: Sequence[str]) -> str:
    """One status for several ingestions: failed if any failed, else the least advanced."""
    if "failed" in names:
        return "failed"
    return min(names, key=lambda name: _PROGRESS.index(name) if name in _PROGRESS else 0)


def check_request(request: PushRequest) -> None:
    """Refuse, as a usage error, a request whose options contradict each other."""
    if request.mode == Mode.SOFT_REPLACE and request.skip_invalid:
        raise UsageError(
            "--skip-invalid cannot be used with --mode soft_replace: "
            "every skipped product would be deactivated"
        )
    if request.only_changed and request.mode == Mode.SOFT_REPLACE:
        raise UsageError(
            "--only-changed cannot be used with --mode soft_replace: a full sync must "
            "carry the whole catalog"
        )
    if request.max_changed is not None and not 0 <= request.max_changed <= 100:
        raise UsageError(
            f"--max-changed must be a percentage from 0 to 100, not {request.max_changed}"
        )
    if not 0 <= request.max_drop <= 100:
        raise UsageError(f"--max-drop must be a percentage from 0 to 100, not {request.max_drop}")
    from psykhe_cli.feeds import STDIN
    from psykhe_cli.outputs import check_outputs

    feeds = [source.path for source in request.sources if source.path != STDIN]
    check_outputs({"--rejects": request.rejects, "--plan-file": request.plan_file}, feeds)
