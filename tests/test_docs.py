"""The README stays true to the code: its exit-code table and its commands."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from psykhe_cli.cli import app
from psykhe_cli.errors import EXIT_CODE_MEANINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_exit_code_table_is_the_one_in_errors_py() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", README, flags=re.MULTILINE)
    table = {int(code): meaning.replace("`", "") for code, meaning in rows}
    assert table == {int(code): meaning for code, meaning in EXIT_CODE_MEANINGS.items()}


def test_readme_documents_every_command() -> None:
    group = typer.main.get_command(app)
    names = getattr(group, "commands", {})
    assert set(names) == {"validate", "push", "status", "sandbox"}
    for name in names:
        assert f"### `psykhe {name}" in README, name
