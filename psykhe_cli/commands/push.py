"""``psykhe push`` and ``psykhe status``: gather options → request → one core call → render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from psykhe_cli.commands.options import (
    ApiKeyFileOption,
    BaseUrlOption,
    DebugOption,
    DelimiterOption,
    FeedsArgument,
    FormatOption,
    IncludeInactiveOption,
    JsonOption,
    ListSeparatorOption,
    MapOption,
    MaxProblemsOption,
    NoWaitOption,
    ProfileOption,
    QuietOption,
    StrictOption,
    WaitLockOption,
    feed_sources,
)
from psykhe_cli.config import DEFAULT_RETRIES
from psykhe_cli.errors import ExitCode, MissingKeyError, PsykheError, UsageError
from psykhe_cli.push.model import DEFAULT_MAX_DROP, DEFAULT_TIMEOUT, Mode

if TYPE_CHECKING:
    from psykhe_cli.config import Settings
    from psykhe_cli.push import PushRequest


#: the API's processing modes; a plain string option, so a wrong one gets our own message
PROCESSING_MODES = (Mode.INSERT.value, Mode.SOFT_REPLACE.value)
#: what operators type for a full sync, after the API's old page and other tools
_FULL_SYNC_NAMES = {"replace", "soft-replace", "softreplace", "full", "sync", "full_sync"}


def _check_mode(value: str) -> Mode:
    """The one check of ``--mode``: from here on it is a ``Mode``."""
    if value in PROCESSING_MODES:
        return Mode(value)
    if value.lower() in _FULL_SYNC_NAMES:
        raise typer.BadParameter(
            f"there is no mode {value!r}: the full sync is called soft_replace "
            "(--mode soft_replace)"
        )
    raise typer.BadParameter(f"there is no mode {value!r}: use insert or soft_replace")


def _check_max_drop(value: float) -> float:
    if not 0 <= value <= 100:  # NaN too: it compares false with everything
        raise typer.BadParameter(f"must be a number from 0 to 100, not {value:g}")
    return value


def _check_percentage(value: float | None) -> float | None:
    return None if value is None else _check_max_drop(value)


RetriesOption = Annotated[
    int,
    typer.Option("--retries", min=0, metavar="N", help="Retries for connect errors, 429 and 503."),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", min=0, metavar="SECONDS", help="Seconds to wait for the ingestion to finish."
    ),
]
PollIntervalOption = Annotated[
    float | None,
    typer.Option(
        "--poll-interval",
        min=0.01,
        metavar="SECONDS",
        help="Seconds between status checks (default 1 s to 10 s).",
    ),
]


def _settings(
    base_url: str | None, api_key_file: Path | None, retries: int, profile: str | None
) -> Settings:
    from psykhe_cli.config import load_settings

    return load_settings(
        base_url=base_url, api_key_file=api_key_file, retries=retries, profile=profile
    )


def push(
    feeds: FeedsArgument = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            metavar="|".join(PROCESSING_MODES),
            callback=_check_mode,
            help="insert: upsert only. soft_replace: full catalog sync.",
        ),
    ] = "insert",
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm soft_replace without asking.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send a soft_replace that shrank past --max-drop.")
    ] = False,
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop",
            metavar="PERCENT",
            callback=_check_max_drop,
            help="soft_replace: refuse when products fell by more than this percent.",
        ),
    ] = DEFAULT_MAX_DROP,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read, validate, spool, plan and guard; ask nothing, send nothing."
        ),
    ] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan-file",
            metavar="FILE",
            help="soft_replace: write every product identifier it would deactivate here "
            "(- for standard output).",
        ),
    ] = None,
    wait_lock: WaitLockOption = 0.0,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="insert: send the valid lines, skip the invalid."),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            help="With --skip-invalid: write rejected lines here (- for standard output).",
        ),
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(
            "--batch-size",
            metavar="SIZE",
            help="insert: cut into requests of this size (50MB) or lines (100000).",
        ),
    ] = None,
    compression_level: Annotated[
        int | None,
        typer.Option(
            "--compression-level",
            min=1,
            max=9,
            metavar="1-9",
            help="gzip level: 1 fast … 9 small. Default: 3, then paced by the link while "
            "the upload streams.",
        ),
    ] = None,
    no_wait: NoWaitOption = False,
    only_changed: Annotated[
        bool,
        typer.Option(
            "--only-changed",
            help="insert: send only the records new or changed since the last confirmed push.",
        ),
    ] = False,
    max_changed: Annotated[
        float | None,
        typer.Option(
            "--max-changed",
            metavar="PERCENT",
            callback=_check_percentage,
            help="Refuse when more than this percent of the remembered variants change "
            "(default: off, or max_changed in the config).",
        ),
    ] = None,
    baseline_max_age: Annotated[
        float | None,
        typer.Option(
            "--baseline-max-age",
            min=0,
            metavar="DAYS",
            help="Trust the catalog memory for this many days after a whole feed "
            "(default: 7, or baseline_max_age in the config).",
        ),
    ] = None,
    no_stream: Annotated[
        bool,
        typer.Option(
            "--no-stream",
            help="Check and compress the whole feed before the upload starts.",
        ),
    ] = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    poll_interval: PollIntervalOption = None,
    format: FormatOption = None,
    delimiter: DelimiterOption = None,
    map: MapOption = None,
    include_inactive: IncludeInactiveOption = False,
    list_separator: ListSeparatorOption = None,
    strict: StrictOption = False,
    max_problems: MaxProblemsOption = 1000,
    profile: ProfileOption = None,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    retries: RetriesOption = DEFAULT_RETRIES,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    log_timestamps: Annotated[
        bool,
        typer.Option(
            "--log-timestamps/--no-log-timestamps",
            envvar="PSYKHE_LOG_TIMESTAMPS",
            show_envvar=False,
            help="Begin each line on stderr with the local time (plain lines, no live "
            "display). Default: off, or PSYKHE_LOG_TIMESTAMPS=1.",
        ),
    ] = False,
) -> None:
    """Validate a feed, upload it gzip-compressed, and follow the ingestion to its end.

    FEED is a JSON Lines, CSV or TSV file, gzip-compressed or not, or - for standard input
    (with no FEED, standard input is read when it is a pipe or a file).

    Nothing is sent when any line has an error (see --skip-invalid). soft_replace
    deactivates every product missing from the feed: it asks first on a terminal and
    needs --yes elsewhere. The ingestion id is printed as soon as the server accepts the
    upload; the summary goes to stdout (or one JSON object with --json).

    \b
    Examples:
      psykhe push catalog.jsonl
      cat feed.jsonl | psykhe push - --no-wait
      psykhe push catalog.csv.gz --mode soft_replace --yes --json

    \b
    Exit status: 0 completed, 2 usage, 3 invalid feed, 4 key or configuration,
    5 retries exhausted or a validation worker killed (nothing processed), 6 rejected,
    7 guard refused, 8 outcome unknown, 9 ingestion FAILED, 10 still running at
    --timeout, 130 interrupted (129 SIGHUP, 131 SIGQUIT), 141 the reader of stdout or
    stderr went away before anything was sent.
    """
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.outputs import is_standard_output
    from psykhe_cli.push import PushRequest, PushResult
    from psykhe_cli.push.run import Push
    from psykhe_cli.render import print_json
    from psykhe_cli.render.push import make_observer
    from psykhe_cli.spool import BatchLimit
    from psykhe_cli.terminal import Environment
    from psykhe_cli.validate import ValidationOptions

    env = Environment.from_process()
    if log_timestamps:
        env.timestamp_stderr()
    # until the push may have sent something, a reader that went away stops it (exit 141)
    env.stop_on_broken_output()
    observer = make_observer(
        env, quiet=quiet, debug=debug, every_problem=json, plain=log_timestamps
    )
    runner: Push | None = None

    def report(exit_code: int, error: PsykheError | None) -> None:
        if json:
            result = runner.result if runner is not None else PushResult(mode=Mode(mode))
            if error is not None:
                result.error = error
            print_json(env, result.to_json(exit_code))
        elif runner is not None and exit_code in _SUMMARISED:
            observer.summary(runner.result)

    with reporting_outcome(env, report):
        try:
            if rejects is not None and not skip_invalid:
                raise UsageError("--rejects goes with --skip-invalid")
            if plan_file is not None and mode != Mode.SOFT_REPLACE:
                raise UsageError("--plan-file goes with --mode soft_replace")
            for option, path in (("--rejects", rejects), ("--plan-file", plan_file)):
                if json and path is not None and is_standard_output(path):
                    raise UsageError(f"--json and {option} {path} both write to standard output")
            request = PushRequest(
                sources=feed_sources(
                    feeds,
                    env=env,
                    command="push",
                    format=format,
                    delimiter=delimiter,
                    maps=map,
                    include_inactive=include_inactive,
                    list_separator=list_separator,
                ),
                validation=ValidationOptions(strict=strict, max_problems=max_problems),
                mode=Mode(mode),
                skip_invalid=skip_invalid,
                rejects=rejects,
                dry_run=dry_run,
                yes=yes,
                force=force,
                max_drop=max_drop,
                plan_file=plan_file,
                wait_lock=wait_lock,
                batch_limit=BatchLimit.parse(batch_size) if batch_size else None,
                compression_level=compression_level,
                wait=not no_wait,
                timeout=timeout,
                poll_interval=poll_interval,
                stream=not no_stream,
                only_changed=only_changed,
            )
            settings = _settings_for(request.dry_run, base_url, api_key_file, retries, profile)
            request = _with_config(request, settings, max_changed, baseline_max_age)
            # the first byte may leave after this: a stop signal or a reader gone stops it
            runner = Push(request, settings, observer, before_sending=env.sending)
            runner.run()
        finally:
            observer.close()


def _with_config(
    request: PushRequest,
    settings: Settings | None,
    max_changed: float | None,
    baseline_max_age: float | None,
) -> PushRequest:
    """The catalog memory's limits: the flag, else the config file's, else the default."""
    import dataclasses

    if max_changed is None and settings is not None:
        max_changed = settings.max_changed
    if baseline_max_age is None:
        baseline_max_age = settings.baseline_max_age if settings is not None else None
    if baseline_max_age is None:
        baseline_max_age = request.baseline_max_age
    return dataclasses.replace(request, max_changed=max_changed, baseline_max_age=baseline_max_age)


#: outcomes that get the summary on stdout: the ingestion ran (completed, FAILED, or still
#: running at --timeout) and its figures say what happened
_SUMMARISED = (ExitCode.OK, ExitCode.INGESTION_FAILED, ExitCode.WAIT_TIMEOUT)


def _settings_for(
    dry_run: bool,
    base_url: str | None,
    api_key_file: Path | None,
    retries: int,
    profile: str | None,
) -> Settings | None:
    """Settings; a dry run needs no key (nothing is sent), but a configured one is checked."""
    try:
        return _settings(base_url, api_key_file, retries, profile)
    except MissingKeyError:
        if dry_run:
            return None
        raise


def status(
    ingestion_id: Annotated[
        str | None,
        # described in the help text: Typer's argument list would show its type
        typer.Argument(metavar="ID", show_default=False, hidden=True),
    ] = None,
    last: Annotated[
        bool, typer.Option("--last", help="The last ingestion pushed to this target.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow it to the end; exit codes as for push.")
    ] = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
    poll_interval: PollIntervalOption = None,
    profile: ProfileOption = None,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    retries: RetriesOption = DEFAULT_RETRIES,
    json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Show an ingestion: status, mode, product metrics; --watch follows it to the end.

    ID is the ingestion id that push printed; --last takes the last one pushed to this target.
    """
    from psykhe_cli.ingestion import parse_ingestion_id
    from psykhe_cli.status import show_status, without_key
    from psykhe_cli.terminal import Environment

    if (ingestion_id is None) == (not last):
        raise UsageError("give an ingestion id or --last (one of them)")
    wanted = parse_ingestion_id(ingestion_id) if ingestion_id is not None else None
    env = Environment.from_process()
    try:
        settings = _settings(base_url, api_key_file, retries, profile)
    except MissingKeyError as exc:
        if last:  # an empty history needs no key to say so
            raise without_key(exc) from None
        raise
    show_status(
        env,
        settings,
        ingestion_id=wanted,
        watch=watch,
        timeout=timeout,
        poll_interval=poll_interval,
        as_json=json,
        quiet=quiet,
        debug=debug,
    )


def register(app: typer.Typer) -> None:
    """Add ``push`` and ``status`` to ``app``."""
    app.command(short_help="Validate a feed, upload it, and follow the ingestion.")(push)
    app.command(short_help="Show an ingestion; --watch follows it to the end.")(status)
