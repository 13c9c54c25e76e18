"""The use case of ``psykhe push``: read → validate → spool → guard → upload → poll → report.

Nothing here prints: what a person sees goes through a ``PushObserver`` (``render/push.py``),
and every failure is a ``PsykheError`` that ``cli.py`` turns into an exit code. The result is
filled in as the push goes, so that ``--json`` can report what happened even on failure.

A soft_replace also keeps the feed's product identifiers while it is validated (``plan.py``),
takes the target's sync lock (``state.py``) before its guard, compares the feed with the
baseline (the plan), and is remembered as pending the moment the server accepts it; the lock
is let go then, before the wait for the outcome.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from psykhe_cli import threads
from psykhe_cli.deflate import BlockDeflater
from psykhe_cli.errors import (
    ConfigError,
    ExitCode,
    GuardRefused,
    IngestionFailed,
    InputError,
    Interrupted,
    PayloadTooLarge,
    PsykheError,
    RejectedError,
    UploadFailed,
    UsageError,
    WaitTimeout,
    exit_code_of,
)
from psykhe_cli.outputs import RejectsFile
from psykhe_cli.pacing import Pacer
from psykhe_cli.spool import (
    DEFAULT_COMPRESSION_LEVEL,
    BatchLimit,
    GrowingPart,
    Spool,
    SpoolPart,
)
from psykhe_cli.validate import FeedReport, FeedSource, Problem, ValidationOptions, check_feeds

if TYPE_CHECKING:
    from psykhe_cli.client import ChunkedRefusal, CreateResult, IngestionClient
    from psykhe_cli.config import Settings
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.plan import Plan, ProductsWriter
    from psykhe_cli.state import FullSync, FullSyncs, PushRecord, StateStore, Target

INSERT = "insert"
SOFT_REPLACE = "soft_replace"
DEFAULT_MAX_DROP = 50.0
DEFAULT_TIMEOUT = 1800.0


@dataclass(frozen=True, kw_only=True)
class PushRequest:
    """What the user asked ``psykhe push`` to do."""

    sources: Sequence[FeedSource]
    validation: ValidationOptions = field(default_factory=ValidationOptions)
    mode: str = INSERT
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


@dataclass(frozen=True, kw_only=True)
class GuardQuestion:
    """What the soft_replace confirmation shows before asking."""

    base_url: str
    products: int
    variants: int
    compressed_bytes: int
    previous_products: int | None
    previous_variants: int | None = None
    plan: Plan | None = None
    #: a ``protected = true`` profile: the operator types its name instead of y
    protected_profile: str | None = None


@dataclass
class PushResult:
    """What a push did so far; complete once ``push`` returns."""

    mode: str
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
    bytes_sent: int = 0
    requests: int = 0
    previous_products: int | None = None
    previous_variants: int | None = None
    #: soft_replace: what it would deactivate, add and keep (``plan_json``)
    plan: dict[str, Any] | None = None
    #: the guards ``--force`` overrode: {"check", "previous", "feed", "max_drop"}
    overrides: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    #: seconds spent in each phase: preparing, uploading, processing
    phases: dict[str, float] = field(default_factory=dict)
    report: FeedReport | None = None
    error: PsykheError | None = None

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
            "mode": self.mode,
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
            "phases": {name: round(seconds, 3) for name, seconds in self.phases.items()},
            "product_metrics": {
                str(ingestion_id): ingestion.product_metrics
                for ingestion_id, ingestion in self.ingestions.items()
            },
            "error": error,
        }


_PROGRESS = ("unknown", "created", "started", "completed")


def overall_status(names: Sequence[str]) -> str:
    """One status for several ingestions: failed if any failed, else the least advanced."""
    if "failed" in names:
        return "failed"
    return min(names, key=lambda name: _PROGRESS.index(name) if name in _PROGRESS else 0)


class PushObserver(Protocol):
    """Everything a push reports while it runs; ``render/push.py`` implements it."""

    def problem(self, problem: Problem) -> None:
        """A validation problem, as soon as it is found."""

    def preparing(self, lines: int, bytes_read: int) -> None:
        """Reading and validating: progress so far."""

    def prepared(self, result: PushResult) -> None:
        """The feed is validated and spooled; counts are in ``result``."""

    def can_prompt(self) -> bool:
        """True when a person can answer a question at a terminal."""

    def confirm(self, question: GuardQuestion) -> bool:
        """Ask whether to run soft_replace; True only on an explicit yes."""

    def sending(self) -> None:
        """Nothing was sent before this call; from now on anything may be, and nothing
        that happens to the output may stop the push (it must record what it did)."""

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        """Bytes of request ``part`` (1-based) of ``parts`` that reached the server (as far
        as the OS tells: acknowledged, not merely handed to the kernel's buffers)."""

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        """Request ``part`` reached the server whole (``size`` bytes, ``seconds`` after its
        upload began); its answer is awaited."""

    def retrying(self, attempt: int, delay: float, reason: str) -> None:
        """A request failed and is retried after ``delay`` seconds."""

    def notice(self, message: str) -> None:
        """Something the user should know that is not an error."""

    def warning(self, message: str) -> None:
        """Something the user must see even with ``--quiet`` (a guard overridden)."""

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        """The server accepted request ``part``: this id must never be lost."""

    def processing(self, ingestion: Ingestion) -> None:
        """A status poll answered."""

    def poll_failed(self, error: PsykheError) -> None:
        """A status poll failed and will be tried again."""

    def debug(self, line: str) -> None:
        """A request/response detail (``--debug``); the key is never in it."""


ClientFactory = Callable[["Settings", PushObserver], "tuple[IngestionClient, Callable[[], None]]"]


def _default_client(settings: Settings, observer: PushObserver) -> tuple[Any, Callable[[], None]]:
    from psykhe_cli.client import IngestionClient, make_http_client

    http = make_http_client(settings)
    client = IngestionClient.from_settings(
        settings, http, on_retry=observer.retrying, on_debug=observer.debug
    )
    return client, http.close


class _EarlyClient:
    """The HTTP client, made in a thread while the worker processes check the feed.

    Importing httpx and building its client (for https, a TLS context with the CA bundle)
    costs ~0.1-0.2 s in the one process that, while the workers check the feed, mostly waits
    for them; made after them, it would hold up the upload. Nothing is sent until ``take``;
    a client made but not taken (a refusal, an error) is closed by ``close``.
    """

    def __init__(self, make: Callable[[], tuple[Any, Callable[[], None]]]) -> None:
        self._make = make
        self._thread: threading.Thread | None = None
        self._made: tuple[Any, Callable[[], None]] | None = None
        self._error: BaseException | None = None
        self._taken = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="psykhe-client", daemon=True)
        threads.start(self._thread)

    def _run(self) -> None:
        try:
            self._made = self._make()
        except BaseException as exc:  # raised again in the main thread by take()
            self._error = exc

    def take(self) -> tuple[Any, Callable[[], None]]:
        """The client and its close function, made now unless made already."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        made = self._made if self._made is not None else self._make()
        self._made, self._taken = made, True
        return made

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
        if self._made is not None and not self._taken:
            self._made[1]()


class _Upload:
    """One request's upload, in a thread of its own while the main thread waits for it and
    tells its progress. Everything it has to tell the observer is queued and told by the main
    thread (``pump``): the display is never driven from two threads.

    The body is a spool part, or the spool's single part still being written
    (``GrowingPart``): then the upload starts while the feed is checked, sends what is written
    so far (chunked), and completes the request only once the push ``release``s the part — the
    feed checked without an error and the guard passed. ``stop`` abandons it (an error, a
    refusal, Ctrl-C): its connection is cut, so unless its end was already handed over
    (``meter.whole``), the server gets an incomplete request and creates nothing.
    """

    def __init__(
        self,
        push: Push,
        body: SpoolPart | GrowingPart,
        take_client: Callable[[], Any],
        number: int = 1,
        parts: int = 1,
    ) -> None:
        from psykhe_cli.meter import UploadMeter

        self._push = push
        self.body = body
        self.growing = body if isinstance(body, GrowingPart) else None
        #: the body's size, once known (a part still being written: once released)
        self._size = body.size if isinstance(body, SpoolPart) else None
        self._take_client = take_client
        self.number, self.parts = number, parts
        self.meter = UploadMeter()
        self._thread: threading.Thread | None = None
        self._calls: deque[Callable[[], None]] = deque()
        self._started_at = 0.0
        #: the attempt (``meter.attempts``) whose end reached the server and was told so
        self._told_whole: int | None = None
        self.created: CreateResult | None = None
        self.error: BaseException | None = None
        #: how the server refused a chunked body, if it did (the target is then remembered)
        self.refused_chunked: ChunkedRefusal | None = None
        #: why the upload waits to be retried (429, 503, …), and the attempt that failed
        self._backing_off: tuple[str, int] | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def backing_off(self) -> str | None:
        """Why the upload is waiting to retry, while it waits."""
        waiting = self._backing_off
        return waiting[0] if waiting is not None and waiting[1] == self.meter.attempts else None

    @property
    def body_sent(self) -> bool:
        """The attempt in progress handed the body's end over: the server may get it all."""
        return self.meter.whole and self.backing_off is None

    def backlog(self) -> float:
        """Seconds the link would take to send what is written to the spool and not sent
        yet, at the rate it has taken the body so far: infinite before it took anything, not
        a number before anything was handed to it."""
        meter = self.meter
        if meter.began is None:
            return math.nan  # nothing was sent yet: nothing is known of the link
        written = self.growing.written if self.growing is not None else 0
        delivered = meter.delivered()
        waiting = written - delivered
        if waiting <= 0:
            return 0.0
        elapsed = time.monotonic() - meter.began
        if delivered <= 0 or elapsed <= 0:
            return math.inf
        return waiting / (delivered / elapsed)

    def start(self, *, record_first: bool = False) -> None:
        """Send in a thread; ``record_first``: record the attempt in the history first."""
        self._started_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(record_first,), name="psykhe-upload", daemon=True
        )
        threads.start(self._thread)

    def _run(self, record_first: bool) -> None:
        push = self._push
        try:
            client = self._take_client()
            if record_first:
                # before the first byte, as every upload: `status --last` must see this attempt
                push._uploading = True
                push._record_first()
            self.created = client.create_ingestion(
                self.body,
                mode=push.request.mode,
                meter=self.meter,
                on_retry=self._retrying,
                on_chunked_refused=self._chunked_refused,
            )
        except BaseException as exc:  # raised again (or set aside) by the main thread
            self.error = exc

    def _retrying(self, attempt: int, delay: float, reason: str) -> None:
        self._backing_off = (reason, self.meter.attempts)
        observer = self._push.observer
        self._calls.append(lambda: observer.retrying(attempt, delay, reason))

    def _chunked_refused(self, refusal: ChunkedRefusal) -> None:
        self.refused_chunked = refusal

    def pump(self) -> None:
        """Tell the observer what the upload had to tell (main thread only)."""
        while self._calls:
            self._calls.popleft()()

    def release(self, part: SpoolPart) -> None:
        """The feed is checked and the guard passed: the request may be completed."""
        assert self.growing is not None
        self._size = part.size
        self.growing.release(part)

    def wait(self, size: int) -> None:
        """Wait for the upload's outcome, telling its progress (main thread; Ctrl-C works).
        ``size``: the body's, known once the part is complete."""
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(0.1)
            self.pump()
            self._tell(size)
        self.pump()

    def _tell(self, size: int) -> None:
        meter, observer = self.meter, self._push.observer
        if self.backing_off is not None or self._told_whole == meter.attempts:
            return
        delivered = meter.delivered()
        if meter.whole and delivered >= size:
            self._told_whole = meter.attempts
            observer.uploading(self.number, self.parts, size, size)
            seconds = time.monotonic() - self._started_at
            observer.awaiting_answer(self.number, self.parts, size, seconds)
            return
        # "whole" only once every byte reached the server's side, never before
        observer.uploading(self.number, self.parts, min(delivered, size - 1), size)

    def stop(self) -> None:
        """Abandon the upload (an error, a refusal, Ctrl-C) and wait for its thread to end;
        nothing more is sent. Once it ended, nothing happens."""
        if self.growing is not None:
            self.growing.abort()
        if self._thread is not None and self._thread.is_alive():
            self.meter.stop()
            self._thread.join()

    def reached(self) -> str:
        """How much of the body the server's side acknowledged, once ``stop`` returned (what
        its application read of it may be less: the rest waits in its receive buffer)."""
        total = self._size
        of = f" of {total:,}" if total is not None else ""
        return f"{self.meter.delivered():,}{of} bytes acknowledged by the server"


