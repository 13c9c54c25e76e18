"""``psykhe login`` and ``psykhe logout``: the API key in the system keyring; ``psykhe login
--check``: which key is in use, and whether the server accepts it.

The keyring is optional (``psykhe[keyring]``); servers without one keep using
``PSYKHE_API_KEY`` or ``--api-key-file``. Which key wins is documented in ``config.py``.
``--check`` stores nothing: it loads the key as push would and asks the server about it
(``http/keycheck.py``); the key itself is never shown, only its fingerprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from psykhe_cli.commands.options import (
    ApiKeyFileOption,
    BaseUrlOption,
    DebugOption,
    JsonOption,
    ProfileOption,
    QuietOption,
)
from psykhe_cli.errors import PsykheError, TransientError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from psykhe_cli.client import KeyVerdict
    from psykhe_cli.config import Settings
    from psykhe_cli.terminal import Environment

#: a key is one short line; more than this on stdin is not a key
_MAX_KEY_BYTES = 4096

CheckOption = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Store nothing: say which key is in use (where it comes from, its fingerprint) "
        "and whether the server accepts it. Exit 0 accepted, 4 refused, 5 not known.",
    ),
]


def login(
    profile: ProfileOption = None,
    check: CheckOption = False,
    base_url: BaseUrlOption = None,
    api_key_file: ApiKeyFileOption = None,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
) -> None:
    """Keep the private API key in the system keyring (needs psykhe[keyring]).

    On a terminal the key is asked for without echo; otherwise it is read from standard
    input (psykhe login < keyfile). The key is used when neither --api-key-file nor
    PSYKHE_API_KEY is set; with --profile NAME it belongs to [profiles.NAME].

    With --check nothing is stored: the key push would use is looked up and the server asked
    whether it accepts it (--base-url, --api-key-file and --json go with --check).
    """
    if check:
        _check(profile, base_url, api_key_file, as_json=as_json, quiet=quiet, debug=debug)
        return
    given = {"--base-url": base_url, "--api-key-file": api_key_file, "--json": as_json}
    used = [flag for flag, value in given.items() if value]
    if used:
        raise UsageError(f"{', '.join(used)}: only with --check (psykhe login --check)")
    _store(profile, quiet=quiet)


def _store(profile: str | None, *, quiet: bool) -> None:
    import getpass
    import sys

    from psykhe_cli.config_file import DEFAULT_PROFILE, chosen_profile
    from psykhe_cli.keys import check_api_key, check_keyring, store_key

    name = chosen_profile(profile)
    label = name or DEFAULT_PROFILE
    check_keyring()  # before the key is asked for: it would have nowhere to go
    if sys.stdin.isatty():
        value = getpass.getpass(f"API key for profile {label} (sk_…, not shown): ")
    else:
        data = sys.stdin.buffer.read(_MAX_KEY_BYTES + 1)
        if len(data) > _MAX_KEY_BYTES:
            raise UsageError("standard input holds more than an API key")
        value = data.decode("utf-8-sig", errors="replace").removesuffix("\n").removesuffix("\r")
    key = check_api_key(value, source="psykhe login")
    backend = store_key(name, key)
    if not quiet:
        sys.stderr.write(f"psykhe: the key for profile {label} is in the keyring ({backend})\n")


def _check(
    profile: str | None,
    base_url: str | None,
    api_key_file: Path | None,
    *,
    as_json: bool,
    quiet: bool,
    debug: bool,
) -> None:
    """Load the key as push would, ask the server, and report; exit 4 refused, 5 not known."""
    from psykhe_cli.client import IngestionClient, KeyStatus, make_http_client
    from psykhe_cli.config import load_settings
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.render import write_line
    from psykhe_cli.terminal import Environment

    env = Environment.from_process()
    settings: Settings | None = None
    verdict: KeyVerdict | None = None

    def report(exit_code: int, error: PsykheError | None) -> None:
        if as_json:
            _print_json(env, exit_code, settings, verdict, error)
        elif settings is not None and verdict is not None and not quiet:
            _print_check(env, settings, verdict)

    def on_debug(line: str) -> None:
        if debug:
            write_line(env.stderr, f"psykhe: debug: {line}")

    with reporting_outcome(env, report):
        settings = load_settings(base_url=base_url, api_key_file=api_key_file, profile=profile)
        with make_http_client(settings) as http:
            client = IngestionClient.from_settings(settings, http, on_debug=on_debug)
            verdict = client.check_key()
        if verdict.status is KeyStatus.REFUSED:
            raise verdict.error()
        if verdict.status is KeyStatus.UNKNOWN:
            raise TransientError(
                f"cannot tell whether {settings.base_url} accepts the API key from "
                f"{settings.key_source}: {verdict.reason}",
                hint="a push goes ahead in this case, and its upload's answer decides; "
                "check again later",
            )


_SHOWN = {"accepted": "accepts the key", "refused": "refuses the key", "unknown": "not known"}
_STYLE = {"accepted": "green", "refused": "red", "unknown": "yellow"}


def _print_check(env: Environment, settings: Settings, verdict: KeyVerdict) -> None:
    from psykhe_cli.config_file import DEFAULT_PROFILE
    from psykhe_cli.render import print_summary

    status = verdict.status.value
    rows = [
        ("profile", settings.profile or DEFAULT_PROFILE, ""),
        ("base URL", settings.base_url, ""),
        ("key from", settings.key_source, ""),
        ("key fingerprint", settings.key_fingerprint, ""),
        ("server", _SHOWN[status], _STYLE[status]),
        ("answer", verdict.reason, ""),
    ]
    print_summary(env, "psykhe login --check", rows)


def _print_json(
    env: Environment,
    exit_code: int,
    settings: Settings | None,
    verdict: KeyVerdict | None,
    error: PsykheError | None,
) -> None:
    from psykhe_cli.render import print_json

    said = None
    if error is not None:
        said = {"code": error.code, "message": error.message}
        if error.hint:
            said["hint"] = error.hint
    print_json(
        env,
        {
            "exit_code": exit_code,
            "profile": settings.profile if settings is not None else None,
            "base_url": settings.base_url if settings is not None else None,
            "key_source": settings.key_source if settings is not None else None,
            "key_fingerprint": settings.key_fingerprint if settings is not None else None,
            "key": verdict.to_json() if verdict is not None else None,
            "error": said,
        },
    )


def logout(profile: ProfileOption = None, quiet: QuietOption = False) -> None:
    """Remove the API key that psykhe login stored in the keyring."""
    import sys

    from psykhe_cli.config_file import DEFAULT_PROFILE, pick_profile
    from psykhe_cli.keys import delete_key

    name = pick_profile(profile)  # a profile removed from the config may still have a key
    label = name or DEFAULT_PROFILE
    removed = delete_key(name)
    if quiet:
        return
    if removed:
        sys.stderr.write(f"psykhe: removed the key for profile {label} from the keyring\n")
    else:
        sys.stderr.write(f"psykhe: the keyring held no key for profile {label}\n")


def register(app: typer.Typer) -> None:
    """Add ``login`` and ``logout`` to ``app``."""
    app.command(short_help="Keep the API key in the system keyring, or check the key in use.")(
        login
    )
    app.command(short_help="Remove the API key from the system keyring.")(logout)
