"""The completion scripts: generated from the CLI, in sync with it, and working in bash."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer

from psykhe_cli.cli import app
from psykhe_cli.completions import SHELLS, cli_spec, render_all
from psykhe_cli.completions.__main__ import main

COMPLETIONS = Path(__file__).resolve().parent.parent / "completions"


def test_committed_scripts_match_the_cli() -> None:
    # fails when an option or command changes without `python -m psykhe_cli.completions`
    assert main(["--check", str(COMPLETIONS)]) == 0


def test_check_reports_a_drifted_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 0
    (tmp_path / SHELLS["fish"]).write_text("# stale\n")
    assert main(["--check", str(tmp_path)]) == 1
    assert "psykhe.fish" in capsys.readouterr().err


def test_every_command_and_option_is_in_every_script() -> None:
    command = typer.main.get_command(app)
    scripts = render_all(command)
    for spec in cli_spec(command).walk():
        for option in spec.options:
            for name in option.names:
                for script in scripts.values():
                    flag = name.lstrip("-")
                    assert flag in script, (spec.key, name)
        for sub in spec.subcommands:
            assert all(sub.path[-1] in script for script in scripts.values())


def bash_complete(*words: str, cwd: Path | None = None) -> list[str]:
    """COMPREPLY for the command line ``psykhe WORDS`` with the cursor on the last word.

    WORDS are COMP_WORDS as bash makes them: ``--mode=s`` arrives as ``--mode``, ``=``, ``s``.
    """
    line = " ".join(["psykhe", *words])
    quoted = " ".join(shlex.quote(word) for word in words)
    script = f"""
        source {shlex.quote(str(COMPLETIONS / SHELLS["bash"]))}
        COMP_WORDS=(psykhe {quoted})
        COMP_CWORD={len(words)}
        COMP_LINE={shlex.quote(line)}
        _psykhe
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(
        ["bash", "--norc", "-c", script], capture_output=True, text=True, check=True, cwd=cwd
    )
    return sorted(set(done.stdout.splitlines()) - {""})


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("pu",), ["push"]),
        (("st",), ["status"]),
        (("sandbox", "ex"), ["exec"]),
        (("push", "--mode", ""), ["insert", "soft_replace"]),
        (("push", "--mode", "=", "s"), ["soft_replace"]),
        (("push", "--mode", "="), ["insert", "soft_replace"]),
        (("push", "--mode=s"), ["--mode=soft_replace"]),
        (("push", "--skip"), ["--skip-invalid"]),
        (("validate", "--form"), ["--format"]),
        (("validate", "--format", "t"), ["tsv"]),
    ],
)
def test_bash_completes_commands_options_and_choices(
    words: tuple[str, ...], expected: list[str]
) -> None:
    assert bash_complete(*words) == expected


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("my feed.jsonl", "my other.csv", "plain.jsonl"):
        (tmp_path / name).touch()
    return tmp_path


def test_bash_keeps_a_file_name_with_spaces_one_word(files: Path) -> None:
    assert bash_complete("push", "my", cwd=files) == ["my feed.jsonl", "my other.csv"]
    assert bash_complete("push", "my\\ f", cwd=files) == ["my feed.jsonl"]
    assert bash_complete("push", "--rejects", "my", cwd=files) == ["my feed.jsonl", "my other.csv"]


def test_bash_after_double_dash_completes_files_not_commands(files: Path) -> None:
    assert bash_complete("push", "--", "", cwd=files) == [
        "my feed.jsonl",
        "my other.csv",
        "plain.jsonl",
    ]
    assert bash_complete("push", "--", "--", cwd=files) == []


def test_bash_sandbox_exec_completes_the_command_after_double_dash(files: Path) -> None:
    assert "echo" in bash_complete("sandbox", "exec", "--", "ech", cwd=files)
    assert bash_complete("sandbox", "exec", "--", "echo", "pl", cwd=files) == ["plain.jsonl"]


