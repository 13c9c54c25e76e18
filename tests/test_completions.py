"""The completion scripts: generated from the CLI, in sync with it, and working in bash."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from psykhe_cli.completions import SHELLS, cli_spec, main, render_all

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
    scripts = render_all()
    for spec in cli_spec().walk():
        for option in spec.options:
            for name in option.names:
                for script in scripts.values():
                    flag = name.lstrip("-")
                    assert flag in script, (spec.key, name)
        for sub in spec.subcommands:
            assert all(sub.path[-1] in script for script in scripts.values())


def bash_complete(*words: str) -> list[str]:
    """COMPREPLY for the command line ``psykhe WORDS`` with the cursor on the last word."""
    line = " ".join(["psykhe", *words])
    script = f"""
        source {COMPLETIONS / SHELLS["bash"]}
        COMP_WORDS=(psykhe {" ".join(repr(w) for w in words)})
        COMP_CWORD={len(words)}
        COMP_LINE={line!r}
        _psykhe
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (("pu",), ["push"]),
        (("st",), ["status"]),
        (("sandbox", "ex"), ["exec"]),
        (("push", "--mode", ""), ["insert", "soft_replace"]),
        (("push", "--skip"), ["--skip-invalid"]),
        (("validate", "--form"), ["--format"]),
        (("validate", "--format", "t"), ["tsv"]),
    ],
)
def test_bash_completes_commands_options_and_choices(
    words: tuple[str, ...], expected: list[str]
) -> None:
    assert bash_complete(*words) == expected


@pytest.mark.parametrize(("shell", "flag"), [("zsh", "-n"), ("fish", "--no-execute")])
def test_script_parses_in_its_shell(shell: str, flag: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = COMPLETIONS / SHELLS[shell]
    subprocess.run([shell, flag, str(script)], check=True)
