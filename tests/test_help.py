"""Help an operator reads: no internal types, whole descriptions, our own words for mistakes."""

from __future__ import annotations

import re

import pytest
import typer

from psykhe_cli.cli import app, run

COMMANDS = [["validate"], ["push"], ["status"], ["sandbox"], ["sandbox", "exec"]]


def _help(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert run([*args, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_no_internal_types(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(command, capsys)
    # Python and Typer types (<list[str]>, <float range>, {CMD}) say nothing to an operator
    assert not re.search(r"<[a-z_\[\] ]+>|\{[A-Z]+\}|range\b|list\[", text), text


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_names_a_metavar_for_every_value(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    group = typer.main.get_command(app)
    for name in command:
        group = group.commands[name]  # type: ignore[attr-defined]
    text = _help(command, capsys)
    for param in group.params:
        if param.param_type_name == "option" and not param.is_flag:
            assert re.search(rf"{re.escape(param.opts[-1])} [A-Za-z0-9|=_-]+\s", text), param.opts


def test_top_level_help_lists_whole_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help([], capsys)
    commands = text.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in commands] == [
        "validate",
        "push",
        "status",
        "restore",
        "login",
        "logout",
        "completion",
        "sandbox",
    ]
    for line in commands:
        assert line.rstrip().endswith(".") and "..." not in line, line


@pytest.mark.parametrize("word", ["replace", "REPLACE", "full"])
def test_mode_replace_is_told_its_name_is_soft_replace(
    word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["push", "--mode", word, "--dry-run", "-"]) == 2
    err = capsys.readouterr().err
    assert (
        f"Invalid value for '--mode': there is no mode '{word}': the full sync is called "
        "soft_replace (--mode soft_replace)"
    ) in err
    assert "Value error" not in err


def test_mode_unknown_lists_the_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["push", "--mode", "upsert", "-"]) == 2
    assert "there is no mode 'upsert': use insert or soft_replace" in capsys.readouterr().err