# zsh: an interactive zsh on a pseudo-terminal (zpty) with compinit, TAB bound to complete-word,
# and compadd wrapped to print every candidate as <<candidate>>; TAB prints <<__DONE__>> when
# completion is over, which the driver waits for. (The markers are spelt "<""<" in the typed
# lines, so the terminal's echo of those lines holds none.)
ZSH_DRIVER = r"""
zmodload zsh/zpty || exit 1
zpty z zsh -f -i
zpty -w z "PS1=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compprefuncs=(_capture)'
zpty -w z '_capture() { compadd() { local -a hits; builtin compadd -O hits "$@"; \
    print -rl -- "<""<"${^hits}">"">"; builtin compadd "$@"; }; }'
zpty -w z '_tab() { zle complete-word; print -r -- "<""<__DONE__>"">"; }; zle -N _tab'
zpty -w z "bindkey '^I' _tab"
zpty -w z 'print __READY__'
zpty -r z line '*__READY__*'
zpty -w z 'print __READY__'
zpty -r z line '*__READY__*'
zpty -n -w z "$2"$'\t'
zpty -r z out '*<<__DONE__>>*'
print -r -- "$out"
zpty -d z
"""


def zsh_complete(line: str, cwd: Path | None = None) -> tuple[list[str], str]:
    """The candidates zsh offers for ``psykhe LINE<TAB>``, and everything it printed."""
    done = subprocess.run(
        ["zsh", "-f", "-c", ZSH_DRIVER, "zsh", str(COMPLETIONS), f"psykhe {line}"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    screen = done.stdout + done.stderr
    return sorted(set(re.findall(r"<<([^<>\r\n]*)>>", screen)) - {"", "__DONE__"}), screen


needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
needs_fish = pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")


@needs_zsh
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pu", ["push"]),
        ("push --mode ", ["insert", "soft_replace"]),
        ("validate --format t", ["tsv"]),
        ("sandbox e", ["exec"]),
        ("sandbox exec --po", ["--port"]),
        ("sandbox exec -- psykhe pu", ["push"]),
        ("sandbox exec --port 3 -- psykhe push --mo", ["--mode"]),
    ],
)
def test_zsh_completes_commands_options_and_choices(line: str, expected: list[str]) -> None:
    found, screen = zsh_complete(line)
    assert found == expected, screen
    assert "bad math expression" not in screen


@needs_zsh
def test_zsh_sandbox_exec_after_double_dash_completes_commands(files: Path) -> None:
    found, screen = zsh_complete("sandbox exec -- ech", cwd=files)
    assert "bad math expression" not in screen
    assert "echo" in found
    found, screen = zsh_complete("push -- ", cwd=files)
    # files only (no options, no commands after --), as zsh will insert them: quoted
    assert found == ["my\\ feed.jsonl", "my\\ other.csv", "plain.jsonl"], screen


def fish_complete(line: str, cwd: Path | None = None) -> list[tuple[str, str]]:
    """(candidate, description) pairs fish offers for ``psykhe LINE``."""
    script = f"source {COMPLETIONS / SHELLS['fish']}; complete -C {shlex.quote('psykhe ' + line)}"
    done = subprocess.run(
        ["fish", "--no-config", "-c", script], capture_output=True, text=True, check=True, cwd=cwd
    )
    pairs = [line.partition("\t") for line in done.stdout.splitlines()]
    return [(value, description) for value, _, description in pairs]


@needs_fish
def test_fish_values_do_not_repeat_the_option_description() -> None:
    assert fish_complete("push --mode ") == [("insert", ""), ("soft_replace", "")]
    assert fish_complete("push --mode=s") == [("--mode=soft_replace", "")]
    (mode,) = fish_complete("push --mo")
    assert mode == ("--mode", "insert: upsert only. soft_replace: full catalog sync")


@needs_fish
def test_fish_files_and_the_command_after_double_dash(files: Path) -> None:
    assert [value for value, _ in fish_complete("push my", cwd=files)] == [
        "my feed.jsonl",
        "my other.csv",
    ]
    assert ("push", "Validate a feed, upload it, and follow the ingestion") in fish_complete(
        "sandbox exec -- psykhe pu", cwd=files
    )
    assert "echo" in [value for value, _ in fish_complete("sandbox exec -- ech", cwd=files)]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_the_script(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from psykhe_cli.cli import run

    assert run(["completion", shell]) == 0
    assert capsys.readouterr().out == (COMPLETIONS / SHELLS[shell]).read_text()


def test_completion_command_refuses_another_shell(capsys: pytest.CaptureFixture[str]) -> None:
    from psykhe_cli.cli import run

    assert run(["completion", "tcsh"]) == 2
    assert "there is no completion for 'tcsh': use bash, zsh or fish" in capsys.readouterr().err


@pytest.mark.parametrize(("shell", "flag"), [("zsh", "-n"), ("fish", "--no-execute")])
def test_script_parses_in_its_shell(shell: str, flag: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = COMPLETIONS / SHELLS[shell]
    subprocess.run([shell, flag, str(script)], check=True)
