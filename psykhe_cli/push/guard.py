"""The soft_replace guard: a pure decision. The feed's counts, the remembered full syncs and the
plan in; a ``Verdict`` out — the overrides ``--force`` made, a question to ask, or a refusal.

It sends nothing, writes nothing and asks no one: ``run.py`` looks the pending syncs up
(``history.full_syncs``), computes the plan, and then acts on the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psykhe_cli.errors import GuardRefused
from psykhe_cli.plan import RANGE_NOTE, plan_counts
from psykhe_cli.push.model import GuardQuestion, PushRequest

if TYPE_CHECKING:
    from psykhe_cli.full_syncs import FullSync, FullSyncs
    from psykhe_cli.plan import Plan


@dataclass(frozen=True, kw_only=True)
class Counts:
    """What the guard knows of the feed."""

    products: int
    variants: int
    compressed_bytes: int


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What the guard decided: send (after ``question``, if any), or ``refusal``."""

    #: the full sync compared with, if one is remembered
    reference: FullSync | None = None
    #: the guards ``--force`` overrode, as ``--json`` reports them, and their warnings
    overrides: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: a dry run: what the guard would do
    note: str | None = None
    refusal: GuardRefused | None = None
    #: ask this before sending; a no is a refusal
    question: GuardQuestion | None = None


NOT_CONFIRMED = "soft_replace was not confirmed"


def decide(
    request: PushRequest,
    counts: Counts,
    syncs: FullSyncs | None,
    *,
    target_url: str,
    plan: Plan | None,
    can_prompt: bool,
    protected_profile: str | None,
) -> Verdict:
    """The verdict on a soft_replace of ``counts`` to ``target_url`` (``syncs`` remembered)."""
    reference = syncs.reference if syncs is not None else None
    drops = _drops(reference, counts, request.max_drop)
    if drops and not request.force:
        assert reference is not None and syncs is not None
        compared = _described(reference, syncs, target_url)
        refusal = GuardRefused(
            f"{_drops_text(drops, request.max_drop)} of {compared}",
            hint="if the catalog really shrank, pass --force (or a higher --max-drop)",
            nothing_sent=True,
        )
        return Verdict(reference=reference, refusal=refusal)
    overrides = [
        {"check": f"{what}_drop", "previous": before, "feed": now, "max_drop": request.max_drop}
        for what, before, now in drops
    ]
    sending = "a real push would send" if request.dry_run else "sending"
    warnings = [
        f"--force: {sending} although {what} fell from {before:,} to {now:,}, "
        f"more than --max-drop {request.max_drop:g}%"
        for what, before, now in drops
    ]
    verdict = Verdict(reference=reference, overrides=overrides, warnings=warnings)
    if request.dry_run:
        note = (
            "dry run: the guard would let this soft_replace through (--yes)"
            if request.yes
            else "dry run: the guard would ask for confirmation (or --yes) before sending"
        )
        return Verdict(reference=reference, overrides=overrides, warnings=warnings, note=note)
    if request.yes:
        return verdict
    if not can_prompt:
        refusal = GuardRefused(
            "soft_replace deactivates every product missing from the feed and needs "
            "confirmation, but there is no terminal to ask on",
            hint="pass --yes to confirm in scripts and cron jobs",
            nothing_sent=True,
        )
        return Verdict(reference=reference, overrides=overrides, warnings=warnings, refusal=refusal)
    question = GuardQuestion(
        base_url=target_url,
        products=counts.products,
        variants=counts.variants,
        compressed_bytes=counts.compressed_bytes,
        previous_products=reference.products if reference else None,
        previous_variants=reference.variants if reference else None,
        previous=sync_status(reference, syncs) if reference and syncs else None,
        plan=plan,
        protected_profile=protected_profile,
    )
    return Verdict(reference=reference, overrides=overrides, warnings=warnings, question=question)


def _drops(
    reference: FullSync | None, counts: Counts, max_drop: float
) -> list[tuple[str, int, int]]:
    """(products|variants, before, now) of each count that fell by more than ``max_drop``."""
    if reference is None:
        return []
    keep = (100 - max_drop) / 100
    compared = [("products", reference.products, counts.products)]
    if reference.variants is not None:
        compared.append(("variants", reference.variants, counts.variants))
    return [(what, before, now) for what, before, now in compared if now < before * keep]


def _drops_text(drops: list[tuple[str, int, int]], max_drop: float) -> str:
    """``the feed has 3 products, fewer than 50% of the 10, and 9 variants, …``."""
    share = f"{100 - max_drop:.15g}%"  # never rounded up to a share it is not (1e-9: 100%)
    parts = [f"{now:,} {what}, fewer than {share} of the {before:,}" for what, before, now in drops]
    return "the feed has " + ", and ".join(parts)


def _described(sync: FullSync, syncs: FullSyncs, base_url: str) -> str:
    """Which full sync the guard compared with."""
    if sync is syncs.completed:
        return f"the last full sync to {base_url} ({sync_status(sync, syncs)})"
    return f"the full sync to {base_url} {sync_status(sync, syncs)}"


def sync_status(sync: FullSync, syncs: FullSyncs) -> str:
    """A remembered full sync's ingestion id and time, and what is known of its outcome:
    ``ingestion 7, 2026-05-13T18:03:50Z`` when it completed."""
    which = f"ingestion {sync.ingestion_id}, " if sync.ingestion_id is not None else ""
    if sync is syncs.completed:
        return f"{which}{sync.time}"
    if any(sync is unknown for unknown in syncs.possibly_applied):
        return f"sent at {sync.time}, whose outcome is not known (it may have been applied)"
    return f"accepted at {sync.time} ({which}outcome not known yet)"


def plan_json(baseline: FullSync | None, plan: Plan | None) -> dict[str, Any]:
    """``"plan"`` in ``push --json``: counts are null when there is no baseline to compare."""
    described = None
    if baseline is not None:
        described = {
            "ingestion_id": baseline.ingestion_id,
            "at": baseline.time,
            "products": baseline.products,
            "variants": baseline.variants,
        }
    return {
        "baseline": described,
        "deactivate": plan.deactivate if plan else None,
        "new": plan.new if plan else None,
        "kept": plan.kept if plan else None,
        # records (variants), as the server counts: {"at_least", "at_most"}, equal when known
        "deactivate_records": plan.deactivate_records.to_json() if plan else None,
        "new_records": plan.new_records.to_json() if plan else None,
        "kept_records": plan.kept_records.to_json() if plan else None,
        "deactivate_sample": list(plan.sample) if plan else [],
    }


def plan_text(plan: Plan) -> str:
    """One line: the plan's counts."""
    counts = ", ".join(f"{what} {count}" for what, count in plan_counts(plan))
    note = "" if plan.records_known else f"; {RANGE_NOTE}"
    return f"plan: {counts}, against the last full sync{note}"
