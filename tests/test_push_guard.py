"""The soft_replace guard as a pure decision: counts and remembered syncs in, a verdict out."""

from __future__ import annotations

from psykhe_cli.full_syncs import FullSync, FullSyncs
from psykhe_cli.push.guard import Counts, decide
from psykhe_cli.push.model import Mode, PushRequest

URL = "https://api.example.test"
SMALL = Counts(products=50, variants=150, compressed_bytes=1000)


def _request(**options: object) -> PushRequest:
    return PushRequest(sources=[], mode=Mode.SOFT_REPLACE, **options)  # type: ignore[arg-type]


def test_the_guard_compares_with_the_largest_possibly_applied_sync() -> None:
    completed = FullSync(products=67, variants=201, ingestion_id=1, time="T1")
    lost = FullSync(products=1000, variants=3000, time="T2")
    verdict = decide(
        _request(yes=True),
        SMALL,
        FullSyncs(completed=completed, possibly_applied=(lost,)),
        target_url=URL,
        plan=None,
        can_prompt=False,
        protected_profile=None,
    )
    assert verdict.reference is lost
    assert verdict.refusal is not None
    assert verdict.refusal.message == (
        "the feed has 50 products, fewer than 50% of the 1,000, and 150 variants, fewer than "
        f"50% of the 3,000 of the full sync to {URL} sent at T2, whose outcome is not known "
        "(it may have been applied); nothing was sent"
    )


def test_force_on_a_dry_run_says_what_a_real_push_would_do() -> None:
    syncs = FullSyncs(completed=FullSync(products=90, variants=400, ingestion_id=1))
    verdict = decide(
        _request(yes=True, force=True, dry_run=True),
        SMALL,
        syncs,
        target_url=URL,
        plan=None,
        can_prompt=False,
        protected_profile=None,
    )
    assert verdict.refusal is None
    assert verdict.warnings == [
        "--force: a real push would send although variants fell from 400 to 150, more than "
        "--max-drop 50%"
    ]
    assert verdict.note == "dry run: the guard would let this soft_replace through (--yes)"


def test_without_yes_the_verdict_is_a_question_or_a_refusal() -> None:
    syncs = FullSyncs()
    asked = decide(
        _request(),
        SMALL,
        syncs,
        target_url=URL,
        plan=None,
        can_prompt=True,
        protected_profile="shop",
    )
    assert asked.refusal is None and asked.question is not None
    assert (asked.question.products, asked.question.protected_profile) == (50, "shop")
    nobody = decide(
        _request(),
        SMALL,
        syncs,
        target_url=URL,
        plan=None,
        can_prompt=False,
        protected_profile=None,
    )
    assert nobody.question is None and nobody.refusal is not None
    assert nobody.refusal.message.endswith("there is no terminal to ask on; nothing was sent")
