"""Reliability matrix, outputs (``--rejects``, ``--plan-file``): written where their name says,
never replacing a device, a FIFO or a link, refused up front when they cannot be written.

Devices are made in the test's own folder (``os.mknod``, as root, on a filesystem that allows
them): the machine's ``/dev`` is never written to.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import orjson
import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, catalog, posts, psykhe, wrapped, write_feed

SOFT = ("--mode", "soft_replace")
#: (major, minor) of Linux's null and full memory devices
NULL_DEVICE = (1, 3)
FULL_DEVICE = (1, 7)


def _feed_with_a_bad_line(tmp_path: Path) -> Path:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"".join(wrapped(p) for p in catalog(3)) + b"not json\n")
    return feed


def _device(tmp_path: Path, name: str, numbers: tuple[int, int]) -> Path:
    """A character device in ``tmp_path``; the test is skipped where none can be made."""
    path = tmp_path / name
    if not hasattr(os, "mknod") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("making a device file needs root")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(*numbers))
        os.close(os.open(path, os.O_WRONLY))
    except OSError as exc:
        pytest.skip(f"no device can be made or opened in {tmp_path} ({exc.strerror})")
    return path


def _baseline(tmp_path: Path, env: dict[str, str]) -> Path:
    """A completed full sync of 20 products (P00000..P00019); returns a feed without the
    first four of them."""
    full = write_feed(tmp_path / "full.jsonl", catalog(60))
    out = psykhe("push", str(full), *SOFT, "--yes", *FAST, env=env)
    assert out.returncode == 0, out.stderr
    return write_feed(tmp_path / "part.jsonl", catalog(60)[12:])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- issue 23, 6: a device, a FIFO, standard output are written in place --------------------


def test_rejects_into_a_fifo_is_written_into_it_not_over_it(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _feed_with_a_bad_line(tmp_path)
    fifo = tmp_path / "rejects.fifo"
    os.mkfifo(fifo, 0o600)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # there before psykhe: it never waits
    try:
        out = psykhe(
            "push", str(feed), "--skip-invalid", "--rejects", str(fifo), "--dry-run", env=env
        )
        assert out.returncode == 0, out.stderr
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    (line,) = received.splitlines()
    assert orjson.loads(line)["line"] == 4
    assert _leftovers(tmp_path) == []
    assert sandbox.requests() == []


def test_outputs_onto_a_device_write_into_it_and_leave_it_a_device(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    null = _device(tmp_path, "null", NULL_DEVICE)
    feed = _feed_with_a_bad_line(tmp_path)
    out = psykhe("push", str(feed), "--skip-invalid", "--rejects", str(null), "--dry-run", env=env)
    assert out.returncode == 0, out.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    part = _baseline(tmp_path, env)
    out = psykhe("push", str(part), *SOFT, "--dry-run", "--yes", "--plan-file", str(null), env=env)
    assert out.returncode == 0, out.stderr
    assert (
        "plan: deactivate 4 to 44 records (4 products), new 0 records (0 products), kept 48 "
        "records (16 products), against the last full sync; a range where psykhe cannot know "
        "the records per product\n"
    ) in out.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert _leftovers(tmp_path) == []
    assert len(posts(sandbox)) == 1


def test_dash_and_a_descriptor_name_are_standard_output(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _feed_with_a_bad_line(tmp_path)
    for name in ("-", "/dev/fd/1", "/proc/self/fd/1"):
        rejects = ("--skip-invalid", "--rejects", name)
        out = psykhe("push", str(feed), *rejects, "--dry-run", "-q", env=env, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        first = out.stdout.splitlines()[0]
        assert orjson.loads(first)["line"] == 4, name
    assert not (tmp_path / "-").exists()
    part = _baseline(tmp_path, env)
    out = psykhe("push", str(part), *SOFT, "--dry-run", "--yes", "--plan-file", "-", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("P00000\nP00001\nP00002\nP00003\n")
    for name in ("-", "/dev/fd/1"):  # never /dev/stdout: a broken psykhe would replace it
        both = psykhe("push", str(feed), "--skip-invalid", "--rejects", name, "--json", env=env)
        assert both.returncode == 2
        assert f"--json and --rejects {name} both write to standard output" in both.stderr
    assert len(posts(sandbox)) == 1


def test_a_plan_file_through_a_symbolic_link_replaces_the_file_and_keeps_the_link(
    tmp_path: Path, env: dict[str, str]
) -> None:
    part = _baseline(tmp_path, env)
    (tmp_path / "plans").mkdir()
    real = tmp_path / "plans" / "plan.txt"
    real.write_text("old\n")
    link = tmp_path / "plan.txt"
    link.symlink_to(real)
    out = psykhe("push", str(part), *SOFT, "--dry-run", "--yes", "--plan-file", str(link), env=env)
    assert out.returncode == 0, out.stderr
    assert link.is_symlink()
    assert real.read_text() == "P00000\nP00001\nP00002\nP00003\n"


# --- issue 23, 11 and 13: an output that cannot be written is refused before anything -------


def test_a_plan_file_that_is_a_directory_is_a_usage_error_before_anything_is_sent(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    part = _baseline(tmp_path, env)
    folder = tmp_path / "plans"
    folder.mkdir()
    for extra in ((), ("--dry-run",)):
        out = psykhe("push", str(part), *SOFT, "--yes", *extra, "--plan-file", str(folder), env=env)
        assert out.returncode == 2, out.stderr
        assert f"psykhe: error: --plan-file {folder} is a directory; nothing was read or sent" in (
            out.stderr
        )
    assert len(posts(sandbox)) == 1  # the baseline only: the soft_replace was not sent
    assert list(folder.iterdir()) == []


def test_an_output_in_no_folder_is_a_usage_error_naming_it(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _feed_with_a_bad_line(tmp_path)
    (tmp_path / "file").write_text("")
    inside_a_file = tmp_path / "file" / "rejects.jsonl"
    out = psykhe("push", str(feed), "--skip-invalid", "--rejects", str(inside_a_file), env=env)
    assert out.returncode == 2, out.stderr
    assert f"cannot write --rejects {inside_a_file}: Not a directory; nothing was read" in (
        out.stderr
    )
    assert sandbox.requests() == []


def test_rejects_into_a_directory_is_a_usage_error_in_json_too(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _feed_with_a_bad_line(tmp_path)
    out = psykhe("push", str(feed), "--skip-invalid", "--rejects", str(tmp_path), "--json", env=env)
    assert out.returncode == 2, out.stderr
    report = orjson.loads(out.stdout)
    assert report["error"]["code"] == "usage_error"
    assert report["error"]["message"] == (
        f"--rejects {tmp_path} is a directory; nothing was read or sent"
    )
    assert sandbox.requests() == []


def test_a_write_that_fails_later_names_the_output_and_exits_4(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    full = _device(tmp_path, "full", FULL_DEVICE)
    feed = _feed_with_a_bad_line(tmp_path)
    out = psykhe(
        "push", str(feed), "--skip-invalid", "--rejects", str(full), "--json", *FAST, env=env
    )
    assert out.returncode == 4, out.stderr
    message = f"cannot write --rejects {full}: No space left on device; nothing was sent"
    assert f"psykhe: error: {message}\n" in out.stderr
    assert orjson.loads(out.stdout)["error"]["message"] == message
    assert sandbox.requests() == []
    part = _baseline(tmp_path, env)
    out = psykhe("push", str(part), *SOFT, "--yes", "--plan-file", str(full), env=env)
    assert out.returncode == 4, out.stderr
    assert f"cannot write --plan-file {full}: No space left on device" in out.stderr
    assert "baseline" not in out.stderr
    assert stat.S_ISCHR(os.lstat(full).st_mode)
    assert len(posts(sandbox)) == 1


# --- issue 23, 12: no plan, no plan file --------------------------------------------------


def test_a_stale_plan_file_is_removed_when_no_plan_can_be_made(
    tmp_path: Path, env: dict[str, str], home: Path
) -> None:
    plan_file = tmp_path / "plan.txt"
    plan_file.write_text("P_FROM_AN_EARLIER_RUN\n")
    PLAN = (*SOFT, "--dry-run", "--yes", "--plan-file")
    part = write_feed(tmp_path / "part.jsonl", catalog(60)[12:])
    first = psykhe("push", str(part), *PLAN, str(plan_file), env=env)
    assert first.returncode == 0, first.stderr
    assert "no plan: no earlier full sync to" in first.stderr
    assert not plan_file.exists()
    part = _baseline(tmp_path, env)
    (baseline,) = (p for p in (home / "state").rglob("*") if p.is_file() and "baseline" in str(p))
    baseline.write_bytes(b"\x00damaged")
    plan_file.write_text("P_FROM_AN_EARLIER_RUN\n")
    out = psykhe("push", str(part), *PLAN, str(plan_file), env=env)
    assert out.returncode == 0, out.stderr
    assert "no plan: the baseline's identifiers cannot be read" in out.stderr
    assert not plan_file.exists()


# --- issue 23, 21 (part): --max-drop says what is true ------------------------------------


def test_max_drop_messages_say_what_is_true(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(57))  # 19 products
    for value in ("nan", "101", "-1"):
        out = psykhe("push", str(feed), *SOFT, "--max-drop", value, "--dry-run", env=env)
        assert out.returncode == 2, out.stderr
        assert f"must be a number from 0 to 100, not {value}" in out.stderr
    _baseline(tmp_path, env)
    out = psykhe("push", str(feed), *SOFT, "--yes", "--max-drop", "1e-9", "--dry-run", env=env)
    assert out.returncode == 7, out.stderr
    assert "the feed has 19 products, fewer than 99.999999999% of the 20" in out.stderr
    assert len(posts(sandbox)) == 1
