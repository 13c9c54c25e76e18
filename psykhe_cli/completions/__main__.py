"""``python -m psykhe_cli.completions [--check] [DIR]``: write the scripts of ``psykhe``'s
CLI in ``completions/`` (or DIR), or with ``--check`` exit 1 when they have drifted."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from psykhe_cli.cli import app
from psykhe_cli.completions import render_all


def main(argv: list[str]) -> int:
    """Write (or with ``--check`` compare) the scripts in ``completions/``."""
    check = "--check" in argv
    rest = [arg for arg in argv if arg != "--check"]
    here = Path(__file__).resolve().parent
    directory = Path(rest[0]) if rest else here.parent.parent / "completions"
    stale = []
    for name, text in render_all(typer.main.get_command(app)).items():
        target = directory / name
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
        else:
            directory.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    if stale:
        sys.stderr.write(
            "completion scripts are out of date: " + ", ".join(stale) + "\n"
            "run: python -m psykhe_cli.completions\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
