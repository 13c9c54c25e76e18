"""The interactive side of push on a pseudo-terminal: the soft_replace question, progress."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import catalog, isolated_env, psykhe, run_in_pty, write_feed

PROMPT = b"[y/N]"


@pytest.fixture
def env(tmp_path: Path, sandbox: SandboxHandle) -> dict[str, str]:
    return isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "120"})


def posts(sandbox: SandboxHandle) -> int:
    return sum(1 for r in sandbox.requests() if r["method"] == "POST")


def test_soft_replace_question_yes_sends(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(
        ["push", str(feed), "--mode", "soft_replace", "--poll-interval", "0.05"],
        env=env,
        answers={PROMPT: b"y\n"},
    )
    assert code == 0, screen.decode(errors="replace")
    assert sandbox.base_url.encode() in screen
    assert b"DEACTIVATES" in screen
    assert b"feed         6 records (2 products)" in screen
    assert posts(sandbox) == 1


@pytest.mark.parametrize("answer", [b"n\n", b"\n", b"whatever\n"])
def test_soft_replace_question_defaults_to_no(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], answer: bytes
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(
        ["push", str(feed), "--mode", "soft_replace"], env=env, answers={PROMPT: answer}
    )
    assert code == 7
    assert b"not confirmed; nothing was sent" in screen
    assert posts(sandbox) == 0


def test_soft_replace_question_is_read_from_the_terminal_when_stdin_is_the_feed(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    data = write_feed(tmp_path / "feed.jsonl", catalog(3)).read_bytes()
    code, screen = run_in_pty(
        ["push", "-", "--mode", "soft_replace", "--poll-interval", "0.05"],
        env=env,
        answers={PROMPT: b"yes\n"},
        stdin_data=data,
    )
    assert code == 0, screen.decode(errors="replace")
    assert posts(sandbox) == 1


def test_push_on_a_terminal_shows_progress_and_a_summary(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(30))
    code, screen = run_in_pty(["push", str(feed), "--poll-interval", "0.05"], env=env)
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "\x1b[" in text  # colour and cursor control: this is a terminal
    for word in ("preparing", "uploading", "ingestion 1", "completed", "upserted"):
        assert word in text


def test_no_feed_and_stdin_a_terminal_is_a_usage_error_at_once(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    code, screen = run_in_pty(["push"], env=env, timeout=20)
    assert code == 2
    assert b"no feed given" in screen
    assert sandbox.requests() == []


def _protected_profile(env: dict[str, str], sandbox: SandboxHandle) -> dict[str, str]:
    """A config with a protected profile ``shop`` pointing at the sandbox."""
    config = Path(env["XDG_CONFIG_HOME"]) / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'[profiles.shop]\nbase_url = "{sandbox.base_url}"\n'
        f'api_key = "{sandbox.api_key}"\nprotected = true\n'
    )
    config.chmod(0o600)
    return {k: v for k, v in env.items() if k not in ("PSYKHE_BASE_URL", "PSYKHE_API_KEY")}


TYPE_NAME = b"Type the profile name (shop)"


@pytest.mark.parametrize("answer", [b"y\n", b"yes\n", b"Shop\n", b"\n"])
def test_protected_profile_refuses_anything_but_its_name(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str], answer: bytes
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(
        ["push", str(feed), "--mode", "soft_replace", "--profile", "shop"],
        env=_protected_profile(env, sandbox),
        answers={TYPE_NAME: answer},
    )
    assert code == 7, screen.decode(errors="replace")
    assert b"shop (protected)" in screen
    assert b"not confirmed; nothing was sent" in screen
    assert posts(sandbox) == 0


def test_protected_profile_sends_when_its_name_is_typed(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(
        ["push", str(feed), "--mode", "soft_replace", "--poll-interval", "0.05"],
        env=_protected_profile(env, sandbox) | {"PSYKHE_PROFILE": "shop"},
        answers={TYPE_NAME: b"shop\n"},
    )
    assert code == 0, screen.decode(errors="replace")
    assert PROMPT not in screen
    assert posts(sandbox) == 1


def test_protected_profile_still_passes_with_yes_for_cron(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    out = psykhe(
        "push", str(feed), "--mode", "soft_replace", "--yes", "--profile", "shop",
        "--poll-interval", "0.05",
        env=_protected_profile(env, sandbox),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert posts(sandbox) == 1


def _colour_codes(text: str) -> list[str]:
    """SGR sequences that set a foreground or background colour."""
    found = []
    for params in re.findall(r"\x1b\[([0-9;]*)m", text):
        codes = [int(p) for p in params.split(";") if p]
        if any(30 <= c <= 48 or 90 <= c <= 107 for c in codes):
            found.append(params)
    return found


def test_no_color_on_a_terminal_keeps_the_live_display_without_colour(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    code, screen = run_in_pty(
        ["push", str(feed), "--poll-interval", "0.05"], env=env | {"NO_COLOR": "1"}
    )
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert _colour_codes(text) == []
    assert "\x1b[?25l" in text  # the live display hides the cursor: it is still there
    assert "└───" in text  # the summary is still a table
    assert "psykhe: ingestion" not in text  # not the plain lines of cron


def test_colour_on_a_terminal_by_default(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    feed = write_feed(tmp_path / "feed.jsonl", catalog(3))
    code, screen = run_in_pty(["push", str(feed), "--poll-interval", "0.05"], env=env)
    assert code == 0
    assert _colour_codes(screen.decode(errors="replace"))


def test_a_protected_top_level_asks_for_default(
    tmp_path: Path, sandbox: SandboxHandle, env: dict[str, str]
) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "psykhe" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f'base_url = "{sandbox.base_url}"\napi_key = "{sandbox.api_key}"\nprotected = true\n'
    )
    config.chmod(0o600)
    plain = {k: v for k, v in env.items() if k not in ("PSYKHE_BASE_URL", "PSYKHE_API_KEY")}
    feed = write_feed(tmp_path / "feed.jsonl", catalog(6))
    code, screen = run_in_pty(
        ["push", str(feed), "--mode", "soft_replace"],
        env=plain,
        answers={b"Type the profile name (default)": b"y\n"},
    )
    assert code == 7, screen.decode(errors="replace")
    assert posts(sandbox) == 0
