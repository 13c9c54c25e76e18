"""Reliability matrix, input, process and output faults: the real ``psykhe`` as a subprocess.

Signals are sent once the child is known to be in the phase under test — seen in the sandbox's
request log or on the child's stderr — never after a blind sleep; every wait is bounded.

Rows covered elsewhere: no input with stdin a terminal → exit 2 at once
(``test_push_tty.py::test_no_feed_and_stdin_a_terminal_is_a_usage_error_at_once``); empty
stdin in insert → exit 3, 0 requests
(``test_push.py::test_push_empty_feed_insert_is_invalid_input``).
"""

from __future__ import annotations

import base64
import os
import re
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from psykhe_cli.errors import EXIT_CODE_MEANINGS
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    PSYKHE,
    catalog,
    isolated_env,
    nothing_but_key_checks,
    posts,
    product,
    psykhe,
    wrapped,
    write_feed,
)

ANSI = re.compile(r"\x1b[\[\]()]")
SPINNER = re.compile("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏━]")


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


class Child:
    """``psykhe ARGS`` running in the background, its stderr collected as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], stdin: int | IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [*PSYKHE, *args],
            env=env,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._stderr = bytearray()
        self._stdout = bytearray()
        self._readers = [
            threading.Thread(target=self._drain, args=(self.process.stderr, self._stderr)),
            threading.Thread(target=self._drain, args=(self.process.stdout, self._stdout)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _drain(stream: IO[bytes] | None, into: bytearray) -> None:
        assert stream is not None
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            into.extend(chunk)

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    @property
    def stdout(self) -> str:
        return self._stdout.decode("utf-8", "replace")

    def wait_for_stderr(self, text: str, timeout: float = 20.0) -> None:
        wait_until(
            lambda: text in self.stderr or self.process.poll() is not None, timeout, repr(text)
        )
        assert text in self.stderr, self.stderr

    def finish(self, timeout: float = 30.0) -> int:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join(10)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
        return code


def spool_leftovers(home: Path) -> list[str]:
    tmp = home / "tmp"
    return sorted(os.listdir(tmp)) if tmp.exists() else []


def incompressible_feed(path: Path, lines: int) -> Path:
    """A feed whose gzip is nearly as big as the feed (random titles), for slow uploads."""
    items = (
        product(f"R{i:06d}", title=base64.b85encode(os.urandom(800)).decode()) for i in range(lines)
    )
    path.write_bytes(b"".join(wrapped(item) for item in items))
    return path


# -- input ---------------------------------------------------------------------------------


def test_missing_file_exits_3_naming_the_path(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    missing = tmp_path / "nowhere" / "feed.jsonl"
    out = psykhe("push", str(missing), env=env)
    assert out.returncode == 3
    assert f"psykhe: error: {missing}: no such file" in out.stderr
    assert nothing_but_key_checks(sandbox)


def _without_read_override() -> list[str]:
    """A command prefix that makes root obey file modes, as every other user does."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: every file is readable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}", "--"]


