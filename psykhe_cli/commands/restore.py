"""``psykhe restore``: list the kept full syncs, or send one again: options → request → push."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from psykhe_cli.commands.options import (
    ApiKeyFileOption,
    BaseUrlOption,
    DebugOption,
    JsonOption,
    NoWaitOption,
    ProfileOption,
    QuietOption,
    WaitLockOption,
)
from psykhe_cli.commands.push import PollIntervalOption, RetriesOption, TimeoutOption
from psykhe_cli.config import DEFAULT_RETRIES
from psykhe_cli.errors import ExitCode, PsykheError, UsageError
from psykhe_cli.push.model import DEFAULT_MAX_DROP, DEFAULT_TIMEOUT, Mode, PushRequest

if TYPE_CHECKING:
    from psykhe_cli.config import Settings
    from psykhe_cli.kept import KeptBody
    from psykhe_cli.terminal import Environment

#: outcomes that get the summary on stdout, as for push
_SUMMARISED = (ExitCode.OK, ExitCode.INGESTION_FAILED, ExitCode.WAIT_TIMEOUT)


def restore(
    ingestion_id: Annotated[
        str | None,
        # described in the help text: Typer's argument list would show its type
        typer.Argument(metavar="ID", show_default=False, hidden=True),
    ] = None,
    list_kept: Annotated[
        bool, typer.Option("--list", help="List the kept full syncs of this target.")
    ] = False,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm the soft_replace without asking.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send it even if it shrank past --max-drop.")
    ] = False,
    max_drop: Annotated[
        float,
        typer.Option(
            "--max-drop",
            metavar="PERCENT",
            help="Refuse when products fell by more than this percent.",
        ),
    ] = DEFAULT_MAX_DROP,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check, plan and guard; ask nothing, send nothing."),
    ] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option(
            "--plan-file",
            metavar="FILE",
            help="Write every product identifier it would deactivate here (- for stdout).",
        ),
    ] = None,
    wait_lock: WaitLockOption = 0.0,
    no_wait: NoWaitOption = False,
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
    """Send a kept full sync again, byte for byte, as a soft_replace; --list shows them.

    psykhe keeps the bodies of the target's last completed full syncs (keep_full_syncs in
    the config file, default 2; 0 keeps none), compressed as they were sent. ID is the
    ingestion id of one of them (psykhe restore --list). Its body goes through everything
    a soft_replace push goes through: its lines are checked, the plan says what it would
    deactivate and bring back, the drop guard, the lock and the question (--yes) apply.

    \b
    Examples:
      psykhe restore --list
      psykhe restore 4711 --dry-run
      psykhe restore 4711 --yes --json

    \b
    Exit status as for push: 0 completed, 2 usage (no such kept full sync), 3 the kept body
    is damaged (nothing sent), 4 key or configuration, 7 guard refused, 8 outcome unknown,
    9 ingestion FAILED, 10 still running at --timeout, 130 interrupted.
    """
    from psykhe_cli.config import load_settings
    from psykhe_cli.ingestion import parse_ingestion_id
    from psykhe_cli.outputs import is_standard_output
    from psykhe_cli.terminal import Environment

    if list_kept == (ingestion_id is not None):
        raise UsageError("give the ingestion id of a kept full sync, or --list (one of them)")
    env = Environment.from_process()

    def settings() -> Settings:  # inside the report's reach: --json prints one object anyway
        return load_settings(
            base_url=base_url, api_key_file=api_key_file, retries=retries, profile=profile
        )

    if ingestion_id is None:
        _list(env, settings, as_json=json)
        return
    if json and plan_file is not None and is_standard_output(plan_file):
        raise UsageError(f"--json and --plan-file {plan_file} both write to standard output")
    options = PushRequest(
        sources=(),  # a restore reads the kept body, not a feed
        mode=Mode.SOFT_REPLACE,
        yes=yes,
        force=force,
        max_drop=max_drop,
        dry_run=dry_run,
        plan_file=plan_file,
        wait_lock=wait_lock,
        wait=not no_wait,
        timeout=timeout,
        poll_interval=poll_interval,
    )
    _send(env, settings, parse_ingestion_id(ingestion_id), options, json, quiet, debug)


def _list(env: Environment, load: Callable[[], Settings], *, as_json: bool) -> None:
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.push.restore import kept_bodies, kept_json
    from psykhe_cli.render import print_json
    from psykhe_cli.render.restore import print_kept

    settings: Settings | None = None
    bodies: list[KeptBody] = []

    def report(exit_code: int, error: PsykheError | None) -> None:
        if as_json:
            print_json(
                env,
                {
                    "exit_code": exit_code,
                    "base_url": settings.base_url if settings is not None else None,
                    "keep_full_syncs": settings.keep_full_syncs if settings else None,
                    "kept": [kept_json(body) for body in bodies],
                    "error": {"code": error.code, "message": error.message} if error else None,
                },
            )
        elif settings is not None and error is None:
            print_kept(env, settings.base_url, bodies, settings.keep_full_syncs)

    with reporting_outcome(env, report):
        settings = load()
        bodies = kept_bodies(settings).completed()


def _send(
    env: Environment,
    load: Callable[[], Settings],
    ingestion_id: int,
    options: PushRequest,
    as_json: bool,
    quiet: bool,
    debug: bool,
) -> None:
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.push import PushResult
    from psykhe_cli.push.restore import kept_json, restore_request
    from psykhe_cli.push.run import Push
    from psykhe_cli.render import print_json
    from psykhe_cli.render.push import make_observer

    env.stop_on_broken_output()  # until something may have been sent, as push
    observer = make_observer(env, quiet=quiet, debug=debug)
    runner: Push | None = None
    restored: KeptBody | None = None

    def report(exit_code: int, error: PsykheError | None) -> None:
        if as_json:
            result = runner.result if runner is not None else PushResult(mode=Mode.SOFT_REPLACE)
            if error is not None:
                result.error = error
            document = result.to_json(exit_code)
            document["restored"] = kept_json(restored) if restored is not None else None
            print_json(env, document)
        elif runner is not None and exit_code in _SUMMARISED:
            observer.summary(runner.result)

    with reporting_outcome(env, report):
        try:
            settings = load()
            request = restore_request(settings, ingestion_id, options)
            restored = request.kept.body if request.kept is not None else None
            if restored is not None:
                observer.notice(
                    f"restoring full sync {restored.ingestion_id} of {restored.time}: "
                    f"{restored.variants:,} records ({restored.products:,} products), "
                    "its body byte for byte as it was sent"
                )
            runner = Push(request, settings, observer, before_sending=env.sending)
            runner.run()
        finally:
            observer.close()


def register(app: typer.Typer) -> None:
    """Add ``restore`` to ``app``."""
    app.command(short_help="Send a kept full sync again; --list shows them.")(restore)
