"""Standard streams and signals: the real ``psykhe`` as a subprocess, with real pipes, closed
descriptors and signals.

Every wait is for a state the test can observe — a line read from a pipe, a worker process
listed among the child's children in ``/proc``, a request in the sandbox's log — and bounded.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import (
    FAST,
    KEY_CHECK,
    PSYKHE,
    catalog,
    isolated_env,
    nothing_but_key_checks,
    posts,
    psykhe,
    requests_seen,
    run_in_pty,
    wrapped,
    write_feed,
)
from tests.test_reliability_process import incompressible_feed, spool_leftovers, wait_until

# -- helpers ----------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes ``pid`` made that are still its children (every thread's)."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped by init does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def shell(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """``command`` run by bash (for ``<&-``-style redirections), output captured."""
    return subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL
    )


def psykhe_command(*args: str) -> str:
    return " ".join([*PSYKHE, *args])


def lines_of(count: int) -> bytes:
    return b"".join(wrapped(item) for item in catalog(count))


class FedChild:
    """``psykhe ARGS`` reading its feed from a pipe (or FIFO) that the test writes, so that it
    stays in validation, workers started, for as long as the test holds the pipe open."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        fifo: Path | None = None,
        data: bytes | None = None,
    ) -> None:
        if fifo is None:
            read_end, self.write_end = os.pipe()
            stdin: int = read_end
        else:
            os.mkfifo(fifo)
            stdin = subprocess.DEVNULL
        self.process = subprocess.Popen(
            [*PSYKHE, *args], env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        if fifo is None:
            os.close(read_end)
        else:
            self.write_end = os.open(fifo, os.O_WRONLY)  # waits for psykhe to open it
        self.output: dict[str, bytes] = {}
        self._readers = [
            threading.Thread(target=self._drain, args=(name,)) for name in ("stdout", "stderr")
        ]
        for reader in self._readers:
            reader.start()
        # past the in-process threshold (4 MiB): the workers start and take blocks
        data = data if data is not None else lines_of(30000) * 3
        self.feeder = threading.Thread(target=self._feed, args=(data,))
        self.feeder.start()

    def _drain(self, name: str) -> None:
        with getattr(self.process, name) as stream:
            self.output[name] = stream.read()

    def _feed(self, data: bytes) -> None:
        with contextlib.suppress(OSError):  # psykhe stopped reading: that is the point
            os.write(self.write_end, data)

    def workers(self) -> list[int]:
        return wait_until(
            lambda: len(children(self.process.pid)) >= 2 and children(self.process.pid),
            what="two workers",
        )

    def finish(self) -> tuple[int, str, str]:
        try:
            code = self.process.wait(60)
        finally:
            os.close(self.write_end)
            self.feeder.join(30)
            for reader in self._readers:
                reader.join(30)
        held = [name for name in ("stdout", "stderr") if name not in self.output]
        assert not held, f"psykhe ended (exit {code}) but its {held} stay open: a worker lives on"
        return code, self.output["stdout"].decode(), self.output["stderr"].decode()


# -- closed standard streams (issue 13 item 1) -----------------------------------------------


@pytest.mark.parametrize("closed", ["<&-", ">&-", "2>&-"])
def test_a_closed_standard_stream_does_not_stop_a_push_of_a_file(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, closed: str
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    out = shell(f"{psykhe_command('push', str(feed), *FAST)} {closed}", env)
    stderr = out.stderr.decode()
    assert out.returncode == 0, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    (ingestion,) = sandbox.ingestions()
    assert ingestion["status"] == 4  # completed
    if closed != ">&-":
        assert "status: completed" in out.stdout.decode()


@pytest.mark.parametrize("closed", ["<&-", ">&-", "2>&-"])
def test_a_closed_standard_stream_does_not_change_what_validate_says(
    tmp_path: Path, env: dict[str, str], closed: str
) -> None:
    good = write_feed(tmp_path / "good.jsonl", catalog(3))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json\n")
    for feed, code in ((good, 0), (bad, 3)):
        out = shell(f"{psykhe_command('validate', str(feed))} {closed}", env)
        assert out.returncode == code, out.stderr.decode()
        assert b"Traceback" not in out.stderr


# -- a reader of stdout gone at the end (issue 13 item 2) ------------------------------------


def _into_a_gone_reader(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run with stdout a pipe whose reader has gone, as in ``| true``."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [*PSYKHE, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize("json", [True, False])
def test_a_successful_run_keeps_exit_0_when_the_reader_of_stdout_has_gone(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, json: bool
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    flags = ["--json"] if json else []
    pushed = _into_a_gone_reader(["push", str(feed), *FAST, *flags], env)
    assert pushed.returncode == 0, pushed.stderr.decode()
    assert len(sandbox.ingestions()) == 1
    status = _into_a_gone_reader(["status", "1", *flags], env)
    assert status.returncode == 0, status.stderr.decode()
    checked = _into_a_gone_reader(["validate", str(feed), *flags], env)
    assert checked.returncode == 0, checked.stderr.decode()
    for out in (pushed, status, checked):
        assert b"Traceback" not in out.stderr and b"error" not in out.stderr


# -- output failures never abort the work (issue 10 G and failure 5) -------------------------


def test_a_reader_gone_after_the_upload_was_accepted_never_stops_the_push(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    """``psykhe push full.jsonl --mode soft_replace --yes --json 2>&1 | head -1`` where the
    reader goes once the upload was accepted: the push goes on to the end and remembers it."""
    feed = write_feed(tmp_path / "full.jsonl", catalog(300))
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [*PSYKHE, "push", str(feed), "--mode", "soft_replace", "--yes", "--json", *FAST],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=write_end,
    )
    os.close(write_end)
    seen = b""
    with os.fdopen(read_end, "rb", buffering=0) as reader:
        while b"accepted\n" not in seen:
            chunk = reader.read(4096)
            assert chunk, seen
            seen += chunk
    # the reader has gone (like `head -1`): every later line psykhe writes meets EPIPE
    code = process.wait(60)
    assert code == 0, seen
    (ingestion,) = sandbox.ingestions()
    assert ingestion["status"] == 4
    # the history and the full-sync memory were written all the same
    last = psykhe("status", "--last", "--json", env=env)
    assert last.returncode == 0, last.stderr
    assert orjson.loads(last.stdout)["ingestion_id"] == ingestion["id"]
    smaller = write_feed(tmp_path / "small.jsonl", catalog(30))
    guarded = psykhe("push", str(smaller), "--mode", "soft_replace", "--yes", env=env)
    assert guarded.returncode == 7, guarded.stderr  # the guard remembers the 100 products
    assert "100" in guarded.stderr


@pytest.mark.parametrize("broken", ["stderr", "stdout_and_stderr"])
def test_a_reader_gone_before_anything_was_sent_ends_the_push_cleanly_sending_nothing(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle, broken: str
) -> None:
    feed = write_feed(tmp_path / "full.jsonl", catalog(300))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away before psykhe wrote its first line
    try:
        out = subprocess.run(
            [*PSYKHE, "push", str(feed), "--mode", "soft_replace", "--yes", "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_end if broken == "stdout_and_stderr" else subprocess.PIPE,
            stderr=write_end,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert out.returncode == 141
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []
    if broken == "stderr":
        report = orjson.loads(out.stdout)
        assert report["exit_code"] == 141
        assert report["error"]["code"] == "output_closed"
        assert report["ingestion_ids"] == []


# -- SIGHUP and SIGQUIT; no worker outlives psykhe (issue 13 item 3) -------------------------


def gzip_of_random_lines(tmp_path: Path) -> bytes:
    """A gzip stream of ~6 MB that gzip cannot shrink: workers start on compressed bytes."""
    return gzip.compress(incompressible_feed(tmp_path / "random.jsonl", 6000).read_bytes(), 1)


@pytest.mark.parametrize("order", ["streamed", "spooled"])
@pytest.mark.parametrize("via", ["pipe", "fifo", "gzip_fifo"])
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGQUIT])
def test_sighup_and_sigquit_stop_like_sigterm_and_leave_no_worker(
    tmp_path: Path,
    home: Path,
    env: dict[str, str],
    sandbox: SandboxHandle,
    signum: signal.Signals,
    via: str,
    order: str,
) -> None:
    feed = ["-"] if via == "pipe" else [str(tmp_path / "feed.fifo")]
    fifo = tmp_path / "feed.fifo" if via != "pipe" else None
    data = gzip_of_random_lines(tmp_path) if via == "gzip_fifo" else None
    spooled = ["--no-stream"] if order == "spooled" else []
    child = FedChild(["push", *feed, "--json", *spooled], env, fifo, data)
    workers = child.workers()
    child.process.send_signal(signum)
    code, stdout, stderr = child.finish()
    assert code == 128 + signum, stderr
    if spooled:
        assert f"psykhe: error: interrupted before anything was sent ({signum.name})" in stderr
        assert nothing_but_key_checks(sandbox)
    else:  # the upload may have begun with the workers: it is never completed
        assert "psykhe: error: interrupted " in stderr
        assert "may have accepted" not in stderr
        assert all(not r["complete"] and r["status"] is None for r in posts(sandbox))
        assert sandbox.ingestions() == []
    assert "Traceback" not in stderr
    report = orjson.loads(stdout)
    assert report["exit_code"] == 128 + signum
    assert report["error"]["code"] == "interrupted"
    assert spool_leftovers(home) == []
    # psykhe waited for its workers: none is left, not even for a moment
    assert not [pid for pid in workers if alive(pid)]


def test_no_worker_outlives_psykhe_even_when_it_is_killed(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    child = FedChild(["push", "-"], env)
    workers = child.workers()
    child.process.kill()  # no clean-up can run: the kernel ends the workers
    assert child.finish()[0] == -signal.SIGKILL
    wait_until(lambda: not [pid for pid in workers if alive(pid)], 10, "the workers to end")
    # an upload begun while the feed was checked ends with the process: never completed
    assert all(not r["complete"] and r["status"] is None for r in sandbox.requests())
    assert sandbox.ingestions() == []


# -- a worker killed by the kernel (issue 13 item 4) -----------------------------------------


def _assert_worker_death_reported(code: int, stdout: str, stderr: str) -> None:
    assert code == 5, stderr
    assert "psykhe: error: a validation worker was killed by signal 9 — out of memory?" in stderr
    assert "Nothing was sent" in stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    report = orjson.loads(stdout)
    assert report["exit_code"] == 5
    assert report["error"]["code"] == "worker_killed"


def test_a_worker_killed_while_a_pipe_is_checked_is_named_and_nothing_is_sent(
    home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    # spooled: a streamed push may have begun its upload, never completed (see SIGHUP above)
    child = FedChild(["push", "-", "--json", "--no-stream"], env)
    os.kill(child.workers()[0], signal.SIGKILL)
    _assert_worker_death_reported(*child.finish())
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []


def test_a_worker_killed_while_a_file_is_checked_is_named_and_nothing_is_sent(
    tmp_path: Path, home: Path, sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "big.jsonl"
    feed.write_bytes(lines_of(30000) * 4)  # ~33 MB, read by the workers themselves
    # a worker that stops before its first range: it is surely killed before it answers
    env = isolated_env(home, sandbox.env())
    process = subprocess.Popen(
        [*PSYKHE, "push", str(feed), "--json", "--no-stream"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    (first, *_) = wait_until(lambda: children(process.pid), what="a worker")
    os.kill(first, signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    process.stderr.close()
    _assert_worker_death_reported(process.returncode, stdout.decode(), stderr.decode())
    assert nothing_but_key_checks(sandbox)
    assert spool_leftovers(home) == []


# -- control characters never reach the terminal (issue 13 item 13) -------------------------

ESC_PID = "A1\x1b[2J\x1b]0;pwned\x07"
EVIL_NAME = "feed\x1b[31m\nred\u202e.jsonl"


def _assert_every_line_is_printable(text: str) -> None:
    for line in text.splitlines():
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "\u202e" for c in line), line


@pytest.mark.parametrize("command", ["validate", "push"])
def test_control_characters_from_a_feed_or_a_file_name_are_escaped_in_every_message(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, command: str
) -> None:
    feed = write_feed(tmp_path / EVIL_NAME, [*catalog(3), {"product_identifier": ESC_PID}])
    feed.write_bytes(feed.read_bytes() + b'{"product_data": {"product_identifier": 5}}\n')
    out = psykhe(command, str(feed), env=env)
    assert out.returncode == 3, out.stderr
    _assert_every_line_is_printable(out.stderr)
    _assert_every_line_is_printable(out.stdout)
    shown = str(tmp_path / "feed\\x1b[31m\\nred\\u202e.jsonl")
    # one line per problem, the file named with its escapes, and the product's escaped id
    assert f"{shown}:4: warning[" in out.stderr
    assert "(product_identifier=A1\\x1b[2J\\x1b]0;pwned\\x07)" in out.stderr
    assert f"{shown}:5: error[" in out.stderr
    assert nothing_but_key_checks(sandbox)


def test_control_characters_in_a_path_are_escaped_in_the_error_message(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    missing = tmp_path / "gone\x1b]0;pwned\x07\n.jsonl"
    out = psykhe("push", str(missing), env=env)
    assert out.returncode == 3
    _assert_every_line_is_printable(out.stderr)
    assert "gone\\x1b]0;pwned\\x07\\n.jsonl: no such file" in out.stderr


# -- a state directory or files of the wrong type (issue 13 item 17) -------------------------


def test_a_damaged_history_line_is_skipped_with_a_warning(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    assert psykhe("push", str(feed), *FAST, env=env).returncode == 0
    history = home / "state" / "psykhe" / "history.jsonl"
    (good,) = history.read_text().splitlines()
    wrongly_typed = orjson.loads(good) | {"push_id": "other", "products": "many"}
    with history.open("a") as lines:
        lines.write("[" * 100_000 + "\n")  # deeper than any parser goes
        lines.write(orjson.dumps(wrongly_typed).decode() + "\n")
    for args in (["status", "--last"], ["status", "--last", "--json"]):
        out = psykhe(*args, env=env)
        assert out.returncode == 0, out.stderr
        assert f"psykhe: warning: skipped 2 damaged line(s) of {history} (line 2, 3)" in (
            out.stderr
        )
        assert "internal error" not in out.stderr
    assert orjson.loads(out.stdout)["ingestion_id"] == 1


@pytest.mark.parametrize("broken", ["state_home_a_file", "history_a_directory"])
def test_an_unusable_state_directory_is_exit_4_naming_the_path_and_nothing_is_sent(
    tmp_path: Path, home: Path, sandbox: SandboxHandle, broken: str
) -> None:
    env = isolated_env(home, sandbox.env())
    state = home / "state"
    if broken == "state_home_a_file":
        state.write_text("")
        named = str(state / "psykhe")
    else:
        (state / "psykhe" / "history.jsonl").mkdir(parents=True)
        named = str(state / "psykhe" / "history.jsonl")
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    for args in (
        ["status", "--last"],
        ["push", str(feed)],
        ["push", str(feed), "--mode", "soft_replace", "--yes"],
    ):
        out = psykhe(*args, env=env)
        assert out.returncode == 4, (args, out.stderr)
        assert named in out.stderr.splitlines()[-2], out.stderr
        assert "internal error" not in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK, KEY_CHECK]  # each push's, and no more


def test_a_full_sync_file_that_is_a_directory_is_exit_4_naming_it_and_nothing_is_sent(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    syncs = home / "state" / "psykhe" / "full-syncs.json"
    syncs.mkdir(parents=True)
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    out = psykhe("push", str(feed), "--mode", "soft_replace", "--yes", env=env)
    assert out.returncode == 4, out.stderr
    assert f"psykhe: error: the state file {syncs} cannot be read: Is a directory" in out.stderr
    assert requests_seen(sandbox) == [KEY_CHECK]


def test_a_state_directory_broken_after_the_upload_was_accepted_never_changes_the_exit_code(
    tmp_path: Path, home: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(ingestion={"outcome": "stalled"})
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    history = home / "state" / "psykhe" / "history.jsonl"
    process = subprocess.Popen(
        [*PSYKHE, "push", str(feed), *FAST, "--timeout", "3"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    with process.stderr:
        seen = b""
        while b"accepted\n" not in seen:
            line = process.stderr.readline()
            assert line, seen
            seen += line
        # the acceptance is recorded just after it is said: break the history once it is
        wait_until(lambda: _records_an_ingestion(history))
        history.unlink()  # the history becomes unusable while the ingestion is followed
        history.mkdir()
        seen += process.stderr.read()
    # the wait's own outcome (the ingestion is still running at --timeout), not exit 4
    assert process.wait(30) == 10, seen
    stderr = seen.decode()
    assert f"could not update the local state directory: the state file {history}" in stderr
    assert len(sandbox.ingestions()) == 1


def _records_an_ingestion(history: Path) -> bool:
    try:
        lines = history.read_bytes().splitlines()
    except FileNotFoundError:
        return False
    return bool(lines) and bool(orjson.loads(lines[-1]).get("ingestion_ids"))


# -- disk full while a refused batch is split (issue 13 item 16) -----------------------------


@contextlib.contextmanager
def tiny_tmpfs(path: Path, size: int) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes at ``path``: a TMPDIR that really fills up (ENOSPC)."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_a_full_tmpdir_while_a_refused_batch_is_split_says_where_and_what_was_sent(
    tmp_path: Path, home: Path, sandbox_factory: Any
) -> None:
    small = b"".join(wrapped(item) for item in catalog(400))  # ~110 kB
    big = incompressible_feed(tmp_path / "big.jsonl", 400).read_bytes()  # ~480 kB
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(small + big)
    server = sandbox_factory(max_body_mb=0.3)  # the big half of the feed is refused: 413
    # room for the spool, not for the halves of the refused request beside it
    room = len(zlib.compress(small + big, 3)) + len(zlib.compress(big, 3)) // 3
    with tiny_tmpfs(tmp_path / "tmpdir", room) as tmpdir:
        env = isolated_env(home, server.env() | {"TMPDIR": str(tmpdir)})
        out = psykhe("push", str(feed), "--batch-size", "400", "--json", *FAST, env=env)
        leftovers = os.listdir(tmpdir)
    assert out.returncode == 6, out.stderr
    assert (
        f"psykhe: error: the server refused 400 lines as too large, and they could not be split: "
        f"cannot write the temporary spool in {tmpdir} (TMPDIR): No space left on device; "
        "accepted before it: ingestion(s) 1 (400 lines); not sent: 400 lines"
    ) in out.stderr
    assert "Traceback" not in out.stderr
    report = orjson.loads(out.stdout)
    assert report["exit_code"] == 6
    assert report["ingestion_ids"] == [1]
    assert report["error"]["code"] == "payload_too_large"
    assert leftovers == []


@pytest.mark.parametrize("command", ["validate", "push"])
def test_control_characters_are_escaped_on_a_terminal_too(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle, command: str
) -> None:
    feed = write_feed(tmp_path / EVIL_NAME, [*catalog(3), {"product_identifier": ESC_PID}])
    feed.write_bytes(feed.read_bytes() + b'{"product_data": {"product_identifier": 5}}\n')
    code, screen = run_in_pty([command, str(feed)], env=env)
    assert code == 3, screen
    # rich's own colours are there; the feed's and the file name's sequences are not
    for raw in ("\x1b[2J", "\x1b]0;pwned\x07", "\x1b[31m\n", "\u202e"):
        assert raw.encode() not in screen, screen
    assert b"(product_identifier=A1\\x1b[2J\\x1b]0;pwned\\x07)" in screen
    assert nothing_but_key_checks(sandbox)


def test_sighup_while_validating_json_still_prints_one_object(
    env: dict[str, str], sandbox: SandboxHandle
) -> None:
    child = FedChild(["validate", "-", "--json"], env)
    workers = child.workers()
    child.process.send_signal(signal.SIGHUP)
    code, stdout, stderr = child.finish()
    assert code == 129, stderr
    assert "psykhe: error: interrupted while validating; nothing was sent (SIGHUP)" in stderr
    report = orjson.loads(stdout)
    assert report["ok"] is False
    assert report["error"]["code"] == "interrupted"
    assert not [pid for pid in workers if alive(pid)]


def test_json_output_keeps_control_characters_as_json_escapes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Escaping for the terminal must not reach ``--json``: ``\\x7f`` is not JSON."""
    odd = "A\x7fB\u0085C\x1b"
    feed = write_feed(tmp_path / "feed\x7f.jsonl", [{"product_identifier": odd}])
    out = psykhe("validate", str(feed), "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert report["files"] == [str(feed)]
    assert {problem["product_identifier"] for problem in report["problems"]} == {odd}
