"""The background task that moves ingestions CREATED → STARTED → COMPLETED/FAILED.

Ingestions are processed one at a time in the order they were accepted (a client's feeds must
apply in order), each spending ``processing_delay`` seconds in CREATED and again in STARTED
so clients really poll. The database work runs in a thread; the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from psykhe_cli.sandbox.store import Store

log = logging.getLogger("psykhe.sandbox")


class Worker:
    """Processes the ingestions queued by ``submit``; start and stop inside the event loop."""

    def __init__(self, store: Store, delay: float) -> None:
        self.store = store
        self.delay = delay
        self._queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin processing, first the ingestions a previous run left unfinished."""
        for ingestion_id in self.store.unfinished():
            self.submit(ingestion_id)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def submit(self, ingestion_id: int) -> None:
        """Queue an accepted ingestion."""
        self._queue.put_nowait((ingestion_id, self.store.generation))

    def clear(self) -> None:
        """Drop everything queued (the store's reset makes in-flight work a no-op)."""
        while not self._queue.empty():
            self._queue.get_nowait()

    async def stop(self) -> None:
        """Stop processing; a half-applied ingestion is rolled back and stays STARTED."""
        if self._task is None:
            return
        self._task.cancel()
        self.store.interrupt()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            ingestion_id, generation = await self._queue.get()
            try:
                await self._advance(ingestion_id, generation)
            except asyncio.CancelledError:
                raise
            except Exception:
                if generation == self.store.generation:
                    log.exception("processing ingestion %d failed", ingestion_id)

    async def _advance(self, ingestion_id: int, generation: int) -> None:
        await asyncio.sleep(self.delay)
        outcome = await asyncio.to_thread(self.store.mark_started, ingestion_id, generation)
        if outcome == "stalled":
            return  # stays STARTED until a reset
        await asyncio.sleep(self.delay)
        await asyncio.to_thread(self.store.process, ingestion_id, generation)
