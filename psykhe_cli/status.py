"""The use case of ``psykhe status``: show one ingestion, or follow it to its end."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

from psykhe_cli.config import Settings
from psykhe_cli.errors import (
    IngestionFailed,
    Interrupted,
    MissingKeyError,
    OutcomeUnknown,
    PsykheError,
    UsageError,
    signal_of,
)
from psykhe_cli.terminal import Environment

#: what the history says of a push whose upload may have reached the server unanswered
_UNKNOWN = (None, "sending", "outcome_unknown")


def last_ingestion_id(settings: Settings, on_warning: Callable[[str], None] | None = None) -> int:
    """The last ingestion id pushed to this target, from the local history;
    ``on_warning(text)`` hears of damaged lines skipped."""
    from psykhe_cli.state import HISTORY_FILE, StateStore, Target

    store = StateStore.of(settings)
    record = store.last_push(Target.of(settings))
    if store.skipped_lines and on_warning is not None:
        numbers = ", ".join(map(str, store.skipped_lines[:10]))
        more = ", …" if len(store.skipped_lines) > 10 else ""
        on_warning(
            f"skipped {len(store.skipped_lines)} damaged line(s) of "
            f"{store.state_dir / HISTORY_FILE} (line {numbers}{more})"
        )
    if record is not None and not record.ingestion_ids and record.status not in _UNKNOWN:
        raise UsageError(
            f"the last push to {settings.base_url} ({record.time}, {record.mode}, "
            f"{record.products:,} products) created no ingestion: it ended with "
            f"{record.status} (exit {record.exit_code}), and nothing of it was applied",
            hint="give the id of an earlier ingestion: psykhe status ID",
        )
    if record is not None and not record.ingestion_ids:
        raise OutcomeUnknown(
            f"the last push to {settings.base_url} ({record.time}, {record.mode}, "
            f"{record.products:,} products) got no ingestion id back: the server may or may "
            "not have accepted it",
            hint="sending the same feed again is safe: products are upserted, not duplicated",
        )
    if record is None:
        raise UsageError(
            f"no push to {settings.base_url} with this key is in the local history",
            hint="give the ingestion id: psykhe status ID",
        )
    return record.ingestion_ids[-1]


def without_key(error: MissingKeyError, environ: Mapping[str, str] | None = None) -> PsykheError:
    """What ``status --last`` says without a key: that no push is remembered at all when the
    history is empty (no key would find one); else ``error``, since only the key tells which
    of the remembered pushes is this target's."""
    from psykhe_cli.config import state_dir_of
    from psykhe_cli.state import StateStore

    store = StateStore(state_dir_of(os.environ if environ is None else environ))
    if store.pushes() or store.skipped_lines:
        return error
    return UsageError(
        f"no push is in the local history, with any key ({store.state_dir})",
        hint="give the ingestion id: psykhe status ID",
    )


def _updated(observer: Any, settings: Settings, ingestion: Any) -> None:
    from psykhe_cli.push.history import settle

    observer.processing(ingestion)
    settle(settings, ingestion)


def ingestion_json(ingestion: Any, exit_code: int, error: PsykheError | None) -> dict[str, Any]:
    """The one object ``status --json`` prints."""
    data: dict[str, Any] = {"exit_code": exit_code, "ingestion_id": None, "status": None}
    if ingestion is not None:
        data |= {
            "ingestion_id": ingestion.id,
            "status": ingestion.status_name,
            "status_code": ingestion.status,
            "mode": ingestion.mode,
            "client_id": ingestion.client_id,
            "file_identifier": ingestion.file_identifier,
            "product_metrics": ingestion.product_metrics,
            "created_at": ingestion.created_at,
            "updated_at": ingestion.updated_at,
        }
    data["error"] = {"code": error.code, "message": error.message} if error else None
    return data


def show_status(
    env: Environment,
    settings: Settings,
    *,
    ingestion_id: int | None,
    watch: bool,
    timeout: float,
    poll_interval: float | None,
    as_json: bool,
    debug: bool,
    quiet: bool = False,
) -> None:
    """Print one ingestion; with ``watch``, poll until it ends (exit codes as for push)."""
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.poll import wait_for_ingestion
    from psykhe_cli.push.connection import open_client
    from psykhe_cli.push.history import settle
    from psykhe_cli.render import print_json, write_line
    from psykhe_cli.render.push import make_observer
    from psykhe_cli.render.status import print_ingestion

    observer = make_observer(env, quiet=as_json or quiet, debug=debug)
    ingestion = None

    def report(exit_code: int, error: PsykheError | None) -> None:
        if as_json:
            print_json(env, ingestion_json(ingestion, exit_code, error))
        elif ingestion is not None and not quiet:
            print_ingestion(env, ingestion)

    with reporting_outcome(env, report):
        if ingestion_id is None:
            ingestion_id = last_ingestion_id(
                settings, lambda text: write_line(env.stderr, f"psykhe: warning: {text}")
            )
        client, close = open_client(settings, on_retry=observer.retrying, on_debug=observer.debug)
        try:
            if watch:
                try:
                    ingestion = wait_for_ingestion(
                        client,
                        ingestion_id,
                        timeout=timeout,
                        poll_interval=poll_interval,
                        on_update=functools.partial(_updated, observer, settings),
                        on_error=observer.poll_failed,
                    )
                except KeyboardInterrupt as interrupt:
                    raise Interrupted(
                        f"stopped watching ingestion {ingestion_id}; it goes on on the server",
                        hint=f"follow it again with: psykhe status {ingestion_id} --watch",
                        signum=signal_of(interrupt),
                    ) from None
                finally:
                    observer.close()
                if ingestion.failed:
                    raise IngestionFailed(f"ingestion {ingestion_id} FAILED on the server")
            else:
                ingestion = client.get_ingestion(ingestion_id)
                settle(settings, ingestion)
        finally:
            close()
