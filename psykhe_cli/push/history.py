"""The one owner of a push's fate: what was sent, what may have been applied, what was
accepted, and how it settled. ``state.py`` stores it; this module decides what is stored when.

- A push is recorded in the history before its first byte (``begin``: a state directory that
  cannot record it stops the push with nothing sent), then as it goes (``save``).
- A soft_replace the server accepted is remembered as *pending* (``accepted``); whoever learns
  how it ended — the push's own poll, ``psykhe status``, the next push's guard — settles it
  here (``settle``, ``full_syncs``): COMPLETED makes it the baseline, FAILED drops it. Its
  body, handed over at acceptance, is kept pending beside it (``kept.py``, for ``psykhe
  restore``) and settles with it: kept on COMPLETED (the last ``keep_full_syncs``), deleted
  on FAILED.
- A soft_replace sent whole whose answer never came (exit 8, or interrupted once its end was
  handed over) is remembered as *possibly applied* (``possibly_applied``), with no id, until a
  full sync remembered after it completes.

The guard asks only ``full_syncs``: the largest of the completed, pending and possibly
applied syncs is what it compares with.

The catalog memory (``catalog/store.py``) is settled here too: a push keeps what it sends as
a pending update before its request can be complete (``changes_sending``), with the id of
each request accepted; ``settle`` promotes or drops it as its ingestions end, and a push that
ends not knowing whether it was applied forgets its records (``finish``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psykhe_cli.config_file import DEFAULT_KEEP_FULL_SYNCS
from psykhe_cli.errors import ConfigError, ExitCode, Interrupted, PsykheError
from psykhe_cli.full_syncs import FullSync, FullSyncs
from psykhe_cli.kept import KeptBodies, KeptFacts
from psykhe_cli.plan import ProductsWriter
from psykhe_cli.push.model import Mode
from psykhe_cli.state import PushRecord, StateStore, Target

if TYPE_CHECKING:
    from psykhe_cli.catalog import Memory
    from psykhe_cli.catalog.memory import Encoded
    from psykhe_cli.catalog.store import CatalogStore
    from psykhe_cli.config import Settings
    from psykhe_cli.http.chunked_memory import ChunkedRefusal
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.push.model import PushResult
    from psykhe_cli.spool import SpoolPart


def settle(settings: Settings, ingestion: Ingestion) -> None:
    """An ingestion was seen ended: if it was a pending full sync to ``settings``' target,
    settle it (``psykhe status``). A state directory that cannot be written is no error:
    the next push to the target looks the ingestion up again."""
    store, target = StateStore.of(settings), Target.of(settings)
    History(store, target, keep_full_syncs=settings.keep_full_syncs).settle(ingestion)


class History:
    """What one push (or ``status``) records of what it sent, to one target."""

    def __init__(
        self,
        store: StateStore,
        target: Target,
        *,
        mode: Mode = Mode.INSERT,
        on_notice: Callable[[str], None] | None = None,
        keep_full_syncs: int = DEFAULT_KEEP_FULL_SYNCS,
    ) -> None:
        self.store = store
        self.target = target
        #: how many completed full syncs' bodies to keep (``kept.py``)
        self.keep_full_syncs = keep_full_syncs
        self._mode = mode
        self._on_notice = on_notice
        self._record: PushRecord | None = None
        #: the feed's product identifiers, kept to become a baseline (soft_replace)
        self.products: ProductsWriter | None = None
        #: a first byte may have left: the history keeps this push
        self.attempted = False
        #: this push's pending catalog update, and whether every request of it was accepted
        self._update: int | None = None
        self._update_sent = False

    @classmethod
    def of(cls, settings: Settings, *, mode: Mode, on_notice: Callable[[str], None]) -> History:
        """The history of ``settings``' target."""
        return cls(
            StateStore.of(settings),
            Target.of(settings),
            mode=mode,
            on_notice=on_notice,
            keep_full_syncs=settings.keep_full_syncs,
        )

    # -- the history of pushes -------------------------------------------------------------
    def begin(self, result: PushResult) -> None:
        """Before the first byte: record the attempt, or stop with nothing sent."""
        self.attempted = True
        try:
            self._write(result, status="sending", exit_code=None)
        except OSError as exc:
            self.attempted = False
            raise ConfigError(
                f"cannot record this push in the state directory {self.store.state_dir}: "
                f"{exc.strerror or exc}",
                hint="check XDG_STATE_HOME: psykhe keeps its history and full-sync counts there",
                nothing_sent=True,
            ) from None
        except ConfigError as exc:
            self.attempted = False
            raise ConfigError(exc.message, hint=exc.hint, nothing_sent=True) from None

    def save(
        self,
        result: PushResult,
        *,
        status: str | None,
        exit_code: int | None = None,
    ) -> None:
        """Save what the push did so far, once it may have sent something."""
        if self.attempted:
            self._quietly(lambda: self._write(result, status, exit_code))

    def finish(
        self,
        result: PushResult,
        *,
        exit_code: int,
        error: PsykheError | None,
        reached_whole: bool,
    ) -> None:
        """The push ended with ``exit_code`` (``error``). ``reached_whole``: a request not
        accepted had been handed over whole, so the server may have all of it."""
        unknown = exit_code == ExitCode.OUTCOME_UNKNOWN or (
            reached_whole and isinstance(error, Interrupted)
        )
        if unknown and self.attempted and not result.ingestion_ids:
            if self._mode == Mode.SOFT_REPLACE:
                self.possibly_applied(result)
            status: str | None = "outcome_unknown"
        elif exit_code == ExitCode.OUTCOME_UNKNOWN:
            status = "outcome_unknown"
        elif result.ingestion_ids:
            status = result.status
        else:
            status = error.code if error is not None else result.status
        self.save(result, status=status, exit_code=exit_code)
        if self._update is not None and not self._update_sent:
            update, self._update = self._update, None  # applied or not, nobody can tell
            self._quietly(lambda: self.catalog.abandon(update))

    def _write(self, result: PushResult, status: str | None, exit_code: int | None) -> None:
        values: dict[str, Any] = {
            "ingestion_ids": tuple(result.ingestion_ids),
            "lines": result.lines,
            "products": result.products,
            "variants": result.variants,
            "bytes_sent": result.bytes_sent,
            "feed_sha256": result.feed_sha256,
            "status": status,
            "exit_code": exit_code,
        }
        if self._record is None:
            self._record = PushRecord.start(self.target, mode=self._mode, **values)
        else:
            self._record = replace(self._record, **values)
        self.store.save_push(self._record)

    # -- full syncs ------------------------------------------------------------------------
    def keep_products(self) -> ProductsWriter | None:
        """A file for the feed's product identifiers, to become the target's baseline if the
        soft_replace is accepted; None (told) when the state directory cannot hold it."""
        try:
            self.products = ProductsWriter(self.store.new_baseline_file())
        except OSError as exc:
            self._notice(
                f"cannot keep this feed's product identifiers in the state directory "
                f"({exc.strerror or exc}): the next full sync will show no plan"
            )
        return self.products

    def drop_products(self) -> None:
        """Remove the identifiers not taken into the baselines (nothing was accepted)."""
        if self.products is not None:
            self.products.close()
            with contextlib.suppress(OSError):
                self.products.path.unlink()
            self.products = None

    def accepted(
        self, ingestion_id: int, result: PushResult, body: SpoolPart | None = None
    ) -> None:
        """A soft_replace was accepted: the guard and the plan remember it now, pending, and
        its ``body`` is kept pending too (linked, not copied, where it can be)."""
        sync = FullSync(
            products=result.products, variants=result.variants, ingestion_id=ingestion_id
        )
        products = self._taken_products()
        self._quietly(lambda: self.store.remember_pending(self.target, sync, products))
        if body is not None and result.feed_sha256 is not None and self.keep_full_syncs > 0:
            facts = KeptFacts(
                ingestion_id=ingestion_id,
                products=result.products,
                variants=result.variants,
                lines=body.lines,
                raw_bytes=body.raw_bytes,
                sha256=result.feed_sha256,  # a soft_replace is one part: the body's own
            )
            self._quietly(lambda: self._kept().keep_pending(body.path, facts))

    def possibly_applied(self, result: PushResult) -> None:
        """A soft_replace reached the server whole and no answer came: it may be applied."""
        sync = FullSync(products=result.products, variants=result.variants)
        products = self._taken_products()
        self._quietly(lambda: self.store.remember_possibly_applied(self.target, sync, products))

    def _taken_products(self) -> Path | None:
        """The products file, moved into the baselines: no longer this push's to remove."""
        products, self.products = self.products, None
        return products.path if products is not None else None

    def settle(self, ingestion: Ingestion) -> None:
        """A pending soft_replace ended (if ``ingestion`` is one): remember how. If that
        cannot be written now, the next push to the target looks it up again."""
        if ingestion.is_terminal:
            target, done = self.target, ingestion.succeeded
            self._quietly(lambda: self.store.settle_full_sync(target, ingestion.id, completed=done))
            self._settle_kept(ingestion)
            self._quietly(lambda: self.catalog.settle(ingestion.id, completed=done))

    def _settle_kept(self, ingestion: Ingestion) -> None:
        keep, done = self.keep_full_syncs, ingestion.succeeded
        self._quietly(lambda: self._kept().settle(ingestion.id, completed=done, keep=keep))

    def _kept(self) -> KeptBodies:
        return KeptBodies(self.store.state_dir, self.target)

    # -- the catalog memory ----------------------------------------------------------------
    @functools.cached_property
    def catalog(self) -> CatalogStore:
        """The target's catalog memory."""
        from psykhe_cli.catalog.store import CatalogStore

        return CatalogStore(self.store.state_dir, self.target)

    def settle_changes(self, lookup: Callable[[int], Ingestion]) -> None:
        """Look up the catalog updates whose outcome is not known yet, and settle those that
        ended (before the memory is read for a push)."""
        for ingestion_id in self.catalog.unsettled():
            try:
                ingestion = lookup(ingestion_id)
            except PsykheError as exc:
                self._notice(
                    f"the outcome of ingestion {ingestion_id} is not known ({exc.message}): "
                    "what it sent is sent again"
                )
                continue
            self.settle(ingestion)

    def changes_sending(self, update: Memory | Encoded, *, replace: bool, whole: bool) -> None:
        """Before the request can be complete: keep what it sends as a pending update
        (``replace``: it becomes the memory; ``whole``: the whole feed is sent)."""

        def begin() -> None:
            self._update = self.catalog.begin(update, replace=replace, whole=whole)

        self._quietly(begin)

    def changes_accepted(self, ingestion_id: int) -> None:
        """One request of the pending update was accepted."""
        update = self._update
        if update is not None:
            self._quietly(lambda: self.catalog.accepted(update, ingestion_id))

    def changes_sent(self) -> None:
        """Every request of the pending update was accepted: their outcomes decide."""
        update = self._update
        if update is not None:
            self._update_sent = True
            self._quietly(lambda: self.catalog.complete(update))

    # -- what the target is known to refuse ------------------------------------------------
    def streams(self) -> bool:
        """False while the target's uploads go whole (it refused chunked bodies lately)."""
        from psykhe_cli.http.chunked_memory import ChunkedMemory

        return ChunkedMemory(self.store.state_dir).streams_to(self.target.name)

    def chunked_refused(self, refusal: ChunkedRefusal) -> str:
        """Note that the target refused a chunked body; the line that says what follows."""
        from psykhe_cli.http.chunked_memory import ChunkedMemory

        return ChunkedMemory(self.store.state_dir).remember(self.target.name, refusal)

    def full_syncs(self, lookup: Callable[[int], Ingestion] | None) -> FullSyncs:
        """What is remembered of the target's full syncs, once the pending ones that have
        ended on the server since are settled (``lookup``: a status request each)."""
        syncs = self.store.full_syncs(self.target)
        settled = False
        for pending in syncs.pending:
            if pending.ingestion_id is None or lookup is None:
                continue
            try:
                ingestion = lookup(pending.ingestion_id)
            except PsykheError as exc:
                self._notice(
                    f"the outcome of full sync {pending.ingestion_id} is not known "
                    f"({exc.message}): comparing with the larger of it and the last completed"
                )
                continue
            if ingestion.is_terminal:
                self.store.settle_full_sync(
                    self.target, ingestion.id, completed=ingestion.succeeded
                )
                self._settle_kept(ingestion)
                settled = True
        return self.store.full_syncs(self.target) if settled else syncs

    def baseline_path(self, sync: FullSync) -> Path | None:
        """The file of ``sync``'s product identifiers, when they were kept."""
        return self.store.baseline_path(sync)

    def _quietly(self, write: Callable[[], object]) -> None:
        try:
            write()
        except (OSError, PsykheError) as exc:
            self._notice(f"could not update the local state directory: {exc}")

    def _notice(self, text: str) -> None:
        if self._on_notice is not None:
            self._on_notice(text)
