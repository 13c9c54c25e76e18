"""The ``psykhe`` command line: the Typer app, and the ONE place where a run ends.

Each command module (``psykhe_cli.commands.*``) gathers options, calls one core function, and
either returns or raises (a ``PsykheError``, or an interruption), showing its report on the way
out (``outcome.reporting_outcome``). ``run`` turns whatever escapes into one line on stderr and
the documented exit code, ``errors.exit_code_of`` of it: the code the report carries too. A
usage error is found before any command runs: Click says it on stderr, and with ``--json``
anywhere on the command line ``run`` also prints one object on stdout
(``outcome.usage_error_document``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
import traceback
from typing import Annotated, NoReturn

import typer

from psykhe_cli import __version__
from psykhe_cli.commands import completion, login, push, restore, sandbox, validate
from psykhe_cli.commands.options import Runtime
from psykhe_cli.errors import ExitCode, PsykheError, UsageError, exit_code_of, interrupt_behind
from psykhe_cli.outcome import forget_report, report_shown, usage_error_document
from psykhe_cli.printable import printable

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
restore.register(app)
sandbox.register(app)
login.register(app)
completion.register(app)


def _report(exc: PsykheError) -> None:
    # a message may carry a file name or a server's words: control characters escaped
    sys.stderr.write(f"psykhe: error: {printable(exc.message)}\n")
    if exc.hint:
        sys.stderr.write(f"psykhe: hint: {printable(exc.hint)}\n")


def _interrupted(interrupt: KeyboardInterrupt, code: int) -> None:
    """Report a Ctrl-C or signal that no phase explained."""
    signum = getattr(interrupt, "signum", signal.SIGINT)
    name = f" ({signal.Signals(signum).name})" if code != ExitCode.INTERRUPTED else ""
    sys.stderr.write(f"psykhe: error: interrupted{name}\n")


def _explain(outcome: BaseException, code: int, *, debug: bool) -> None:
    """Say in one line on stderr what ended the run, unless it was said already; with
    ``debug`` (``--debug``), the traceback of what was not expected."""
    if isinstance(outcome, SystemExit):
        # Typer reported its own usage errors; a Ctrl-C it turned into Exit(130) is ours
        interrupt = interrupt_behind(outcome)
        if interrupt is not None:
            _interrupted(interrupt, code)
    elif isinstance(outcome, KeyboardInterrupt):
        _interrupted(outcome, code)
    elif isinstance(outcome, PsykheError):
        if debug and code == ExitCode.INTERNAL:
            traceback.print_exc()
        if not outcome.silent:
            _report(outcome)
    elif isinstance(outcome, OSError):
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"psykhe: error: {printable(str(outcome.strerror or outcome))}\n")
    else:
        if debug:
            traceback.print_exc()
        sys.stderr.write(
            f"psykhe: internal error: {type(outcome).__name__}: {printable(str(outcome))}\n"
            "psykhe: hint: this is a bug; rerun with --debug for the traceback\n"
        )


def _unreported_usage_error(outcome: BaseException) -> str | None:
    """The message of the usage error that ended the run before any report was shown: one
    Typer reported on stderr before it exited, or one a command raised before its report.

    Told by their shape, exit code 2 and ``format_message``: recent Typer raises its own
    vendored Click's errors (``typer.TyperException``), older Typer (0.16) Click's.
    """
    context = outcome.__context__
    format_message = getattr(context, "format_message", None)
    if (
        isinstance(outcome, SystemExit)
        and getattr(context, "exit_code", None) == ExitCode.USAGE
        and callable(format_message)
    ):
        return str(format_message())
    if isinstance(outcome, UsageError) and not report_shown():
        return outcome.message
    return None


def _wants_json(args: list[str]) -> bool:
    """``--json`` anywhere among the options (not after ``--``, where a file may be named so)."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def run(args: list[str] | None = None) -> int:
    """Run the CLI on ``args`` and return the exit code; never raises."""
    runtime = Runtime()  # what --debug sets, read here once the command has ended
    forget_report()
    try:
        command = typer.main.get_command(app)
        # standalone mode: Typer itself reports usage errors (exit 2) and maps Ctrl-C to 130
        command.main(args=args, prog_name="psykhe", standalone_mode=True, obj=runtime)
    except BaseException as exc:  # every ending gets its one line and its code
        code = exit_code_of(exc)
        _explain(exc, code, debug=runtime.debug)
        usage = _unreported_usage_error(exc)
        if usage is not None and _wants_json(sys.argv[1:] if args is None else args):
            sys.stdout.write(usage_error_document(usage, code) + "\n")
        return code
    return ExitCode.OK


def main() -> NoReturn:
    """Console-script entry point."""
    from psykhe_cli.terminal import (
        GuardedStream,
        guard_std_streams,
        handle_stop_signals,
        open_closed_std_streams,
    )

    open_closed_std_streams()
    guard_std_streams()
    handle_stop_signals()
    code = run()
    sys.stdout.flush()
    error = sys.stdout.error if isinstance(sys.stdout, GuardedStream) else None
    # e.g. stdout is /dev/full, and no report noticed (a command writing there directly)
    if error is not None and error.errno not in (errno.EPIPE, errno.EBADF) and code == 0:
        sys.stderr.write(f"psykhe: error: cannot write to standard output: {error.strerror}\n")
        code = ExitCode.INTERNAL
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    # Every file, spool, worker and connection is closed by now: leave without tearing the
    # interpreter down object by object, which took 30-90 ms of every command.
    os._exit(code)
