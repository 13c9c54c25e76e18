"""Exit codes and the one exception tree of psykhe.

Every failure the user can meet is a ``PsykheError`` carrying the exit code it ends with.
``exit_code_of`` is the one rule from how a run ended to its exit code: ``cli.run`` exits with
it, a command's last report (``--json``) carries it (``outcome.py``), and a push's history
records it.

    PsykheError                  (1)  internal error: a bug
    ├── UsageError               (2)  bad flag, no input given
    ├── InputError               (3)  the feed is unreadable or invalid; nothing was sent
    │   └── FeedInvalid          (3)  validate: the feed has errors, its problems were shown
    ├── ConfigError              (4)  missing, unsafe or malformed configuration or key; a
    │                                 local directory that cannot be used (state, TMPDIR)
    │   ├── MissingKeyError      (4)  no key is configured anywhere (a dry run goes on)
    │   └── AuthError            (4)  the server rejected the key (401/403)
    ├── TransientError           (5)  retries exhausted; nothing was processed, safe to rerun
    │   ├── UploadFailed         (5)  every attempt of one upload request failed
    │   └── WorkerKilled         (5)  a validation worker was killed; nothing was sent
    ├── RejectedError            (6)  the server refused the request (4xx other than auth, 3xx)
    │   └── PayloadTooLarge      (6)  HTTP 413 / payload_too_large: an insert batch can be split
    ├── GuardRefused             (7)  the soft_replace guard said no; nothing was sent
    ├── OutcomeUnknown           (8)  the server may have accepted the upload
    │   └── ProtocolError        (8)  an answer that contradicts the request (another id)
    ├── IngestionFailed          (9)  the ingestion ended with status FAILED
    ├── WaitTimeout             (10)  the wait deadline passed, ingestion still running
    ├── Interrupted            (130)  Ctrl-C or SIGTERM; 129 on SIGHUP, 131 on SIGQUIT
    └── OutputBroken           (141)  stdout's or stderr's reader went away before anything
                                      was sent; nothing was sent
"""

from __future__ import annotations

import signal
from enum import IntEnum


class ExitCode(IntEnum):
    """The documented exit codes of every psykhe command."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    INVALID_INPUT = 3
    CONFIG = 4
    TRANSIENT = 5
    REJECTED = 6
    GUARD_REFUSED = 7
    OUTCOME_UNKNOWN = 8
    INGESTION_FAILED = 9
    WAIT_TIMEOUT = 10
    HANGUP = 129
    INTERRUPTED = 130
    QUIT = 131
    BROKEN_PIPE = 141


#: what each code means, as the README's table says it (tests/test_docs.py checks the two agree)
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "internal error (a bug)",
    ExitCode.USAGE: "usage error (bad flag, no input given)",
    ExitCode.INVALID_INPUT: "invalid input — nothing was sent",
    ExitCode.CONFIG: (
        "configuration or authentication problem (missing/unsafe/rejected key),"
        " or a local directory psykhe cannot use (state directory, full or read-only TMPDIR)"
    ),
    ExitCode.TRANSIENT: (
        "transient failure (retries exhausted, or a validation worker was killed)"
        " — nothing was processed, safe to run again"
    ),
    ExitCode.REJECTED: "request rejected by the server (4xx other than auth)",
    ExitCode.GUARD_REFUSED: (
        "safety guard refused (soft_replace not confirmed, empty, or shrunk too much;"
        " another sync to the target running) — nothing sent"
    ),
    ExitCode.OUTCOME_UNKNOWN: "outcome unknown — the server may have accepted the upload",
    ExitCode.INGESTION_FAILED: "the ingestion finished with status FAILED",
    ExitCode.WAIT_TIMEOUT: "wait deadline passed, ingestion still running",
    ExitCode.HANGUP: "hung up (SIGHUP), stopped as on Ctrl-C",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM)",
    ExitCode.QUIT: "quit (SIGQUIT), stopped as on Ctrl-C",
    ExitCode.BROKEN_PIPE: (
        "the reader of stdout or stderr went away before anything was sent — nothing sent"
    ),
}


#: what a failure before the first byte says of the server: the one wording of it
NOTHING_SENT = "nothing was sent"
#: the same when a streamed upload had begun: the request was cut off before its end
CUT_OFF = "the upload begun meanwhile was cut off before its end, so nothing was applied"


class PsykheError(Exception):
    """Root of every error psykhe reports; raised directly only for bugs.

    An error carries facts, and ``message`` and ``hint`` are made from them here, once:
    ``nothing_sent`` (it happened before anything could reach the server; a push that had
    begun a streamed upload sets ``upload_cut_off``), ``accepted`` and ``part`` (a push of
    several requests: the ingestions accepted before the request that failed), and
    ``following`` (the ingestion that was accepted and could not be followed).
    """

    exit_code: ExitCode = ExitCode.INTERNAL
    #: a short machine-readable name, used in ``--json`` output
    code: str = "internal_error"
    #: what went wrong is on the screen already (problem lines, a summary): ``cli.run`` adds
    #: no message line
    silent: bool = False

    def __init__(
        self, message: str, *, hint: str | None = None, nothing_sent: bool = False
    ) -> None:
        super().__init__(message)
        #: what happened, without what it means for the server
        self.what = message
        self.own_hint = hint
        self.nothing_sent = nothing_sent
        #: set by a push whose streamed upload had begun when this error stopped it
        self.upload_cut_off = False
        #: ingestions accepted before the failed request ``part`` (number, of how many)
        self.accepted: tuple[int, ...] = ()
        self.part: tuple[int, int] | None = None
        #: the ingestion accepted (and going on) that could not be followed
        self.following: int | None = None

    @property
    def message(self) -> str:
        """The one line that says what went wrong and what became of the upload."""
        if self.following is not None:
            return (
                f"ingestion {self.following} was accepted and goes on on the server, but "
                f"following it failed: {self.what}"
            )
        if self.accepted and self.part is not None:
            return f"{self.what} (part {self.part[0]} of {self.part[1]}); {self.accepted_text}"
        if self.nothing_sent:
            return f"{self.what}; {CUT_OFF if self.upload_cut_off else NOTHING_SENT}"
        return self.what

    @property
    def hint(self) -> str | None:
        """One more line telling the user what to do next."""
        if self.following is not None:
            follow = f"follow it with: psykhe status {self.following} --watch"
            return f"{self.own_hint}; then {follow}" if self.own_hint else follow
        if self.accepted and self.part is not None:
            return f"follow them with: psykhe status {self.accepted[-1]} --watch"
        return self.own_hint

    @property
    def accepted_text(self) -> str:
        """Which ingestions of a push's earlier requests were accepted."""
        return (
            f"ingestion(s) {', '.join(map(str, self.accepted))} of the part(s) before it were "
            "accepted and go on on the server"
        )

    def __str__(self) -> str:
        return self.message


