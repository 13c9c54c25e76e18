"""``psykhe completion bash|zsh|fish``: print the shell completion script.

The scripts are generated from the CLI itself (``psykhe_cli/completions/``), so what pip or
pipx installed completes exactly the options it has.
"""

from __future__ import annotations

from typing import Annotated

import typer

SHELLS = ("bash", "zsh", "fish")


def _check_shell(value: str) -> str:
    if value not in SHELLS:
        raise typer.BadParameter(f"there is no completion for {value!r}: use bash, zsh or fish")
    return value


def register(app: typer.Typer) -> None:
    """Add ``completion`` to ``app``: its scripts complete ``app`` itself."""

    def completion(
        shell: Annotated[
            str,
            typer.Argument(
                metavar="bash|zsh|fish", callback=_check_shell, hidden=True, show_default=False
            ),
        ],
        quiet: Annotated[
            bool,
            typer.Option(
                "--quiet",
                "-q",
                help="Accepted on every command; completion prints only the script.",
            ),
        ] = False,
    ) -> None:
        """Print the completion script for bash, zsh or fish.

        \b
        bash:  psykhe completion bash > ~/.local/share/bash-completion/completions/psykhe
        zsh:   psykhe completion zsh > ~/.zfunc/_psykhe   (a directory on $fpath)
        fish:  psykhe completion fish > ~/.config/fish/completions/psykhe.fish
        """
        import sys

        from psykhe_cli.completions import script

        sys.stdout.write(script(shell, typer.main.get_command(app)))

    app.command(short_help="Print the shell completion script for bash, zsh or fish.")(completion)
