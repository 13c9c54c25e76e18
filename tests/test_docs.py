"""The README, docs/feeds.md and the CHANGELOG stay true to the code: exit codes, commands,
product fields, the version."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import typer

from psykhe_cli.cli import app
from psykhe_cli.errors import EXIT_CODE_MEANINGS
from psykhe_cli.feeds import FORMATS
from psykhe_cli.schema import KIND_DESCRIPTIONS, PRODUCT_FIELDS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_exit_code_table_is_the_one_in_errors_py() -> None:
    rows = re.findall(r"^\| (\d+) \| (.+?) \|$", README, flags=re.MULTILINE)
    table = {int(code): meaning.replace("`", "") for code, meaning in rows}
    assert table == {int(code): meaning for code, meaning in EXIT_CODE_MEANINGS.items()}


def test_readme_documents_every_command() -> None:
    group = typer.main.get_command(app)
    names = getattr(group, "commands", {})
    assert set(names) == {
        "validate",
        "push",
        "status",
        "restore",
        "sandbox",
        "login",
        "logout",
        "completion",
    }
    for name in names:
        assert f"### `psykhe {name}" in README, name


FEEDS_DOC = (Path(__file__).resolve().parent.parent / "docs" / "feeds.md").read_text()


def field_table() -> str:
    """docs/feeds.md's table of product fields, as psykhe_cli/schema.py says it is."""
    rows = ["| field | type | when missing |", "|---|---|---|"]
    for rule in PRODUCT_FIELDS:
        level = rule.when_missing or "—"
        rows.append(f"| `{rule.name}` | {KIND_DESCRIPTIONS[rule.kind]} | {level} |")
    return "\n".join(rows)


def test_feeds_doc_field_table_is_schema_py() -> None:
    # on failure, paste the expected table between the markers of docs/feeds.md
    start = FEEDS_DOC.index("checked by tests/test_docs.py -->\n") + len(
        "checked by tests/test_docs.py -->\n"
    )
    end = FEEDS_DOC.index("\n<!-- /fields -->")
    assert FEEDS_DOC[start:end] == field_table()


def test_feeds_doc_names_every_format_and_is_linked() -> None:
    for fmt in FORMATS:
        assert f"`{fmt}`" in FEEDS_DOC, fmt
    assert "[docs/feeds.md](docs/feeds.md)" in README
    group = typer.main.get_command(app)
    validate = getattr(group, "commands", {})["validate"]
    assert "docs/feeds.md" in (validate.help or "")


def test_changelog_latest_release_is_the_version_psykhe_prints() -> None:
    from tests.helpers import PSYKHE

    out = subprocess.run([*PSYKHE, "--version"], capture_output=True, text=True, check=True)
    version = out.stdout.removeprefix("psykhe ").strip()
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[0] == "[Unreleased]"  # what comes next, on top
    latest = re.fullmatch(r"\[(\S+)\] - (\d{4}-\d\d-\d\d)", headings[1])
    assert latest is not None, headings[1]
    assert latest[1] == version
    date.fromisoformat(latest[2])  # a real date
