"""The catalog memory's part in a push: read before the feed is checked, compared with each
block where it is checked, reported as ``Changes``, guarded (``--max-changed``), and handed to
the history to keep once the push sends.

- ``load``: the updates of earlier pushes whose outcome is not known are looked up first
  (their ingestions settled through the history), then the trusted memory is read — before
  the validation workers are forked, so they share it.
- ``sieve`` / ``tally``: what ``prepare`` gives the engine (``catalog.Sieve``, the ``Tally``).
- ``prepared``: ``result.changes`` and what a person is told.
- ``verdict``: the ``--max-changed`` guard, a pure decision like ``guard.decide``.
- ``sending``: the update a completed push leaves, kept pending in the history.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from psykhe_cli.catalog import Changes, Sieve, Tally
from psykhe_cli.catalog.store import Trusted
from psykhe_cli.errors import GuardRefused
from psykhe_cli.push.model import Mode, PushRequest

if TYPE_CHECKING:
    from psykhe_cli.push.connection import Opened
    from psykhe_cli.push.history import History
    from psykhe_cli.push.model import PushResult
    from psykhe_cli.push.observer import PushObserver


#: seconds to wait for a thread the lookups started (an answer deadline's timer) to end
_JOIN_SECONDS = 2.0


@dataclass(frozen=True, kw_only=True)
class ChangedVerdict:
    """What the ``--max-changed`` guard decided."""

    overrides: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusal: GuardRefused | None = None


def decide_changed(request: PushRequest, changes: Changes) -> ChangedVerdict:
    """Refuse (or, with ``--force``, warn) when more than ``--max-changed`` percent of the
    memory's variants change."""
    limit = request.max_changed
    if limit is None or changes.baseline is None or changes.share_changed <= limit:
        return ChangedVerdict()
    variants = changes.baseline["variants"]
    most = " · ".join(f"{name} {count:,}" for name, count in list(changes.fields.items())[:3])
    what = (
        f"{changes.changed:,} of the {variants:,} variants remembered "
        f"({changes.share_changed:.3g}%) would change ({most or 'no counted field'})"
    )
    if not request.force:
        return ChangedVerdict(
            refusal=GuardRefused(
                f"{what}, more than --max-changed {limit:g}%",
                hint="if the feed really changed this much, pass --force (or a higher "
                "--max-changed)",
                nothing_sent=True,
            )
        )
    sending = "a real push would send" if request.dry_run else "sending"
    override = {"check": "changed", "previous": variants, "feed": changes.changed}
    return ChangedVerdict(
        overrides=[{**override, "max_changed": limit, "fields": dict(changes.fields)}],
        warnings=[f"--force: {sending} although {what}, more than --max-changed {limit:g}%"],
    )


class ChangesStep:
    """One push's comparison with the target's catalog memory (see the module)."""

    def __init__(
        self, request: PushRequest, history: History | None, observer: PushObserver
    ) -> None:
        self.request = request
        self._history = history
        self._observer = observer
        self.trusted = Trusted(None, "no target is configured (a dry run without a key)")
        self.sieve: Sieve | None = None
        self.tally: Tally | None = None

    def load(self, open_client: Callable[[], Opened] | None) -> None:
        """Settle what can be settled (``open_client``: a client for the lookups, closed
        again), then read the memory the feed is compared with."""
        history = self._history
        target = history.target.name if history is not None else ""
        if history is not None:
            if open_client is not None and history.catalog.unsettled():
                self._settle(history, open_client)
            if not self.request.dry_run:
                with contextlib.suppress(OSError):  # a state directory that cannot be written
                    history.catalog.sweep()  # is said when the push records itself
            self.trusted = history.catalog.load(self.request.baseline_max_age)
        memory = self.trusted.memory
        spill = None
        if history is not None and not self.request.dry_run:
            with contextlib.suppress(OSError):  # kept in memory then
                spill = history.catalog.scratch()
        self.sieve = Sieve(memory, only_changed=self.request.only_changed)
        self.tally = Tally(memory, target, spill=spill)

    @property
    def leaves_out(self) -> bool:
        """Whether unchanged records are left out of the body (a memory is trusted)."""
        return self.request.only_changed and self.trusted.memory is not None

    @staticmethod
    def _settle(history: History, open_client: Callable[[], Opened]) -> None:
        """Look the unsettled updates' ingestions up, in this thread; wait for the threads
        the lookups started to end (the validation workers are forked next)."""
        before = set(threading.enumerate())
        client, close = open_client()
        try:
            history.settle_changes(client.get_ingestion)
        finally:
            close()
            for thread in set(threading.enumerate()) - before:
                thread.join(timeout=_JOIN_SECONDS)

    def close(self) -> None:
        """The check is over (or the update kept)."""
        if self.sieve is not None:
            self.sieve.close()
        if self.tally is not None:
            self.tally.close()

    def prepared(self, result: PushResult) -> None:
        """``result.changes``, and the lines a person reads."""
        from psykhe_cli.render.changes import changes_lines

        assert self.tally is not None
        reason = self.trusted.reason
        result.changes = self.tally.changes(sent=result.lines, reason=reason)
        if reason is not None and self.request.only_changed:
            self._observer.notice(f"--only-changed: {reason}: sending every record")
        for line in changes_lines(result.changes):
            self._observer.notice(line)

    def verdict(self, result: PushResult) -> None:
        """The ``--max-changed`` guard: a refusal raised, warnings and overrides told."""
        if result.changes is None:
            return
        verdict = decide_changed(self.request, result.changes)
        result.overrides.extend(verdict.overrides)
        for warning in verdict.warnings:
            self._observer.warning(warning)
        if verdict.refusal is not None:
            raise verdict.refusal

    def nothing_to_send(self, result: PushResult) -> bool:
        """``--only-changed`` found no record to send: no request is made."""
        changes = result.changes
        return (
            self.request.only_changed
            and changes is not None
            and changes.baseline is not None
            and changes.sent == 0
        )

    def nothing_changed(self) -> str:
        """The line that says so."""
        memory = self.trusted.memory
        assert memory is not None
        since = f"ingestion {memory.ingestion_id} ({memory.at})" if memory.at else "the memory"
        return f"nothing changed since {since}; nothing sent"

    def sending(self) -> None:
        """The request is about to be complete: keep what a completion would leave, and let
        go of the memory (what settles the update reads the file again)."""
        history, tally = self._history, self.tally
        if history is None or tally is None:
            return
        trusted = self.trusted.memory is not None
        # built as it is written, a column at a time: a whole feed's is 40 MB at 1M variants
        if self.request.mode == Mode.SOFT_REPLACE:
            update, replace, whole = tally.encoded_replacement(), True, True
        elif trusted:
            update, replace, whole = tally.encoded_update(), False, not self.request.only_changed
        else:  # nothing trusted: the feed, all sent, starts a new memory
            update, replace, whole = tally.encoded_update(), True, True
        if self.sieve is not None:
            self.sieve.close()
        try:
            history.changes_sending(update, replace=replace, whole=whole)
        finally:
            self.close()
            self.tally = self.sieve = None
            self.trusted = Trusted(None, self.trusted.reason)