class Push:
    """One run of ``psykhe push``; ``run()`` does it all and fills ``result``."""

    def __init__(
        self,
        request: PushRequest,
        settings: Settings | None,
        observer: PushObserver,
        *,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request = request
        self.settings = settings
        self.observer = observer
        self.result = PushResult(mode=request.mode, dry_run=request.dry_run)
        self.result.base_url = settings.base_url if settings else None
        self._client_factory: Any = client_factory or _default_client
        self._clock = clock
        self._record: PushRecord | None = None
        self._uploading = False
        #: the request being sent, until the server accepted it
        self._sending: _Upload | None = None
        self._feed_sha256: str | None = None
        #: lines of the requests the server accepted
        self._lines_accepted = 0
        #: the upload has started: the history keeps this push
        self._attempted = False
        #: the feed's product identifiers, written while it is validated (soft_replace)
        self._products: ProductsWriter | None = None
        self._client: IngestionClient | None = None
        self._take_client: Callable[[], IngestionClient] = self._no_client

    @staticmethod
    def _no_client() -> IngestionClient:
        raise AssertionError("the client is made once the push runs")

    # -- the pipeline ----------------------------------------------------------------------
    def run(self) -> PushResult:
        """Push the feed; raises a ``PsykheError`` (with ``result`` filled so far) on failure."""
        try:
            try:
                self._run()
            except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (cli.py)
                raise self._interrupted() from None
        except PsykheError as exc:
            self.result.error = exc
            self._remember(exit_code=exit_code_of(exc), error=exc)
            raise
        self._remember(exit_code=0)
        return self.result

    def _interrupted(self) -> Interrupted:
        """What an interruption before polling left behind (polling explains itself)."""
        ids = self.result.ingestion_ids
        before = f"; ingestion(s) {', '.join(map(str, ids))} were accepted before it" if ids else ""
        sending = self._sending if self._uploading else None
        if sending is not None and sending.backing_off is not None:
            return Interrupted(
                f"interrupted while waiting to retry the upload ({sending.backing_off}): the "
                f"server did not accept the last attempt, so it applied nothing from it{before}",
                hint="it is safe to run the same command again" if not ids else None,
            )
        if sending is not None and sending.body_sent:
            return Interrupted(
                "interrupted after the whole upload was handed to the network "
                f"({sending.reached()}), before the server answered: it may have "
                f"accepted it{before}",
                hint="check with `psykhe status --last` before sending the feed again",
            )
        if sending is not None and sending.started:
            return Interrupted(
                f"interrupted during the upload ({sending.reached()}): the server never "
                f"received the whole body, so it applied nothing from it{before}",
                hint="it is safe to run the same command again" if not ids else None,
            )
        if ids:
            return Interrupted(
                f"interrupted; ingestion(s) {', '.join(map(str, ids))} were accepted and go on "
                "on the server",
                hint=f"follow it with: psykhe status {ids[-1]} --watch",
            )
        return Interrupted("interrupted before anything was sent")

    def _run(self) -> None:
        request = self.request
        if request.mode not in (INSERT, SOFT_REPLACE):
            raise UsageError(f"unknown --mode {request.mode!r}: use insert or soft_replace")
        if request.mode == SOFT_REPLACE and request.skip_invalid:
            raise UsageError(
                "--skip-invalid cannot be used with --mode soft_replace: "
                "every skipped product would be deactivated"
            )
        if not 0 <= request.max_drop <= 100:
            raise UsageError(
                f"--max-drop must be a percentage from 0 to 100, not {request.max_drop}"
            )
        self._check_outputs()
        limit = request.batch_limit if request.mode == INSERT else None
        streams = self._streams()
        with ExitStack() as stack:
            spool = stack.enter_context(
                Spool(
                    compression_level=request.compression_level or DEFAULT_COMPRESSION_LEVEL,
                    limit=limit,
                    streamed=streams,
                )
            )
            early = _EarlyClient(lambda: self._client_factory(self.settings, self.observer))
            stack.callback(early.close)
            self._take_client = functools.partial(self._client_of, early, stack)
            sending = not request.dry_run and self.settings is not None
            rejects = stack.enter_context(RejectsFile(request.rejects))
            if sending and request.mode == SOFT_REPLACE:
                self._keep_products(stack)
            on_workers: Callable[[], None] | None = early.start if sending else None
            stream: _Upload | None = None
            if streams and spool.growing is not None:
                stream = _Upload(self, spool.growing, lambda: early.take()[0])
                # an error, a refusal or Ctrl-C before the release: the request stays incomplete
                stack.callback(stream.stop)
                on_workers = functools.partial(self._start_stream, early, stream)
            lock = stack.enter_context(ExitStack())
            try:
                parts = self._prepare(spool, rejects, on_workers, stream)
                if not request.dry_run:
                    self._lock(lock)
                self._guard()
            except PsykheError as exc:
                if stream is not None and stream.started:
                    _cut_off(exc)
                raise
            if request.dry_run:
                self.observer.notice("dry run: nothing was sent")
                return
            client = self._take_client()
            if stream is not None and stream.started:
                self._finish_stream(client, spool, parts, stream)
            else:
                self._upload(client, spool, parts)
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
        if not request.stream or request.dry_run or self.settings is None:
            return False
        if request.mode == INSERT and request.batch_limit not in (None, BatchLimit()):
            return False
        if request.mode == SOFT_REPLACE and not request.yes and self.observer.can_prompt():
            return False
        from psykhe_cli.http.chunked_memory import ChunkedMemory

        target = self._target()
        return target is None or ChunkedMemory(self.settings.state_dir).streams_to(target.name)

    def _start_stream(self, early: _EarlyClient, stream: _Upload) -> None:
        # the workers run: threads may start now (never before: workers are forked)
        early.start()
        self._sending = stream
        stream.start(record_first=True)
        self.observer.notice("uploading while the feed is checked")

    def _check_outputs(self) -> None:
        from psykhe_cli.feeds import STDIN
        from psykhe_cli.outputs import check_outputs

        request = self.request
        feeds = [source.path for source in request.sources if source.path != STDIN]
        outputs = {"--rejects": request.rejects, "--plan-file": request.plan_file}
        check_outputs(outputs, feeds)

    def _keep_products(self, stack: ExitStack) -> None:
        """Keep the feed's product identifiers, to become the target's baseline if accepted."""
        from psykhe_cli.plan import ProductsWriter

        try:
            path = self._state().new_baseline_file()
            self._products = ProductsWriter(path)
        except OSError as exc:
            self.observer.notice(
                f"cannot keep this feed's product identifiers in the state directory "
                f"({exc.strerror or exc}): the next full sync will show no plan"
            )
            return
        stack.callback(self._drop_products)

    def _drop_products(self) -> None:
        """Remove the identifiers not taken as a pending baseline (nothing was accepted)."""
        if self._products is not None:
            self._products.close()
            with contextlib.suppress(OSError):
                self._products.path.unlink()

    def _client_of(self, early: _EarlyClient, stack: ExitStack) -> IngestionClient:
        """The HTTP client, made once; closed when the push ends."""
        if self._client is None:
            self._client, close = early.take()
            stack.callback(close)
        return self._client

    def _lock(self, stack: ExitStack) -> None:
        """One sync at a time per target: exclusive for soft_replace, shared for insert."""
        target = self._target()
        if target is None:
            return
        store = self._state()
        try:
            stack.enter_context(
                store.sync_lock(
                    target, exclusive=self.request.mode == SOFT_REPLACE, wait=self.request.wait_lock
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot lock the state directory {store.state_dir}: {exc.strerror or exc}; "
                "nothing was sent",
                hint="check XDG_STATE_HOME and the directory's permissions",
            ) from exc

    def _prepare(
        self,
        spool: Spool,
        rejects: RejectsFile,
        on_workers: Callable[[], None] | None,
        stream: _Upload | None = None,
    ) -> list[SpoolPart]:
        started = self._clock()
        request = self.request
        # Blocks compressed where they are checked keep both cores busy; not when parts are
        # cut at a limit, nor when strict duplicates must be dropped from what is sent.
        deflate_here = spool.limit == BatchLimit() and not (
            request.validation.strict and request.skip_invalid
        )
        level: int | Pacer = request.compression_level or DEFAULT_COMPRESSION_LEVEL
        if stream is not None and request.compression_level is None:
            level = Pacer(stream.backlog, stream.meter.delivered)
        observer = self.observer

        def preparing(lines: int, bytes_read: int) -> None:
            observer.preparing(lines, bytes_read)
            if stream is not None:
                stream.pump()

        report = check_feeds(
            request.sources,
            request.validation,
            on_problem=observer.problem,
            on_records=spool.write,
            codec=BlockDeflater(level) if deflate_here else None,
            on_encoded=spool.write_deflated,
            on_rejected=rejects.write if request.skip_invalid else None,
            on_progress=preparing,
            on_notice=observer.notice,
            on_products=self._products.add if self._products is not None else None,
            want_product_hashes=request.mode == SOFT_REPLACE,
            on_workers=on_workers,  # threads start then: never before (psykhe_cli.threads)
        )
        if isinstance(level, Pacer) and level.used:
            observer.debug(f"compression levels (blocks at each): {level.describe()}")
        if self._products is not None:
            self._products.close()
        parts = spool.finish()
        rejects.commit()  # the feed was read to its end
        result = self.result
        result.report = report
        result.lines = spool.lines
        result.products, result.variants = report.products, report.variants
        result.warnings = report.warnings
        result.raw_bytes = sum(part.raw_bytes for part in parts)
        result.compressed_bytes = sum(part.size for part in parts)
        result.phases["preparing"] = self._clock() - started
        self._feed_sha256 = spool.feed_sha256.hexdigest()
        if report.errors:
            if not self.request.skip_invalid:
                raise InputError(
                    f"{report.errors} error(s) in the feed; nothing was sent",
                    hint="fix the lines above, or send the valid ones with --skip-invalid",
                )
            result.rejected = report.rejected_lines
        self.observer.prepared(result)
        if not parts:
            if self.request.mode == SOFT_REPLACE:
                raise GuardRefused(
                    "the feed has no products: soft_replace would deactivate the whole "
                    "catalog; nothing was sent"
                )
            raise InputError("the feed has no product lines; nothing was sent")
        return parts

    # -- the soft_replace guard ------------------------------------------------------------
    def _guard(self) -> None:
        if self.request.mode != SOFT_REPLACE:
            return
        request, result = self.request, self.result
        target = self._target()
        syncs = self._full_syncs(target) if target is not None else None
        reference = syncs.reference if syncs is not None else None
        result.previous_products = reference.products if reference else None
        result.previous_variants = reference.variants if reference else None
        plan = self._plan(reference)
        drops = self._drops(reference)
        if drops and not request.force:
            assert reference is not None and syncs is not None and target is not None
            compared = _described(reference, syncs, target.base_url)
            raise GuardRefused(
                f"{_drops_text(drops, request.max_drop)} of {compared}; nothing was sent",
                hint="if the catalog really shrank, pass --force (or a higher --max-drop)",
            )
        for what, previous, now in drops:  # only with --force
            result.overrides.append(
                {
                    "check": f"{what}_drop",
                    "previous": previous,
                    "feed": now,
                    "max_drop": request.max_drop,
                }
            )
            self.observer.warning(
                f"--force: sending although {what} fell from {previous:,} to {now:,}, "
                f"more than --max-drop {request.max_drop:g}%"
            )
        if request.dry_run:
            self.observer.notice(self._dry_run_verdict())
            return
        if request.yes:
            return
        if not self.observer.can_prompt():
            raise GuardRefused(
                "soft_replace deactivates every product missing from the feed and needs "
                "confirmation, but there is no terminal to ask on; nothing was sent",
                hint="pass --yes to confirm in scripts and cron jobs",
            )
        question = GuardQuestion(
            base_url=result.base_url or "(not configured)",
            products=result.products,
            variants=result.variants,
            compressed_bytes=result.compressed_bytes,
            previous_products=result.previous_products,
            previous_variants=result.previous_variants,
            plan=plan,
            protected_profile=self._protected_profile(),
        )
        if not self.observer.confirm(question):
            raise GuardRefused("soft_replace was not confirmed; nothing was sent")

    def _plan(self, reference: FullSync | None) -> Plan | None:
        """Compare the feed with the baseline; ``result.plan``, ``--plan-file``, a notice."""
        from psykhe_cli.outputs import OutputFile
        from psykhe_cli.plan import ProductsFileError, compare

        request, result = self.request, self.result
        report = result.report
        output = OutputFile(request.plan_file, "--plan-file") if request.plan_file else None
        path = self._state().baseline_path(reference) if reference is not None else None
        if path is None or report is None or report.product_hashes is None:
            if output is not None:
                output.withdraw()  # no plan: an older one must not pass for this run's
            result.plan = plan_json(reference, None)
            if reference is None:
                target = self._target()
                unknown = target.nothing_known if target else "no full sync is remembered"
                self.observer.notice(f"no plan: {unknown}")
            else:
                self.observer.notice("no plan: the identifiers of the last full sync were not kept")
            return None
        try:
            handle = output.open() if output is not None else None
            plan = compare(report.product_hashes, result.products, path, plan_file=handle)
            if output is not None:
                output.commit()
        except (OSError, ProductsFileError) as exc:
            self.observer.notice(f"no plan: the baseline's identifiers cannot be read ({exc})")
            result.plan = plan_json(reference, None)
            if output is not None:
                output.withdraw()
            return None
        finally:
            if output is not None:
                output.abort()
        result.plan = plan_json(reference, plan)
        self.observer.notice(plan_text(plan))
        return plan

    def _drops(self, reference: FullSync | None) -> list[tuple[str, int, int]]:
        """(products|variants, before, now) of each count that fell by more than --max-drop."""
        if reference is None:
            return []
        keep = (100 - self.request.max_drop) / 100
        counts = [("products", reference.products, self.result.products)]
        if reference.variants is not None:
            counts.append(("variants", reference.variants, self.result.variants))
        return [(what, before, now) for what, before, now in counts if now < before * keep]

    def _dry_run_verdict(self) -> str:
        if self.request.yes:
            return "dry run: the guard would let this soft_replace through (--yes)"
        return "dry run: the guard would ask for confirmation (or --yes) before sending"

    def _full_syncs(self, target: Target) -> FullSyncs:
        """What is remembered of the target's full syncs, once the pending ones that have
        ended on the server since are settled (a status lookup each)."""
        store = self._state()
        syncs = store.full_syncs(target)
        settled = False
        for pending in syncs.pending:
            if pending.ingestion_id is None or self.settings is None:
                continue
            try:
                ingestion = self._take_client().get_ingestion(pending.ingestion_id)
            except PsykheError as exc:
                self.observer.notice(
                    f"the outcome of full sync {pending.ingestion_id} is not known "
                    f"({exc.message}): comparing with the larger of it and the last completed"
                )
                continue
            if ingestion.is_terminal:
                store.settle_full_sync(target, ingestion.id, completed=ingestion.succeeded)
                settled = True
        return store.full_syncs(target) if settled else syncs

    def _protected_profile(self) -> str | None:
        settings = self.settings
        if settings is None or not settings.protected:
            return None
        return settings.profile or "default"  # the config file's top level, when protected

    # -- upload ----------------------------------------------------------------------------
    def _upload(self, client: IngestionClient, spool: Spool, parts: list[SpoolPart]) -> None:
        self.observer.sending()
        started = self._clock()
        self._uploading = True
        # before the first byte: `status --last` must see this attempt; a state directory
        # that cannot record it stops the push here, with nothing sent (never after)
        self._record_first()
        queue = deque(parts)
        done = 0
        try:
            while queue:
                part = queue.popleft()
                number, total = done + 1, done + 1 + len(queue)
                upload = _Upload(self, part, lambda: client, number, total)
                self._sending = upload
                self.observer.uploading(number, total, 0, part.size)
                try:
                    upload.start()
                    upload.wait(part.size)
                finally:
                    upload.stop()  # Ctrl-C: nothing more goes out
                try:
                    created = self._outcome(upload)
                except PayloadTooLarge as exc:
                    try:
                        halves = self._split(spool, part, exc)
                    except OSError as error:  # TMPDIR full: say what was sent and what not
                        unsent = part.lines + sum(rest.lines for rest in queue)
                        raise self._split_failed(spool, part, unsent, error, exc) from None
                    queue.extendleft(reversed(halves))
                    continue
                except PsykheError as exc:
                    self._tell_what_was_accepted(exc, number, total)
                    raise
                done += 1
                self._accepted(created, part, number, total)
            self._uploading = False
        finally:
            self.result.phases["uploading"] = self._clock() - started

    @staticmethod
    def _outcome(upload: _Upload) -> CreateResult:
        """What the server made of an upload that ended: its answer, or the error raised."""
        if upload.error is not None:
            raise upload.error
        assert upload.created is not None
        return upload.created

    def _accepted(self, created: CreateResult, part: SpoolPart, number: int, total: int) -> None:
        """The server accepted ``part`` (request ``number`` of ``total``): record it."""
        self._lines_accepted += part.lines
        self._sending = None
        self.result.requests = number
        self.result.bytes_sent += part.size
        self.result.ingestion_ids.append(created.ingestion_id)
        self.result.status = "created"
        self.observer.created(created.ingestion_id, number, total)
        self._remember()
        if self.request.mode == SOFT_REPLACE:
            self._remember_pending(created.ingestion_id)

    def _finish_stream(
        self, client: IngestionClient, spool: Spool, parts: list[SpoolPart], stream: _Upload
    ) -> None:
        """Complete the upload started while the feed was checked, now that it may be."""
        [part] = parts  # a streamed spool has no limit: one part
        self.observer.sending()
        started = self._clock()
        stream.release(part)
        try:
            stream.wait(part.size)
        finally:
            self.result.phases["uploading"] = self._clock() - started
        if stream.refused_chunked is not None:
            self._refuses_chunked(stream.refused_chunked)
        if isinstance(stream.error, PayloadTooLarge):
            self._upload(client, spool, list(self._split(spool, part, stream.error)))
            return
        self._accepted(self._outcome(stream), part, 1, 1)
        self._uploading = False

    def _refuses_chunked(self, refusal: ChunkedRefusal) -> None:
        """Remember how the target refused a chunked body, and say what follows from it."""
        from psykhe_cli.http.chunked_memory import ChunkedMemory

        target = self._target()
        assert self.settings is not None and target is not None  # only a streamed push
        self.observer.notice(ChunkedMemory(self.settings.state_dir).remember(target.name, refusal))

    def _split_failed(
        self, spool: Spool, part: SpoolPart, unsent: int, error: OSError, refusal: PayloadTooLarge
    ) -> RejectedError:
        ids = self.result.ingestion_ids
        sent = (
            f"accepted before it: ingestion(s) {', '.join(map(str, ids))} "
            f"({self._lines_accepted:,} lines); not sent: {unsent:,} lines"
            if ids
            else f"nothing was accepted; not sent: {unsent:,} lines"
        )
        return RejectedError(
            f"the server refused {part.lines:,} lines as too large, and they could not be "
            f"split: cannot write the temporary spool in {spool.directory.parent} (TMPDIR): "
            f"{error.strerror or error}; {sent}",
            hint="free space in TMPDIR, or point TMPDIR at a directory with room, and send the "
            "feed again (insert upserts: the lines already accepted are not duplicated)",
            http_status=refusal.http_status,
            api_code=refusal.api_code,
            ingestion_id=refusal.ingestion_id,
        )

    def _tell_what_was_accepted(self, exc: PsykheError, number: int, total: int) -> None:
        """A later part failed: the ingestions of the parts before it stand, so name them."""
        ids = self.result.ingestion_ids
        if not ids:
            return
        accepted = (
            f"ingestion(s) {', '.join(map(str, ids))} of the part(s) before it were accepted "
            "and go on on the server"
        )
        follow = f"follow them with: psykhe status {ids[-1]} --watch"
        if isinstance(exc, UploadFailed):
            exc.reword(
                f"part {number} of {total} of the upload failed {exc.attempts} time(s), last: "
                f"{exc.last}; nothing from that part was processed, but {accepted}",
                hint=f"{follow}; sending the whole feed again is safe (products are "
                "upserted), but makes those ingestions again",
            )
        else:
            exc.reword(f"{exc.message} (part {number} of {total}); {accepted}", hint=follow)

    def _split(self, spool: Spool, part: SpoolPart, exc: PayloadTooLarge) -> tuple[SpoolPart, ...]:
        if self.request.mode == SOFT_REPLACE:
            raise RejectedError(
                f"the server refused the catalog as too large ({part.raw_bytes:,} bytes, "
                f"{part.lines:,} lines); soft_replace cannot be split into several requests, "
                "because each would deactivate the products of the others",
                hint="send it with --mode insert (which can be split), or ask PSYKHE to "
                "raise the limit",
                http_status=exc.http_status,
                api_code=exc.api_code,
                ingestion_id=exc.ingestion_id,
            ) from None
        if part.lines < 2:
            raise exc
        halves = spool.split(part)
        self.observer.notice(
            f"the server refused {part.lines:,} lines as too large; sending them as "
            f"{halves[0].lines:,} + {halves[1].lines:,}"
        )
        return halves

    # -- polling ---------------------------------------------------------------------------
    def _follow(self, client: IngestionClient) -> None:
        from psykhe_cli.poll import wait_for_ingestion

        started = self._clock()
        deadline = started + self.request.timeout
        current = None
        try:
            for ingestion_id in self.result.ingestion_ids:
                current = ingestion_id
                final = wait_for_ingestion(
                    client,
                    ingestion_id,
                    timeout=round(max(0.0, deadline - self._clock()), 3),
                    poll_interval=self.request.poll_interval,
                    on_update=self._on_update,
                    on_error=self.observer.poll_failed,
                )
                if self.request.mode == SOFT_REPLACE and final.is_terminal:
                    self._settle(ingestion_id, completed=final.succeeded)
                if final.failed:
                    raise IngestionFailed(
                        f"ingestion {ingestion_id} FAILED on the server",
                        hint="the server's ingestion logs tell why; psykhe status "
                        f"{ingestion_id} shows what it reported",
                    )
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted while waiting; ingestion {current} was accepted and goes on "
                "on the server",
                hint=f"follow it with: psykhe status {current} --watch",
            ) from None
        except (IngestionFailed, WaitTimeout):
            raise  # they name the ingestion already
        except PsykheError as exc:  # a refused key, a 404, an answer about another id
            follow = f"follow it with: psykhe status {current} --watch"
            exc.reword(
                f"ingestion {current} was accepted and goes on on the server, but following "
                f"it failed: {exc.message}",
                hint=f"{exc.hint}; then {follow}" if exc.hint else follow,
            )
            raise
        finally:
            self.result.phases["processing"] = self._clock() - started

    def _on_update(self, ingestion: Ingestion) -> None:
        self.result.ingestions[ingestion.id] = ingestion
        self.result.status = overall_status(
            [
                self.result.ingestions[i].status_name if i in self.result.ingestions else "created"
                for i in self.result.ingestion_ids
            ]
        )
        self.observer.processing(ingestion)

    # -- local state -----------------------------------------------------------------------
    def _target(self) -> Target | None:
        from psykhe_cli.state import Target

        return Target.of(self.settings) if self.settings is not None else None

    def _state(self) -> StateStore:
        from psykhe_cli.state import StateStore

        assert self.settings is not None
        return StateStore.of(self.settings)

    def _remember_pending(self, ingestion_id: int) -> None:
        """A soft_replace was accepted: the drop guard and the plan remember it now."""
        from psykhe_cli.state import FullSync

        target = self._target()
        if target is None:
            return
        sync = FullSync(
            products=self.result.products,
            variants=self.result.variants,
            ingestion_id=ingestion_id,
        )
        products = self._products.path if self._products is not None else None
        self._quietly(lambda: self._state().remember_pending(target, sync, products))
        self._products = None  # moved into the baselines: no longer this push's to remove

    def _settle(self, ingestion_id: int, *, completed: bool) -> None:
        target = self._target()
        if target is not None:
            self._quietly(
                lambda: self._state().settle_full_sync(target, ingestion_id, completed=completed)
            )

    def _remember(
        self,
        exit_code: int | None = None,
        error: PsykheError | None = None,
        *,
        strict: bool = False,
    ) -> None:
        """Save this push in the history from its first byte sent on (for ``--last``).

        ``strict``: a history that cannot be written is a ``ConfigError`` (nothing was sent
        yet); otherwise only a notice, since the server may have accepted something.
        """
        target = self._target()
        if target is None or not (self._attempted or self._uploading):
            return  # nothing was sent: nothing for `status --last` to look at
        self._attempted = True
        from psykhe_cli.state import PushRecord

        values: dict[str, Any] = {
            "ingestion_ids": tuple(self.result.ingestion_ids),
            "lines": self.result.lines,
            "products": self.result.products,
            "variants": self.result.variants,
            "bytes_sent": self.result.bytes_sent,
            "feed_sha256": self._feed_sha256,
            "status": self._record_status(exit_code, error),
            "exit_code": exit_code,
        }
        if self._record is None:
            self._record = PushRecord.start(target, mode=self.request.mode, **values)
        else:
            from dataclasses import replace

            self._record = replace(self._record, **values)
        record = self._record
        if not strict:
            self._quietly(lambda: self._state().save_push(record))
            return
        try:
            self._state().save_push(record)
        except (OSError, ConfigError):
            self._attempted = self._uploading = False  # nothing to record: nothing was sent
            raise

    def _record_first(self) -> None:
        """Before the first byte: record the attempt, or stop with nothing sent."""
        store = self._state()
        try:
            self._remember(strict=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot record this push in the state directory {store.state_dir}: "
                f"{exc.strerror or exc}; nothing was sent",
                hint="check XDG_STATE_HOME: psykhe keeps its history and full-sync counts there",
            ) from None
        except ConfigError as exc:
            raise ConfigError(f"{exc.message}; nothing was sent", hint=exc.hint) from None

    def _record_status(self, exit_code: int | None, error: PsykheError | None) -> str | None:
        """What the history says of this push: the ingestions' status once one was accepted,
        ``sending`` while the upload goes on, ``outcome_unknown``, or the error's code."""
        if exit_code == ExitCode.OUTCOME_UNKNOWN:
            return "outcome_unknown"
        if self.result.ingestion_ids:
            return self.result.status
        if exit_code is None:
            return "sending"
        if isinstance(error, Interrupted) and self._sending is not None and self._sending.body_sent:
            return "outcome_unknown"
        return error.code if error is not None else self.result.status

    def _quietly(self, write: Callable[[], object]) -> None:
        try:
            write()
        except (OSError, PsykheError) as exc:
            self.observer.notice(f"could not update the local state directory: {exc}")


def _cut_off(exc: PsykheError) -> None:
    """An error before a streamed upload was released: part of the body did go out, but the
    request was cut off before its end, so the server applied nothing from it."""
    cut = "the upload begun meanwhile was cut off before its end, so nothing was applied"
    message = re.sub(
        r"\b([Nn])othing was sent\b",
        lambda found: cut.capitalize() if found[1] == "N" else cut,
        exc.message,
    )
    if message != exc.message:
        exc.reword(message, hint=exc.hint)


def _drops_text(drops: list[tuple[str, int, int]], max_drop: float) -> str:
    """``the feed has 3 products, fewer than 50% of the 10, and 9 variants, …``."""
    share = f"{100 - max_drop:.15g}%"  # never rounded up to a share it is not (1e-9: 100%)
    parts = [f"{now:,} {what}, fewer than {share} of the {before:,}" for what, before, now in drops]
    return "the feed has " + ", and ".join(parts)


def _described(sync: FullSync, syncs: FullSyncs, base_url: str) -> str:
    """Which full sync the guard compared with."""
    which = f"ingestion {sync.ingestion_id}, " if sync.ingestion_id is not None else ""
    if sync is syncs.completed:
        return f"the last full sync to {base_url} ({which}{sync.time})"
    return f"the full sync to {base_url} accepted at {sync.time} ({which}outcome not known yet)"


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
        "deactivate_sample": list(plan.sample) if plan else [],
    }


def plan_text(plan: Plan) -> str:
    """One line: the plan's counts."""
    return (
        f"plan: deactivate {plan.deactivate:,}, new {plan.new:,}, kept {plan.kept:,} "
        "(against the last full sync's products)"
    )