def test_unreadable_file_exits_3_naming_the_path(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    feed.chmod(0)
    out = subprocess.run(
        [*_without_read_override(), *PSYKHE, "push", str(feed)],
        env=env,
        input=b"",
        capture_output=True,
        timeout=60,
    )
    stderr = out.stderr.decode()
    assert out.returncode == 3, stderr
    assert f"psykhe: error: {feed}: permission denied" in stderr
    assert nothing_but_key_checks(sandbox)


def test_a_directory_as_feed_exits_3_naming_the_path(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    out = psykhe("push", str(tmp_path), env=env)
    assert out.returncode == 3
    assert f"psykhe: error: {tmp_path}: is a directory" in out.stderr
    assert nothing_but_key_checks(sandbox)


# -- the spool -----------------------------------------------------------------------------


def test_spool_in_a_tiny_tmpdir_fails_clearly_sends_nothing_leaves_nothing(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = incompressible_feed(tmp_path / "feed.jsonl", 400)  # ~500 kB of gzip

    def tiny_disk() -> None:  # any file over 64 KiB fails to grow: a full TMPDIR
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    out = subprocess.run(
        [*PSYKHE, "push", str(feed)],
        env=env,
        input=b"",
        capture_output=True,
        timeout=60,
        preexec_fn=tiny_disk,
    )
    stderr = out.stderr.decode()
    assert out.returncode == 4, stderr  # the machine's fault, not the feed's (issue 23, 16)
    assert "psykhe: error: cannot write the temporary spool in " in stderr
    assert "TMPDIR" in stderr
    assert "Traceback" not in stderr
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []


def test_spool_in_a_read_only_tmpdir_fails_clearly_sends_nothing(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    (home / "tmp").chmod(0o500)
    try:
        out = subprocess.run(
            [*_without_read_override(), *PSYKHE, "push", str(feed)],
            env=env,
            input=b"",
            capture_output=True,
            timeout=60,
        )
    finally:
        (home / "tmp").chmod(0o700)
    stderr = out.stderr.decode()
    assert out.returncode == 4, stderr  # the machine's fault, not the feed's (issue 23, 16)
    assert "psykhe: error: cannot create the temporary spool" in stderr
    assert "TMPDIR" in stderr
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []


# -- signals -------------------------------------------------------------------------------


def test_sigint_during_validation_exits_130_and_sends_nothing(
    home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    read_end, write_end = os.pipe()
    # spooled: a streamed push may have begun its upload (tests/test_reliability_streams.py)
    child = Child(["push", "-", "--no-stream"], env, read_end)
    os.close(read_end)
    block = b"".join(wrapped(item) for item in catalog(3000))
    try:
        # the pipe holds 64 KiB: once several MiB went through, the child is reading them
        for _ in range(5):
            os.write(write_end, block)
        child.process.send_signal(signal.SIGINT)
        code = child.finish()
    finally:
        os.close(write_end)
    assert code == 130, child.stderr
    assert "psykhe: error: interrupted before anything was sent" in child.stderr
    assert "Traceback" not in child.stderr
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []


def _interrupt_mid_upload(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle, sig: int
) -> Child:
    sandbox.set_faults(slow_read={"bytes_per_second": 100_000})
    # ~8 MB of gzip: more than the socket buffers hold, so the client is still sending
    feed = incompressible_feed(tmp_path / "feed.jsonl", 8000)
    child = Child(["push", str(feed), "--retries", "0"], env, subprocess.DEVNULL)
    wait_until(
        lambda: any(r["body_bytes"] > 0 for r in sandbox.requests()), what="the upload to start"
    )
    child.process.send_signal(sig)
    assert child.finish() == 130, child.stderr
    (request,) = wait_until(
        lambda: (
            [r for r in posts(sandbox) if r["status"] is not None or r["complete"]]
            or _cut_short(sandbox)
        ),
        what="the sandbox to see the connection end",
    )
    assert request["method"] == "POST"
    assert request["complete"] is False
    assert request["sha1"] is None
    assert 0 < request["body_bytes"] < (tmp_path / "feed.jsonl").stat().st_size
    assert sandbox.ingestions() == []
    assert spool_leftovers(home) == []
    assert "Traceback" not in child.stderr
    return child


def _cut_short(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """The upload once its body stopped growing (the client is gone)."""
    first = posts(sandbox)
    time.sleep(0.3)
    second = posts(sandbox)
    return second if first == second else []


def _says_what_reached_the_server(child: Child) -> None:
    """The message counts what the server's side acknowledged of the body, and of how much
    once the body is complete (interrupted while the feed is still checked, it is not)."""
    said = re.search(
        r"psykhe: error: interrupted during the upload \(([\d,]+)(?: of ([\d,]+))? bytes "
        r"acknowledged by the server\): the server never received the whole body",
        child.stderr,
    )
    assert said is not None, child.stderr
    acknowledged = int(said[1].replace(",", ""))
    assert acknowledged > 0
    if said[2] is not None:
        assert acknowledged < int(said[2].replace(",", ""))


def test_sigint_mid_upload_exits_130_server_keeps_an_incomplete_body_and_no_ingestion(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    child = _interrupt_mid_upload(tmp_path, home, env, sandbox, signal.SIGINT)
    _says_what_reached_the_server(child)


def test_sigterm_mid_upload_behaves_like_sigint(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    child = _interrupt_mid_upload(tmp_path, home, env, sandbox, signal.SIGTERM)
    _says_what_reached_the_server(child)


def test_sigint_while_polling_exits_130_and_prints_the_id_and_how_to_follow_it(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    child = Child(["push", str(feed), *FAST], env, subprocess.DEVNULL)
    child.wait_for_stderr("psykhe: ingestion 1: started")
    child.process.send_signal(signal.SIGINT)
    assert child.finish() == 130, child.stderr
    assert "ingestion 1 was accepted" in child.stderr
    assert "psykhe status 1 --watch" in child.stderr
    assert "Traceback" not in child.stderr
    assert len(sandbox.ingestions()) == 1


# -- output --------------------------------------------------------------------------------


def test_json_into_head_c1_ends_without_a_traceback(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    command = " ".join([*PSYKHE, "push", str(feed), *FAST, "--json"])
    out = subprocess.run(
        ["bash", "-c", f'{command} | head -c1; echo " ${{PIPESTATUS[0]}}" >&2'],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert out.stdout == b"{"
    stderr = out.stderr.decode()
    assert stderr.rstrip().endswith(" 0"), stderr
    assert "Traceback" not in stderr


def test_json_into_a_closed_pipe_keeps_the_exit_code(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"not json\n")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written
    try:
        out = subprocess.run(
            [*PSYKHE, "push", str(feed), "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(write_end)
    stderr = out.stderr.decode()
    assert out.returncode == 3, stderr
    assert "Traceback" not in stderr
    assert nothing_but_key_checks(sandbox)


@pytest.mark.parametrize("outcome", ["success", "invalid"])
def test_stdout_to_dev_full_gives_a_short_message_and_a_documented_code(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, outcome: str
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    if outcome == "invalid":
        feed.write_bytes(b"not json\n")
    with open("/dev/full", "wb") as full:
        out = subprocess.run(
            [*PSYKHE, "push", str(feed), *FAST, "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    stderr = out.stderr.decode()
    assert "Traceback" not in stderr
    assert "cannot write to standard output" in stderr
    assert stderr.splitlines()[-1].startswith("psykhe: ") or outcome == "invalid", stderr
    assert out.returncode in {int(code) for code in EXIT_CODE_MEANINGS}
    # a failure stays that failure; a success that could not be reported is not a success
    assert out.returncode == (3 if outcome == "invalid" else 1), stderr


@pytest.mark.parametrize("stdout", ["dev_full", "closed_pipe"])
def test_status_json_to_an_unwritable_stdout_keeps_its_exit_code(
    home: Path, sandbox: SandboxHandle, stdout: str
) -> None:
    env = isolated_env(home, sandbox.env())
    if stdout == "dev_full":
        target = os.open("/dev/full", os.O_WRONLY)
    else:
        read_end, target = os.pipe()
        os.close(read_end)  # the reader is gone before anything is written
    try:
        out = subprocess.run(
            [*PSYKHE, "status", "999", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=target,
            stderr=subprocess.PIPE,
            timeout=60,
        )
    finally:
        os.close(target)
    stderr = out.stderr.decode()
    assert out.returncode == 6, stderr  # the ingestion is unknown: that outcome stands
    assert "Traceback" not in stderr
    assert ("cannot write to standard output" in stderr) == (stdout == "dev_full")


def test_not_a_terminal_means_no_ansi_no_spinner_no_prompt(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    colourful = env | {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    out = psykhe("push", str(feed), *FAST, env=colourful)
    assert out.returncode == 0, out.stderr
    for text in (out.stdout, out.stderr):
        assert not ANSI.search(text), text
        assert not SPINNER.search(text), text
    assert "psykhe: ingestion 1 accepted\n" in out.stderr
    assert "status: completed\n" in out.stdout
    asked = psykhe("push", str(feed), "--mode", "soft_replace", env=colourful, timeout=30)
    assert asked.returncode == 7
    assert "[y/N]" not in asked.stderr + asked.stdout
    assert not ANSI.search(asked.stderr)


def test_json_on_stdout_is_exactly_one_object_when_not_a_terminal(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), *FAST, "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["status"] == "completed"
    assert out.stdout.count("\n") == 1
