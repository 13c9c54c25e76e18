"""Where macOS and Windows differ from Linux: each fallback, simulated by removing the
Linux-only attribute in-process (the code must not assume it exists)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from psykhe_cli.render import push as render_push
from psykhe_cli.sandbox import runner
from psykhe_cli.spool import Spool
from psykhe_cli.terminal import Environment
from psykhe_cli.validate import ValidationOptions
from psykhe_cli.validate.workers import Workers, usable_cpus


def test_without_sched_getaffinity_validation_still_gets_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # macOS and Windows have no affinity API: the workers must not silently drop to none
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert usable_cpus() == 8
    assert Workers(ValidationOptions()).count == 2
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert Workers(ValidationOptions()).count == 0  # one CPU (or unknown): in-process


def test_without_o_noctty_the_question_is_refused_not_crashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows: no O_NOCTTY and no /dev/tty. "internal error: AttributeError" before.
    monkeypatch.delattr(os, "O_NOCTTY", raising=False)
    opened: list[str] = []

    def no_tty(path: str, flags: int, *args: Any) -> int:
        opened.append(path)
        raise FileNotFoundError(2, "No such file or directory", path)

    monkeypatch.setattr(os, "open", no_tty)
    assert render_push._tty_read("Deactivate? ") is None
    assert render_push.tty_available() is False
    env = Environment(
        stdin=None,  # type: ignore[arg-type]
        stdout=None,  # type: ignore[arg-type]
        stderr=None,  # type: ignore[arg-type]
        stdin_isatty=True,
        stdout_isatty=True,
        stderr_isatty=True,
    )
    assert render_push.PlainObserver(env).can_prompt() is False
    assert opened == ["/dev/tty", "/dev/tty", "/dev/tty"]


def test_without_tcgetpgrp_ctrl_c_is_not_forwarded_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # Windows: a console's Ctrl-C reaches the child too; there is no process group to ask
    monkeypatch.delattr(os, "tcgetpgrp", raising=False)
    monkeypatch.setattr(os, "isatty", lambda fd: True)
    assert runner._terminal_sends_sigint_to_child() is True


def test_spool_is_opened_binary_where_the_platform_has_text_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    o_binary = 0x8000  # Windows' value; Linux has none
    monkeypatch.setattr(os, "O_BINARY", o_binary, raising=False)
    real_open = os.open
    flags_seen: list[int] = []

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if Path(path).name.startswith("part-"):  # the spool's own files
            flags_seen.append(flags)
        return real_open(path, flags & ~o_binary, mode, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    with Spool(directory=str(tmp_path)) as spool:
        spool.write([b'{"a":1}\n'])
        spool.finish()
    assert flags_seen and all(flags & o_binary for flags in flags_seen)
