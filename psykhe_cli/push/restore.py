"""``psykhe restore``: a kept full sync sent again, byte for byte, as a push.

The body is found among the target's kept ones (``kept.py``); the push options become a
``PushRequest`` naming it. ``Push.run`` then links it into its spool and checks its size and
SHA-256, checks its lines with the engine that checks every feed (so the plan's counts and
product identifiers come from there), takes the same lock, asks the same guard and question,
and sends the kept bytes as they are: one request, the same bytes on every retry. What a
soft_replace push's plan shows against what psykhe remembers of the target — what it would
deactivate and bring back, and any comparison added to that plan later — a restore shows
too: it is that plan.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from psykhe_cli.kept import KeptBodies, KeptBody
from psykhe_cli.push.model import Mode, PushRequest
from psykhe_cli.target import Target

if TYPE_CHECKING:
    from psykhe_cli.config import Settings


def kept_bodies(settings: Settings) -> KeptBodies:
    """The kept full-sync bodies of ``settings``' target."""
    return KeptBodies(settings.state_dir, Target.of(settings))


def restore_request(settings: Settings, ingestion_id: int, options: PushRequest) -> PushRequest:
    """``options`` (a push's: guard, question, waiting) as the push that sends the kept body
    of full sync ``ingestion_id`` again; ``UsageError`` when none is kept by that id. The
    push refuses a damaged one (``InputError``) before anything is sent."""
    return replace(
        options,
        sources=(),
        mode=Mode.SOFT_REPLACE,
        kept=kept_bodies(settings).find(ingestion_id),
        # the kept bytes go as they are: never the spool's, never cut
        stream=False,
        skip_invalid=False,
        batch_limit=None,
        compression_level=None,
    )


def kept_json(body: KeptBody) -> dict[str, Any]:
    """One kept body in ``restore --json``."""
    return {
        "ingestion_id": body.ingestion_id,
        "at": body.time,
        "products": body.products,
        "variants": body.variants,
        "size": body.size,
        "sha256": body.sha256,
    }
