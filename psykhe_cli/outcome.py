"""How a command's run ends: its last report carries the exit code the process exits with.

A command runs its work inside ``reporting_outcome``; however the work ends (returns, raises a
``PsykheError``, is interrupted, meets a bug), the command's report (its ``--json`` object, or
its summary) is then shown with ``errors.exit_code_of`` of that ending, the code ``cli.run``
computes from the same exception and exits with. No command works its exit code out itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

import orjson

from psykhe_cli.errors import ExitCode, PsykheError, UsageError, exit_code_of

if TYPE_CHECKING:
    from psykhe_cli.terminal import Environment

#: ``report(exit_code, error)``: show a command's last word; ``error`` is the ``PsykheError``
#: that ended the run, if one did
Report = Callable[[int, PsykheError | None], None]


#: whether a command of this run showed its report: ``cli.run`` shows a usage error's ``--json``
#: object only when none did (an error raised before the command's report could be made)
_REPORT_SHOWN: ContextVar[bool] = ContextVar("report_shown", default=False)


def report_shown() -> bool:
    """True once a command of this run (this context) has shown its report."""
    return _REPORT_SHOWN.get()


def forget_report() -> None:
    """A new run begins (``cli.run``): no report shown yet."""
    _REPORT_SHOWN.set(False)


@contextmanager
def reporting_outcome(env: Environment, report: Report) -> Iterator[None]:
    """Run the block; then, however it ended, ``report`` what it did with its exit code.

    The report is written through ``env.reporting``: a reader of stdout that went away changes
    nothing, and a report that could not be written turns a success into an error.
    """
    outcome: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        outcome = exc
        raise
    finally:
        code = exit_code_of(outcome)
        _REPORT_SHOWN.set(True)
        with env.reporting(failed=code != ExitCode.OK):
            report(code, outcome if isinstance(outcome, PsykheError) else None)


def usage_error_document(message: str, exit_code: int) -> str:
    """The ``--json`` of a run that a usage error stopped before its command ran: one object,
    with the ``exit_code`` and ``error`` every command's report carries, and ``ok`` as
    validate's has it."""
    error = {"code": UsageError.code, "message": message}
    return orjson.dumps({"ok": False, "exit_code": exit_code, "error": error}).decode()
