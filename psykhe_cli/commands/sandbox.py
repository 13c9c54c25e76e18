"""`psykhe sandbox` and `psykhe sandbox exec`: a local emulator of the Ingestion API.

starlette and uvicorn (the ``sandbox`` extra) are imported only when a sandbox command runs,
so ``psykhe --help`` stays fast and the client works without them.
"""

from __future__ import annotations

import functools
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from psykhe_cli.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from psykhe_cli.sandbox.app import Sandbox
    from psykhe_cli.sandbox.settings import SandboxSettings

sandbox_app = typer.Typer(
    name="sandbox",
    help=(
        "Run a local emulator of the Ingestion API (sandbox-only inspection and fault routes "
        "under /_sandbox/). Prints export lines for PSYKHE_BASE_URL and PSYKHE_API_KEY."
    ),
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)

HostOption = Annotated[
    str,
    typer.Option(
        "--host", metavar="ADDRESS", help="Address to listen on (anything but loopback is exposed)."
    ),
]
KeyOption = Annotated[
    list[str] | None,
    typer.Option(
        "--key",
        metavar="KEY",
        help="Accepted private key 'sk_…' or 'sk_…=client-id' (repeatable; default: generate one).",
    ),
]
DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        metavar="FILE",
        help="SQLite file kept across restarts. Default: temporary, removed at exit.",
    ),
]
DelayOption = Annotated[
    float,
    typer.Option(
        "--processing-delay",
        metavar="SECONDS",
        min=0,
        help="Seconds an ingestion spends in each of CREATED and STARTED.",
    ),
]
MaxBodyOption = Annotated[
    float,
    typer.Option(
        "--max-body-mb",
        min=0,
        metavar="MIB",
        help="payload_too_large above this many MiB, after decompression.",
    ),
]
FaultsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--faults",
        metavar="JSON",
        help="Fault rules as JSON (or @FILE), the body of POST /_sandbox/faults (repeatable).",
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Only warnings and errors on stderr (the export lines stay)."
    ),
]
ExecQuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Accepted on every command; exec prints only errors already."
    ),
]


def _require_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        hint = (
            "pipx inject psykhe starlette uvicorn"
            if installed_by_pipx()
            else "pip install 'psykhe[sandbox]'"
        )
        raise ConfigError(
            f"the sandbox needs the 'sandbox' extra ({exc.name or 'starlette/uvicorn'} is missing)",
            hint=hint,
        ) from None


def installed_by_pipx(prefix: str | None = None) -> bool:
    """True when psykhe runs from a pipx venv, where extras are added with ``pipx inject``."""
    path = Path(prefix if prefix is not None else sys.prefix)
    # $PIPX_HOME/venvs/psykhe; PIPX_HOME is ~/.local/share/pipx or ~/.local/pipx by default
    return path.parent.name == "venvs" and any("pipx" in part for part in path.parts[:-2])


def _fault_documents(values: list[str]) -> tuple[dict[str, Any], ...]:
    from psykhe_cli.sandbox.faults import FaultError, parse_faults

    documents = []
    for value in values:
        try:
            text = Path(value[1:]).read_bytes() if value.startswith("@") else value.encode()
            document = orjson.loads(text)
            parse_faults(document)
        except (OSError, orjson.JSONDecodeError, FaultError) as exc:
            raise UsageError(f"--faults {value!r}: {exc}") from None
        documents.append(document)
    return tuple(documents)


def _settings(
    *,
    host: str,
    port: int,
    keys: list[str] | None,
    db: Path | None,
    delay: float,
    max_body_mb: float,
    faults: list[str] | None,
    quiet: bool,
) -> SandboxSettings:
    from psykhe_cli.sandbox.settings import SandboxSettings, keys_from_options

    return SandboxSettings(
        host=host,
        port=port,
        keys=keys_from_options(keys or []),
        db_path=db,
        processing_delay=delay,
        max_body_mb=max_body_mb,
        faults=_fault_documents(faults or []),
        access_log=not quiet,
    )


def _announce(sandbox: Sandbox, base_url: str, *, quiet: bool = False) -> None:
    # stdout: only lines a shell can eval; everything else on stderr
    lines = [f"export PSYKHE_BASE_URL={shlex.quote(base_url)}"]
    if sandbox.key_generated:
        lines.append(f"export PSYKHE_API_KEY={shlex.quote(sandbox.api_key)}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    clients = sorted(set(sandbox.keys.values()))
    if not quiet:
        sys.stderr.write(
            f"psykhe sandbox: serving the Ingestion API at {base_url} for client(s) "
            f"{', '.join(clients)}; inspection under {base_url}/_sandbox/; Ctrl-C stops\n"
        )
    if sandbox.settings.host not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(
            f"psykhe sandbox: warning: listening on {sandbox.settings.host}: "
            "the /_sandbox/ routes need no key\n"
        )
    sys.stderr.flush()


@sandbox_app.callback()
def sandbox(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, metavar="PORT", help="Port (0: any free one)."),
    ] = 8787,
    key: KeyOption = None,
    db: DbOption = None,
    processing_delay: DelayOption = 0.5,
    max_body_mb: MaxBodyOption = 256.0,
    faults: FaultsOption = None,
    quiet: QuietOption = False,
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C or SIGTERM (exit 0)."""
    if ctx.invoked_subcommand is not None:
        return
    _require_extra()
    from psykhe_cli.sandbox.server import configure_logging, serve_foreground

    settings = _settings(
        host=host,
        port=port,
        keys=key,
        db=db,
        delay=processing_delay,
        max_body_mb=max_body_mb,
        faults=faults,
        quiet=quiet,
    )
    configure_logging(quiet=quiet)
    try:
        serve_foreground(settings, functools.partial(_announce, quiet=quiet))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@sandbox_app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
def sandbox_exec(
    command: Annotated[
        list[str] | None,
        # described in the help text: Typer's argument list would show its type
        typer.Argument(metavar="CMD", hidden=True, show_default=False),
    ] = None,
    host: HostOption = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", min=0, max=65535, metavar="PORT", help="Port (default 0: any free one)."
        ),
    ] = 0,
    key: KeyOption = None,
    db: DbOption = None,
    processing_delay: DelayOption = 0.5,
    max_body_mb: MaxBodyOption = 256.0,
    faults: FaultsOption = None,
    quiet: ExecQuietOption = False,
) -> None:
    """Run CMD against a throwaway sandbox (PSYKHE_BASE_URL, PSYKHE_API_KEY set); exit its code.

    CMD and its arguments come after --, e.g.: psykhe sandbox exec -- psykhe push catalog.jsonl
    """
    if not command:
        raise UsageError(
            "no command given", hint="psykhe sandbox exec -- psykhe push examples/catalog.jsonl"
        )
    _require_extra()
    from psykhe_cli.sandbox.runner import run_with_sandbox

    settings = _settings(
        host=host,
        port=port,
        keys=key,
        db=db,
        delay=processing_delay,
        max_body_mb=max_body_mb,
        faults=faults,
        quiet=True,
    )
    raise typer.Exit(run_with_sandbox(settings, command))


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to `app`."""
    app.add_typer(sandbox_app, short_help="Run a local emulator of the Ingestion API.")
