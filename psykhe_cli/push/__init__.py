"""The use case of ``psykhe push``, one module per step of a push:

    model       what a push is asked (``PushRequest``, ``Mode``) and what it did (``PushResult``)
    observer    what it tells while it runs (``PushObserver``; ``NullObserver`` for a library)
    prepare     the feed read, validated and spooled as compressed parts
    guard       the soft_replace guard: counts and remembered syncs in, a verdict out (pure)
    upload      each request sent in a thread, parts split when refused as too large
    history     the one owner of what was sent, may have been applied, was accepted, settled
    connection  the API client, made while the feed is checked
    run         ``Push.run()``: those steps in order

Only ``model`` and ``observer`` are imported with the package, so that the CLI can read its
defaults without loading the pipeline; ``Push`` (from ``run``) is imported when first asked for.
"""

from __future__ import annotations

from typing import Any

from psykhe_cli.push.model import (
    DEFAULT_MAX_DROP,
    DEFAULT_TIMEOUT,
    GuardQuestion,
    Mode,
    PushRequest,
    PushResult,
    overall_status,
)
from psykhe_cli.push.observer import NullObserver, PushObserver

__all__ = [
    "DEFAULT_MAX_DROP",
    "DEFAULT_TIMEOUT",
    "GuardQuestion",
    "Mode",
    "NullObserver",
    "Push",
    "PushObserver",
    "PushRequest",
    "PushResult",
    "overall_status",
]


def __getattr__(name: str) -> Any:
    if name == "Push":
        from psykhe_cli.push.run import Push

        return Push
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