class UsageError(PsykheError):
    """Raised for a bad combination of options or a missing input argument."""

    exit_code = ExitCode.USAGE
    code = "usage_error"


class InputError(PsykheError):
    """Raised when a feed cannot be read or fails validation; nothing was sent."""

    exit_code = ExitCode.INVALID_INPUT
    code = "invalid_input"


class FeedInvalid(InputError):
    """Raised by ``validate`` when a feed has an error (or a warning, with ``--strict``): its
    problem lines and summary have said so."""

    silent = True


class ConfigError(PsykheError):
    """Raised for a missing, unsafe or malformed key, base URL or config file, and for a local
    directory psykhe cannot use (the state directory, a full or read-only ``TMPDIR``)."""

    exit_code = ExitCode.CONFIG
    code = "config_error"


class MissingKeyError(ConfigError):
    """Raised when no API key is configured; ``push --dry-run`` needs none."""


class AuthError(ConfigError):
    """Raised when the server answers 401 or 403: the key was rejected."""

    code = "unauthorized"


class TransientError(PsykheError):
    """Raised when retries are exhausted before the server accepted anything."""

    exit_code = ExitCode.TRANSIENT
    code = "transient_failure"


class UploadFailed(TransientError):
    """Raised when every attempt of one upload request failed and none was accepted."""

    def __init__(self, message: str, *, hint: str | None = None, attempts: int, last: str) -> None:
        super().__init__(message, hint=hint)
        self.attempts = attempts
        #: why the last attempt failed
        self.last = last

    @property
    def message(self) -> str:
        if self.accepted and self.part is not None and self.following is None:
            number, total = self.part
            return (
                f"part {number} of {total} of the upload failed {self.attempts} time(s), last: "
                f"{self.last}; nothing from that part was processed, but {self.accepted_text}"
            )
        return super().message

    @property
    def hint(self) -> str | None:
        if self.accepted and self.part is not None and self.following is None:
            return (
                f"follow them with: psykhe status {self.accepted[-1]} --watch; sending the "
                "whole feed again is safe (products are upserted), but makes those ingestions "
                "again"
            )
        return super().hint


class RejectedError(PsykheError):
    """Raised when the server refuses a request (4xx other than auth, or a redirect)."""

    exit_code = ExitCode.REJECTED
    code = "rejected"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        http_status: int | None = None,
        api_code: str | None = None,
        ingestion_id: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status
        #: the server's ``errors[0].code`` when it sent one
        self.api_code = api_code
        #: ``errors[0].context.ingestion_id``: the server may have recorded the rejection
        self.ingestion_id = ingestion_id
        if api_code:
            self.code = api_code


