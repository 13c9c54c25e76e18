"""What push shows (issue 22, 9 and 13): repeated problems grouped into one line per code, and
on a terminal no spinner left frozen, no ``?`` or ``0 MB/s``, lines cut between phrases.

The real ``psykhe`` as a subprocess against the sandbox; the display on a pseudo-terminal, read
back as the screen it leaves (``screen_lines``).
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
from pathlib import Path

from psykhe_cli.render.progress import eta_text, phrases, rate_text
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, PSYKHE, isolated_env, product, psykhe, run_in_pty, write_feed
from tests.test_reliability_process import incompressible_feed

MESSAGE = "warning[missing_variant_identifier]: variant_identifier is missing"
SPINNER = re.compile("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")


def _without_variant_ids(path: Path, count: int) -> Path:
    items = []
    for i in range(count):
        item = product(f"P{i:05d}")
        del item["variant_identifier"]
        items.append(item)
    return write_feed(path, items)


def screen_lines(output: bytes) -> list[str]:
    """The lines a terminal shows once ``output`` was written to it: redrawn lines (``\\r``,
    erase line, cursor up) as their last drawing, colours left out."""
    lines: list[str] = []
    current = ""
    tokens = re.split(r"(\r\n|\r|\x1b\[2K|\x1b\[1A|\x1b\[[0-9;?]*[A-Za-z])", output.decode())
    for token in tokens:
        if token == "\r\n":
            lines.append(current)
            current = ""
        elif token in ("\r", "\x1b[2K"):
            current = ""
        elif token == "\x1b[1A":
            current = lines.pop() if lines else ""
        elif not token.startswith("\x1b"):
            current += token
    return [*lines, current] if current else lines


# -- 9: grouped problems --------------------------------------------------------------------


def test_push_groups_5000_identical_warnings_into_one_line(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _without_variant_ids(tmp_path / "feed.jsonl", 5000)
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[:4] == [
        f"{feed}:1: {MESSAGE} (product_identifier=P00000)",
        f"{feed}:2: {MESSAGE} (product_identifier=P00001)",
        f"{feed}:3: {MESSAGE} (product_identifier=P00002)",
        f"{feed}: warning[missing_variant_identifier] × 5,000: lines 1, 2, 3, … "
        "(--json prints every one, up to --max-problems)",
    ]
    assert lines[4].startswith("psykhe: prepared 5,000 lines")
    assert not any("warning[" in line for line in lines[5:])


def test_push_json_prints_every_problem_line(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = _without_variant_ids(tmp_path / "feed.jsonl", 1500)
    out = psykhe("push", str(feed), *FAST, "--json", "--max-problems", "2000", env=env)
    assert out.returncode == 0, out.stderr
    shown = [line for line in out.stderr.splitlines() if MESSAGE in line]
    assert [int(line.split(":")[1]) for line in shown] == list(range(1, 1501))
    assert "×" not in out.stderr


def test_push_with_errors_groups_them_before_saying_why_it_stops(
    tmp_path: Path, env: dict[str, str], sandbox: SandboxHandle
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_bytes(b"{oops\n" * 10)
    out = psykhe("push", str(feed), *FAST, env=env)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.splitlines()
    assert [line.split(": ")[1] for line in lines[:3]] == ["error[invalid_json]"] * 3
    assert lines[3] == (
        f"{feed}: error[invalid_json] × 10: lines 1, 2, 3, … "
        "(--json prints every one, up to --max-problems)"
    )
    assert lines[4].startswith("psykhe: error: 10 error(s) in the feed")
    assert sandbox.requests() == []


# -- 13: the display on a terminal ----------------------------------------------------------


def test_push_on_an_80_column_terminal_leaves_a_clean_screen(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    feed = _without_variant_ids(tmp_path / "feed.jsonl", 5000)
    env = isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "80"})
    code, output = run_in_pty(["push", str(feed), *FAST], env=env)
    screen = screen_lines(output)
    text = "\n".join(screen)
    assert code == 0, text
    assert not any(SPINNER.search(line) for line in screen), text  # none left frozen
    # the check of the feed, interrupted by the problem lines, leaves only its last line
    shown = [line[:11] for line in screen if "preparing " in line and line[0] != "│"]
    assert shown == ["✓ preparing"]
    assert "for the server's answer" not in text  # the answer came: the wait is gone
    assert "?" not in text and "-:--:--" not in text  # nothing shown as unknown
    assert " 0 MB/s" not in text
    # the rates of a feed this small: in kB/s, never rounded to nothing
    assert re.search(r"preparing +5,000 lines · [\d.]+ MB · [\d.,]+ [kM]B/s", text), text
    assert re.search(r"✓ uploading .* [\d.,]+ [kM]B/s", text), text
    # psykhe's own lines fit (a problem line names a long path: the terminal wraps it)
    assert all(len(line) <= 80 for line in screen if not line.startswith(str(feed))), text
    # the grouped line, and the line too long for 80 columns cut between phrases
    assert "warning[missing_variant_identifier] × 5,000: lines 1, 2, 3, …" in text
    prepared = [i for i, line in enumerate(screen) if line.startswith("prepared 5,000 lines")]
    counts = "(5,000 products, 5,000 variants, 5,000 warnings)"
    assert screen[prepared[0]] == f"prepared 5,000 lines {counts}"
    assert re.fullmatch(r"  → [\d.]+ kB gzip in [\d.]+ s", screen[prepared[0] + 1])


def test_rates_under_1_mb_per_second_are_in_kb_and_nothing_known_is_empty() -> None:
    assert rate_text(400_000, 1.0) == "400.0 kB/s"
    assert rate_text(27_000, 0.1) == "270.0 kB/s"
    assert rate_text(900, 1.0) == "900 B/s"
    assert rate_text(2_500_000, 1.0) == "2.5 MB/s"
    assert rate_text(0, 1.0) == rate_text(10, 0.0) == ""  # not "?" nor "0 MB/s"
    assert eta_text(1_000, 46_000, 1.0) == "about 45 s left"
    assert eta_text(0, 46_000, 1.0) == ""


def test_phrases_cut_only_between_phrases() -> None:
    text = "sent 29.7 MB in 74.1 s (400.0 kB/s); waiting for the server's answer"
    assert phrases(text, 80) == [text]
    assert phrases(text, 40) == [
        "sent 29.7 MB in 74.1 s (400.0 kB/s);",
        "  waiting for the server's answer",
    ]
    assert phrases("one phrase much longer than the width, then more", 20) == [
        "one phrase much longer than the width,",
        "  then more",
    ]


def _interrupted_on_a_terminal(args: list[str], env: dict[str, str], when: bytes) -> bytes:
    """Run ``psykhe ARGS`` on a pseudo-terminal, Ctrl-C (SIGINT) it once ``when`` is on the
    screen, and return everything it wrote."""
    pid, master = pty.fork()
    if pid == 0:  # the child
        command = [*PSYKHE, *args]
        os.execve(command[0], command, env)
    output = b""
    interrupted = False
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        assert ready, output.decode(errors="replace")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child is gone (EIO)
            break
        if not chunk:
            break
        output += chunk
        if not interrupted and re.search(when, output):
            os.kill(pid, signal.SIGINT)
            interrupted = True
    os.waitpid(pid, 0)
    os.close(master)
    return output


def test_ctrl_c_during_an_upload_shows_one_figure_in_the_message_and_the_bar(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    sandbox.set_faults(slow_read={"bytes_per_second": 1_000_000})
    feed = incompressible_feed(tmp_path / "feed.jsonl", 8000)  # ~8 MB: seconds to send
    env = isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "80"})
    output = _interrupted_on_a_terminal(
        ["push", str(feed), "--no-stream"], env, rb"uploading .*[^\d.][1-9][\d.]*( MB of |/)"
    )
    text = "\n".join(screen_lines(output))
    said = re.search(r"interrupted during the upload \(([\d,]+ of [\d,]+ bytes) acknowledged", text)
    assert said, text
    bar = re.search(r"uploading +\S+ ([\d,]+ of [\d,]+ bytes)", text)
    assert bar, text
    assert bar[1] == said[1]
