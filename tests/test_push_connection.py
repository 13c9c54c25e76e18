"""The early client: made in a thread once the workers are forked, closed whatever happened."""

from __future__ import annotations

import pytest

from psykhe_cli import threads
from psykhe_cli.push.connection import EarlyClient


def test_a_signal_before_the_client_thread_starts_leaves_close_safe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SIGHUP in the streamed-push test landed between the thread's making and its start;
    # closing then joined a thread never started (RuntimeError: an internal error, exit 1)
    closed: list[bool] = []

    def make() -> tuple[object, object]:
        return object(), lambda: closed.append(True)

    def interrupted(thread: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(threads, "start", interrupted)
    early = EarlyClient(make)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        early.start()
    early.close()  # no RuntimeError, and no client was made to close
    assert closed == []
