"""The upload: each request's body sent in a thread of its own, the main thread telling its
progress; the spool's parts one request at a time; an insert part the server refuses as too
large split in two and sent again.

What happens is reported through callbacks (``on_accepted``, ``on_chunked_refused``, the
``before_first_byte`` of a job) and the observer; nothing here holds the push that runs it.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from psykhe_cli import threads
from psykhe_cli.errors import PayloadTooLarge, PsykheError, RejectedError
from psykhe_cli.meter import UploadMeter
from psykhe_cli.push.model import Mode
from psykhe_cli.spool import GrowingPart, SpoolPart

if TYPE_CHECKING:
    from psykhe_cli.client import ChunkedRefusal, CreateResult, IngestionClient
    from psykhe_cli.push.observer import PushObserver
    from psykhe_cli.spool import Spool

#: ``on_accepted(created, part, number, total)``: request ``number`` of ``total`` was accepted
Accepted = Callable[["CreateResult", SpoolPart, int, int], None]


class Upload:
    """One request's upload, in a thread of its own while the main thread waits for it and
    tells its progress. Everything it has to tell the observer is queued and told by the main
    thread (``pump``): the display is never driven from two threads.

    The body is a spool part, or the spool's single part still being written
    (``GrowingPart``): then the upload starts while the feed is checked, sends what is written
    so far (chunked), and completes the request only once it is ``release``d — the feed
    checked without an error and the guard passed. ``stop`` abandons it (an error, a refusal,
    Ctrl-C): its connection is cut, so unless its end was already handed over
    (``meter.whole``), the server gets an incomplete request and creates nothing.
    """

    def __init__(
        self,
        body: SpoolPart | GrowingPart,
        take_client: Callable[[], IngestionClient],
        *,
        mode: Mode,
        observer: PushObserver,
        number: int = 1,
        parts: int = 1,
    ) -> None:
        self.body = body
        self.growing = body if isinstance(body, GrowingPart) else None
        #: the body's size, once known (a part still being written: once released)
        self.size = body.size if isinstance(body, SpoolPart) else None
        self._take_client = take_client
        self._mode = mode
        self._observer = observer
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

    def start(self, before_first_byte: Callable[[], None] | None = None) -> None:
        """Send in a thread; ``before_first_byte`` runs there first (its error ends it)."""
        self._started_at = time.monotonic()
        self._thread = threading.Thread(
            target=self._run, args=(before_first_byte,), name="psykhe-upload", daemon=True
        )
        threads.start(self._thread)

    def _run(self, before_first_byte: Callable[[], None] | None) -> None:
        try:
            client = self._take_client()
            if before_first_byte is not None:
                before_first_byte()
            self.created = client.create_ingestion(
                self.body,
                mode=self._mode,
                meter=self.meter,
                on_retry=self._retrying,
                on_chunked_refused=self._chunked_refused,
            )
        except BaseException as exc:  # raised again (or set aside) by the main thread
            self.error = exc

    def _retrying(self, attempt: int, delay: float, reason: str) -> None:
        self._backing_off = (reason, self.meter.attempts)
        observer = self._observer
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
        self.size = part.size
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
        meter, observer = self.meter, self._observer
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

    def outcome(self) -> CreateResult:
        """What the server made of the upload, once it ended: its answer, or the error."""
        if self.error is not None:
            raise self.error
        assert self.created is not None
        return self.created

    def reached(self) -> str:
        """How much of the body the server's side acknowledged, once ``stop`` returned (what
        its application read of it may be less: the rest waits in its receive buffer)."""
        of = f" of {self.size:,}" if self.size is not None else ""
        return f"{self.meter.delivered():,}{of} bytes acknowledged by the server"


class Uploader:
    """Sends a push's requests: the spool's parts one at a time, or completes the one
    streamed while the feed was checked. ``current``: the request being sent, until the
    server accepted it."""

    def __init__(
        self,
        spool: Spool,
        take_client: Callable[[], IngestionClient],
        *,
        mode: Mode,
        observer: PushObserver,
        on_accepted: Accepted,
    ) -> None:
        self._spool = spool
        self._take_client = take_client
        self._mode = mode
        self._observer = observer
        self._on_accepted = on_accepted
        self.current: Upload | None = None
        #: the ingestions accepted so far, and their lines
        self.accepted: list[int] = []
        self._lines_accepted = 0

    def streamed(self, growing: GrowingPart) -> Upload:
        """The job that sends the spool's single part while it is written."""
        return Upload(growing, self._take_client, mode=self._mode, observer=self._observer)

    def start_stream(self, stream: Upload, before_first_byte: Callable[[], None]) -> None:
        """Start sending ``stream`` (once the validation workers are forked)."""
        self.current = stream
        stream.start(before_first_byte)

    def send(self, parts: list[SpoolPart]) -> None:
        """Send each part as one request; an insert part refused as too large is split."""
        queue = deque(parts)
        done = len(self.accepted)
        while queue:
            part = queue.popleft()
            number, total = done + 1, done + 1 + len(queue)
            upload = Upload(
                part,
                self._take_client,
                mode=self._mode,
                observer=self._observer,
                number=number,
                parts=total,
            )
            self.current = upload
            self._observer.uploading(number, total, 0, part.size)
            try:
                upload.start()
                upload.wait(part.size)
            finally:
                upload.stop()  # Ctrl-C: nothing more goes out
            try:
                created = upload.outcome()
            except PayloadTooLarge as exc:
                try:
                    halves = self._split(part, exc)
                except OSError as error:  # TMPDIR full: say what was sent and what not
                    unsent = part.lines + sum(rest.lines for rest in queue)
                    raise self._split_failed(part, unsent, error, exc) from None
                queue.extendleft(reversed(halves))
                continue
            except PsykheError as exc:
                if self.accepted:  # the ingestions of the parts before it stand: named
                    exc.accepted, exc.part = tuple(self.accepted), (number, total)
                raise
            done += 1
            self._accept(created, part, number, total)

    def finish_stream(
        self, stream: Upload, part: SpoolPart, on_chunked_refused: Callable[[ChunkedRefusal], None]
    ) -> None:
        """Complete the upload started while the feed was checked, now that it may be."""
        stream.release(part)
        stream.wait(part.size)
        if stream.refused_chunked is not None:
            on_chunked_refused(stream.refused_chunked)
        if isinstance(stream.error, PayloadTooLarge):
            self.send(list(self._split(part, stream.error)))
            return
        self._accept(stream.outcome(), part, 1, 1)

    def _accept(self, created: CreateResult, part: SpoolPart, number: int, total: int) -> None:
        self.current = None
        self.accepted.append(created.ingestion_id)
        self._lines_accepted += part.lines
        self._on_accepted(created, part, number, total)

    def _split(self, part: SpoolPart, exc: PayloadTooLarge) -> tuple[SpoolPart, ...]:
        if self._mode == Mode.SOFT_REPLACE:
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
        halves = self._spool.split(part)
        self._observer.notice(
            f"the server refused {part.lines:,} lines as too large; sending them as "
            f"{halves[0].lines:,} + {halves[1].lines:,}"
        )
        return halves

    def _split_failed(
        self, part: SpoolPart, unsent: int, error: OSError, refusal: PayloadTooLarge
    ) -> RejectedError:
        ids = self.accepted
        sent = (
            f"accepted before it: ingestion(s) {', '.join(map(str, ids))} "
            f"({self._lines_accepted:,} lines); not sent: {unsent:,} lines"
            if ids
            else f"nothing was accepted; not sent: {unsent:,} lines"
        )
        return RejectedError(
            f"the server refused {part.lines:,} lines as too large, and they could not be "
            f"split: cannot write the temporary spool in {self._spool.directory.parent} "
            f"(TMPDIR): {error.strerror or error}; {sent}",
            hint="free space in TMPDIR, or point TMPDIR at a directory with room, and send the "
            "feed again (insert upserts: the lines already accepted are not duplicated)",
            http_status=refusal.http_status,
            api_code=refusal.api_code,
            ingestion_id=refusal.ingestion_id,
        )