class PayloadTooLarge(RejectedError):
    """Raised when the server answers 413 or ``payload_too_large``: the body is over its limit.

    An ``insert`` batch can be split and re-sent; a ``soft_replace`` body cannot.
    """

    code = "payload_too_large"


class GuardRefused(PsykheError):
    """Raised when the soft_replace guard refuses to send; nothing was sent."""

    exit_code = ExitCode.GUARD_REFUSED
    code = "guard_refused"


class OutcomeUnknown(PsykheError):
    """Raised when the body was sent but no usable answer came back."""

    exit_code = ExitCode.OUTCOME_UNKNOWN
    code = "outcome_unknown"


class ProtocolError(OutcomeUnknown):
    """Raised when an answer contradicts its request: a status about another ingestion id.

    What became of the ingestion asked about is then unknown, as after a lost answer.
    """

    code = "protocol_error"


class IngestionFailed(PsykheError):
    """Raised when the ingestion ends with status FAILED."""

    exit_code = ExitCode.INGESTION_FAILED
    code = "ingestion_failed"


class WaitTimeout(PsykheError):
    """Raised when ``--timeout`` passes while the ingestion is still running."""

    exit_code = ExitCode.WAIT_TIMEOUT
    code = "wait_timeout"


class WorkerKilled(TransientError):
    """Raised when a validation worker process was killed (by the kernel when out of
    memory, or by someone): the feed was not checked to its end, so nothing was sent."""

    code = "worker_killed"


class SignalReceived(KeyboardInterrupt):
    """What the CLI's handler of SIGTERM, SIGHUP and SIGQUIT raises: a Ctrl-C that knows its
    signal, so that every phase cleans up and explains itself as it does on Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


#: signals whose exit code is 128 + the signal's number; SIGTERM keeps Ctrl-C's 130
_OWN_CODES = {signal.SIGHUP: ExitCode.HANGUP, signal.SIGQUIT: ExitCode.QUIT}


class Interrupted(PsykheError):
    """Raised on Ctrl-C or SIGTERM (130), SIGHUP (129) or SIGQUIT (131).

    ``signum``: the signal that stopped the run (None: Ctrl-C as a plain
    ``KeyboardInterrupt``); it decides the exit code and names itself in the message.
    """

    exit_code = ExitCode.INTERRUPTED
    code = "interrupted"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        signum: int | None = None,
        nothing_sent: bool = False,
    ) -> None:
        self.signum = signum
        if signum in _OWN_CODES:
            self.exit_code = _OWN_CODES[signal.Signals(signum)]
            message = f"{message} ({signal.Signals(signum).name})"
        super().__init__(message, hint=hint, nothing_sent=nothing_sent)


def signal_of(interrupt: KeyboardInterrupt) -> int | None:
    """The signal behind a Ctrl-C (``SignalReceived``), or None for a plain one."""
    return interrupt.signum if isinstance(interrupt, SignalReceived) else None


def exit_code_of(outcome: BaseException | None) -> int:
    """The exit code of a run that ended with ``outcome`` (None: it succeeded).

    The one rule: ``cli.run`` exits with it, ``outcome.reporting_outcome`` hands it to a
    command's ``--json`` object, ``Push.run`` records it in the history.
    """
    if outcome is None:
        return ExitCode.OK
    if isinstance(outcome, SystemExit):
        interrupt = interrupt_behind(outcome)
        if interrupt is not None:
            return exit_code_of(interrupt)
        if outcome.code is None:
            return ExitCode.OK
        return outcome.code if isinstance(outcome.code, int) else ExitCode.INTERNAL
    if isinstance(outcome, KeyboardInterrupt):
        # a Ctrl-C or a signal that no phase turned into ``Interrupted``
        if isinstance(outcome, SignalReceived) and outcome.signum in _OWN_CODES:
            return _OWN_CODES[signal.Signals(outcome.signum)]
        return ExitCode.INTERRUPTED
    # a PsykheError; or Click's own exits and usage errors (``typer.Exit``)
    code = getattr(outcome, "exit_code", None)
    return int(code) if isinstance(code, int) else ExitCode.INTERNAL


def interrupt_behind(exit: SystemExit) -> KeyboardInterrupt | None:
    """The Ctrl-C or signal that Typer turned into ``Exit(130)``, if that is what ``exit`` is."""
    if exit.code != ExitCode.INTERRUPTED:
        return None
    seen: BaseException | None = exit
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class OutputBroken(PsykheError):
    """Raised when the reader of stdout or stderr went away while nothing was sent yet."""

    exit_code = ExitCode.BROKEN_PIPE
    code = "output_closed"
