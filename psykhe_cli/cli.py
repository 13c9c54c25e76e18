"""The ``psykhe`` command line: the Typer app, and the ONE place where errors become exit codes.

Each command module (``psykhe_cli.commands.*``) gathers options, calls one core function,
renders, and either returns, raises ``typer.Exit(code)``, or raises a ``PsykheError``.
``main`` turns whatever escapes into one line on stderr and a documented exit code.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from types import FrameType
from typing import Annotated, NoReturn

import typer

from psykhe_cli import __version__
from psykhe_cli.commands import push, sandbox, validate
from psykhe_cli.commands._options import Runtime
from psykhe_cli.errors import ExitCode, PsykheError

app = typer.Typer(
    name="psykhe",
    help="Push product catalogs into the PSYKHE AI Ingestion API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"psykhe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Push product catalogs into the PSYKHE AI Ingestion API."""


validate.register(app)
push.register(app)
sandbox.register(app)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # the same path as Ctrl-C: every phase that cleans up or explains itself on
    # KeyboardInterrupt (spool removal, "ingestion N goes on, follow it with …") does so here
    raise KeyboardInterrupt


def _report(exc: PsykheError) -> None:
    sys.stderr.write(f"psykhe: error: {exc.message}\n")
    if exc.hint:
        sys.stderr.write(f"psykhe: hint: {exc.hint}\n")


def _silence_stdout() -> None:
    # stdout's reader has gone (`| head`): point the descriptor at /dev/null so the
    # interpreter's final flush cannot fail a second time.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def run(args: list[str] | None = None) -> int:
    """Run the CLI on ``args`` and return the exit code; never raises."""
    try:
        command = typer.main.get_command(app)
        # standalone mode: Typer itself reports usage errors (exit 2) and maps Ctrl-C to 130
        command.main(args=args, prog_name="psykhe", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return ExitCode.OK
        return code if isinstance(code, int) else ExitCode.INTERNAL
    except KeyboardInterrupt:
        sys.stderr.write("psykhe: interrupted\n")
        return ExitCode.INTERRUPTED
    except PsykheError as exc:
        if Runtime.debug and exc.exit_code == ExitCode.INTERNAL:
            traceback.print_exc()
        _report(exc)
        return exc.exit_code
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.OK
    except OSError as exc:
        if Runtime.debug:
            traceback.print_exc()
        sys.stderr.write(f"psykhe: error: {exc.strerror or exc}\n")
        return ExitCode.INTERNAL
    except Exception as exc:
        if Runtime.debug:
            traceback.print_exc()
        sys.stderr.write(
            f"psykhe: internal error: {type(exc).__name__}: {exc}\n"
            "psykhe: hint: this is a bug; rerun with --debug for the traceback\n"
        )
        return ExitCode.INTERNAL
    return ExitCode.OK


def main() -> NoReturn:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    code = run()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
    except OSError as exc:  # e.g. stdout is /dev/full
        _silence_stdout()
        sys.stderr.write(f"psykhe: error: cannot write to standard output: {exc.strerror}\n")
        code = code or ExitCode.INTERNAL
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    # Every file, spool, worker and connection is closed by now: leave without tearing the
    # interpreter down object by object, which took 30-90 ms of every command.
    os._exit(code)
