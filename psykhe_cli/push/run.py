"""``Push.run()``: prepare → lock → guard → upload → follow, and what it leaves in the history.

Nothing here prints: what a person sees goes through the observer, and every failure is a
``PsykheError`` whose facts say what reached the server. The result is filled in as the push
goes, so that ``--json`` can report what happened even on failure.

A soft_replace takes the target's sync lock before its guard and holds it until the server
accepted it (or, when it failed, until the history recorded what it may have left behind).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

from psykhe_cli.errors import (
    ConfigError,
    ExitCode,
    GuardRefused,
    IngestionFailed,
    Interrupted,
    PsykheError,
    WaitTimeout,
    exit_code_of,
    signal_of,
)
from psykhe_cli.http.keycheck import KeyStatus
from psykhe_cli.outputs import RejectsFile
from psykhe_cli.push.changes import ChangesStep
from psykhe_cli.push.connection import EarlyClient, Opened, open_client
from psykhe_cli.push.guard import NOT_CONFIRMED, Counts, decide, plan_json, plan_text
from psykhe_cli.push.history import History
from psykhe_cli.push.interrupted import interruption
from psykhe_cli.push.model import Mode, PushRequest, PushResult, check_request, overall_status
from psykhe_cli.push.observer import NullObserver, PushObserver
from psykhe_cli.push.prepare import prepare
from psykhe_cli.push.upload import Upload, Uploader
from psykhe_cli.spool import DEFAULT_COMPRESSION_LEVEL, BatchLimit, Spool, SpoolPart

if TYPE_CHECKING:
    import httpx

    from psykhe_cli.client import ChunkedRefusal, CreateResult, IngestionClient
    from psykhe_cli.config import Settings
    from psykhe_cli.full_syncs import FullSync
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.plan import Plan


def _nothing() -> None:
    pass


class Push:
    """One push; ``run()`` does it all and fills ``result``.

    ``before_sending`` is called just before the first byte may leave; it may raise to stop
    the push with nothing sent (the CLI's: a stop signal or a reader of its output gone).
    ``transport`` replaces the network (tests, a library's own transport).
    """

    def __init__(
        self,
        request: PushRequest,
        settings: Settings | None,
        observer: PushObserver | None = None,
        *,
        before_sending: Callable[[], None] = _nothing,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self.observer: PushObserver = observer if observer is not None else NullObserver()
        self.result = PushResult(mode=request.mode, dry_run=request.dry_run)
        self.result.base_url = settings.base_url if settings else None
        self._before_sending = before_sending
        self._transport = transport
        self._history = (
            History.of(settings, mode=request.mode, on_notice=self.observer.notice)
            if settings is not None
            else None
        )
        self._uploader: Uploader | None = None
        self._client: IngestionClient | None = None
        self._take_client: Callable[[], IngestionClient] = self._no_client
        #: the comparison with the target's catalog memory
        self.changes = ChangesStep(request, self._history, self.observer)

    @staticmethod
    def _no_client() -> IngestionClient:
        raise AssertionError("the client is made once the push runs")

    # -- the pipeline ----------------------------------------------------------------------
    def run(self) -> PushResult:
        """Push the feed; raises a ``PsykheError`` (with ``result`` filled so far) on failure."""
        with ExitStack() as lock:
            try:
                try:
                    self._run(lock)
                except KeyboardInterrupt as interrupt:  # Ctrl-C, or a stop signal (cli.py)
                    raise self._interrupted(signal_of(interrupt)) from None
            except PsykheError as exc:
                self.result.error = exc
                self._finish(exit_code_of(exc), exc)
                raise
            finally:
                if self._history is not None:
                    self._history.drop_products()  # not taken into the baselines
            self._finish(ExitCode.OK, None)
        return self.result

    def _run(self, lock: ExitStack) -> None:
        request = self.request
        check_request(request)
        streams = self._streams()
        with ExitStack() as stack:
            spool = stack.enter_context(
                Spool(
                    compression_level=request.compression_level or DEFAULT_COMPRESSION_LEVEL,
                    limit=request.batch_limit if request.mode == Mode.INSERT else None,
                    streamed=streams,
                )
            )
            early = EarlyClient(self._open_client, key_source=self._key_source())
            stack.callback(early.close)
            self._take_client = functools.partial(self._client_of, early, stack)
            uploader = self._uploader = Uploader(
                spool,
                self._take_client,
                mode=request.mode,
                observer=self.observer,
                on_accepted=self._accepted,
            )
            sending = not request.dry_run and self._history is not None
            rejects = stack.enter_context(RejectsFile(request.rejects))
            products = None
            if sending and request.mode == Mode.SOFT_REPLACE and self._history is not None:
                products = self._history.keep_products()
            on_workers: Callable[[], None] | None = None
            if sending:  # --only-changed may send nothing: then no request at all
                on_workers = functools.partial(early.start, check_key=not request.only_changed)
            stream: Upload | None = None
            if streams and spool.growing is not None:
                stream = uploader.streamed(spool.growing)
                # an error, a refusal or Ctrl-C before the release: the request stays incomplete
                stack.callback(stream.stop)
                on_workers = functools.partial(self._start_stream, early, stream)
                early.make_now()
            try:
                # before the workers fork: they share the memory; lookups end their threads
                self.changes.load(self._open_client if self.settings is not None else None)
                stack.callback(self.changes.close)
                parts = prepare(
                    request,
                    self.result,
                    self.observer,
                    spool=spool,
                    rejects=rejects,
                    products=products,
                    on_workers=on_workers,
                    stream=stream,
                    changes=self.changes,
                )
                if sending and not self.changes.nothing_to_send(self.result):
                    self._check_key(early)
                if not request.dry_run:
                    self._lock(lock)
                self.changes.verdict(self.result)
                self._guard()
            except PsykheError as exc:
                exc.upload_cut_off = stream is not None and stream.started
                raise
            if request.dry_run:
                self.observer.notice("dry run: nothing was sent")
                return
            if self.changes.nothing_to_send(self.result):
                self.observer.notice(self.changes.nothing_changed())
                self.result.status = "unchanged"
                return
            client = self._take_client()
            self.changes.sending()
            self._upload(uploader, parts, stream)
            if self._history is not None:
                self._history.changes_sent()
            lock.close()  # accepted and recorded: the next push may start its guard
            spool.discard()  # free the disk before a possibly long wait
            if request.wait:
                self._follow(client)
            else:
                self.result.status = "created"

    def _streams(self) -> bool:
        """Whether the upload may start while the feed is checked: one request, nobody to
        ask (a person may take minutes, and no request is held open meanwhile), and a target
        not known to refuse a chunked body."""
        request = self.request
        if not request.stream or request.dry_run or self._history is None:
            return False
        if request.mode == Mode.INSERT and request.batch_limit not in (None, BatchLimit()):
            return False
        if request.only_changed or request.max_changed is not None:
            return False  # nothing to send, or a refusal, must leave no request at all
        if request.mode == Mode.SOFT_REPLACE and not request.yes and self.observer.can_prompt():
            return False
        return self._history.streams()

    def _start_stream(self, early: EarlyClient, stream: Upload) -> None:
        # the workers run: threads may start now (never before: workers are forked)
        assert self._uploader is not None and self._history is not None
        early.start()
        self.result.upload_began = time.monotonic()
        # before the first byte, as every upload: `status --last` must see this attempt
        self._uploader.start_stream(stream, functools.partial(self._history.begin, self.result))
        self.observer.notice("uploading while the feed is checked")

    def _open_client(self) -> Opened:
        assert self.settings is not None
        observer = self.observer
        return open_client(
            self.settings,
            on_retry=observer.retrying,
            on_debug=observer.debug,
            transport=self._transport,
        )

    def _key_source(self) -> str:
        return self.settings.key_source if self.settings is not None else "no key"

    def _check_key(self, early: EarlyClient) -> None:
        """Stop before the lock, the guard and the upload if the server refused the key,
        checked while the feed was (any other answer, or none in time: go on)."""
        verdict = early.key_verdict()
        self.observer.debug(f"key check: {verdict.status.value} ({verdict.reason})")
        if verdict.status == KeyStatus.REFUSED:
            raise verdict.error(nothing_sent=True)

    def _client_of(self, early: EarlyClient, stack: ExitStack) -> IngestionClient:
        """The HTTP client, made once; closed when the push ends."""
        if self._client is None:
            self._client, close = early.take()
            stack.callback(close)
        return self._client

    def _lock(self, stack: ExitStack) -> None:
        """One sync at a time per target: exclusive for soft_replace, shared for insert."""
        history = self._history
        if history is None:
            return
        try:
            stack.enter_context(
                history.store.sync_lock(
                    history.target,
                    exclusive=self.request.mode == Mode.SOFT_REPLACE,
                    wait=self.request.wait_lock,
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the state directory {history.store.state_dir}: {exc.strerror or exc}",
                hint="check XDG_STATE_HOME and the directory's permissions",
                nothing_sent=True,
            ) from exc

    # -- the soft_replace guard ------------------------------------------------------------
    def _guard(self) -> None:
        request, result, observer = self.request, self.result, self.observer
        if request.mode != Mode.SOFT_REPLACE:
            return
        history = self._history
        syncs = history.full_syncs(self._lookup) if history is not None else None
        reference = syncs.reference if syncs is not None else None
        result.previous_products = reference.products if reference else None
        result.previous_variants = reference.variants if reference else None
        plan = self._plan(reference)
        verdict = decide(
            request,
            Counts(
                products=result.products,
                variants=result.variants,
                compressed_bytes=result.compressed_bytes,
            ),
            syncs,
            target_url=result.base_url or "(not configured)",
            plan=plan,
            can_prompt=not (request.yes or request.dry_run) and observer.can_prompt(),
            protected_profile=self._protected_profile(),
        )
        result.overrides.extend(verdict.overrides)
        for warning in verdict.warnings:
            observer.warning(warning)
        if verdict.refusal is not None:
            raise verdict.refusal
        if verdict.note is not None:
            observer.notice(verdict.note)
        question = verdict.question
        if question is not None:
            question = dataclasses.replace(question, changes=result.changes)
        if question is not None and not observer.confirm(question):
            raise GuardRefused(NOT_CONFIRMED, nothing_sent=True)

    def _lookup(self, ingestion_id: int) -> Ingestion:
        return self._take_client().get_ingestion(ingestion_id)

    def _plan(self, reference: FullSync | None) -> Plan | None:
        """Compare the feed with the baseline; ``result.plan``, ``--plan-file``, a notice."""
        from psykhe_cli.plan import ProductsFileError, compare_writing, withdraw_plan_file

        result, history = self.result, self._history
        path = history.baseline_path(reference) if history and reference else None
        hashes = result.report.product_hashes if result.report is not None else None
        result.plan = plan_json(reference, None)
        if path is None or hashes is None:
            withdraw_plan_file(self.request.plan_file)  # an older one must not pass for this
            if reference is None:
                unknown = history.target.nothing_known if history else "no full sync is remembered"
                self.observer.notice(f"no plan: {unknown}")
            else:
                self.observer.notice("no plan: the identifiers of the last full sync were not kept")
            return None
        try:
            plan = compare_writing(
                hashes,
                result.products,
                path,
                self.request.plan_file,
                (result.variants, result.previous_variants),
            )
        except (OSError, ProductsFileError) as exc:
            self.observer.notice(f"no plan: the baseline's identifiers cannot be read ({exc})")
            return None
        result.plan = plan_json(reference, plan)
        self.observer.notice(plan_text(plan))
        return plan

    def _protected_profile(self) -> str | None:
        settings = self.settings
        if settings is None or not settings.protected:
            return None
        return settings.profile or "default"  # the config file's top level, when protected

    # -- upload ----------------------------------------------------------------------------
    def _upload(self, uploader: Uploader, parts: list[SpoolPart], stream: Upload | None) -> None:
        """Send the requests (or complete the one streamed) until each was accepted."""
        self._before_sending()
        started = time.monotonic()
        try:
            if stream is not None and stream.started:
                [part] = parts  # a streamed spool has no limit: one part
                uploader.finish_stream(stream, part, self._refuses_chunked)
                return
            assert self._history is not None
            # before the first byte: `status --last` must see this attempt; a state directory
            # that cannot record it stops the push here, with nothing sent (never after)
            self._history.begin(self.result)
            uploader.send(parts)
        finally:
            self.result.phases["uploading"] = time.monotonic() - started

    def _accepted(self, created: CreateResult, part: SpoolPart, number: int, total: int) -> None:
        """The server accepted ``part`` (request ``number`` of ``total``): record it."""
        result = self.result
        result.requests = number
        result.bytes_sent += part.size
        result.ingestion_ids.append(created.ingestion_id)
        result.status = "created"
        self.observer.created(created.ingestion_id, number, total)
        if self._history is not None:
            self._history.save(result, status=result.status)
            self._history.changes_accepted(created.ingestion_id)
            if self.request.mode == Mode.SOFT_REPLACE:
                # its body is handed over, to be kept if it completes (``kept.py``)
                self._history.accepted(created.ingestion_id, result, body=part)

    def _refuses_chunked(self, refusal: ChunkedRefusal) -> None:
        """Remember how the target refused a chunked body, and say what follows from it."""
        assert self._history is not None  # only a streamed push
        self.observer.notice(self._history.chunked_refused(refusal))

    # -- polling ---------------------------------------------------------------------------
    def _follow(self, client: IngestionClient) -> None:
        from psykhe_cli.poll import wait_for_ingestion

        request, result = self.request, self.result
        started = time.monotonic()
        deadline = started + request.timeout
        current = None
        try:
            for ingestion_id in result.ingestion_ids:
                current = ingestion_id
                final = wait_for_ingestion(
                    client,
                    ingestion_id,
                    timeout=round(max(0.0, deadline - time.monotonic()), 3),
                    poll_interval=request.poll_interval,
                    on_update=self._on_update,
                    on_error=self.observer.poll_failed,
                )
                if self._history is not None:
                    self._history.settle(final)
                if final.failed:
                    raise IngestionFailed(
                        f"ingestion {ingestion_id} FAILED on the server",
                        hint="the server's ingestion logs tell why; psykhe status "
                        f"{ingestion_id} shows what it reported",
                    )
        except KeyboardInterrupt as interrupt:
            raise Interrupted(
                f"interrupted while waiting; ingestion {current} was accepted and goes on "
                "on the server",
                hint=f"follow it with: psykhe status {current} --watch",
                signum=signal_of(interrupt),
            ) from None
        except (IngestionFailed, WaitTimeout):
            raise  # they name the ingestion already
        except PsykheError as exc:  # a refused key, a 404, an answer about another id
            exc.following = current
            raise
        finally:
            result.phases["processing"] = time.monotonic() - started

    def _on_update(self, ingestion: Ingestion) -> None:
        result = self.result
        result.ingestions[ingestion.id] = ingestion
        result.status = overall_status(
            [
                result.ingestions[i].status_name if i in result.ingestions else "created"
                for i in result.ingestion_ids
            ]
        )
        self.observer.processing(ingestion)

    # -- the end ---------------------------------------------------------------------------
    def _in_flight(self) -> Upload | None:
        """The request being sent when the push ended, not accepted, if one had started."""
        current = self._uploader.current if self._uploader is not None else None
        return current if current is not None and current.started else None

    def _finish(self, exit_code: int, error: PsykheError | None) -> None:
        """Count what reached the server, and leave it in the history."""
        self.result.ended = time.monotonic()
        in_flight = self._in_flight()
        if in_flight is not None:
            self.result.bytes_sent += in_flight.meter.delivered()
        if self._history is not None:
            self._history.finish(
                self.result,
                exit_code=exit_code,
                error=error,
                reached_whole=in_flight is not None and in_flight.body_sent,
            )

    def _interrupted(self, signum: int | None) -> Interrupted:
        """What an interruption before polling left behind (polling explains itself)."""
        sending = self._in_flight()
        if sending is not None and sending.size is not None:  # the display: the same figure
            delivered = sending.meter.delivered()
            self.observer.uploading(sending.number, sending.parts, delivered, sending.size)
        return interruption(self.result.ingestion_ids, sending, signum)
