"""What an interrupted push left behind, in words: the one message for each moment a stop
signal can land before polling (polling explains itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from psykhe_cli.errors import Interrupted

if TYPE_CHECKING:
    from psykhe_cli.push.upload import Upload


def interruption(ids: list[int], sending: Upload | None, signum: int | None) -> Interrupted:
    """The error for a push stopped by ``signum`` once ``ids`` were accepted, while
    ``sending`` (the request under way, None when none was) was where it was."""
    before = f"; ingestion(s) {', '.join(map(str, ids))} were accepted before it" if ids else ""
    if sending is not None and sending.backing_off is not None:
        return Interrupted(
            f"interrupted while waiting to retry the upload ({sending.backing_off}): the "
            f"server did not accept the last attempt, so it applied nothing from it{before}",
            hint="it is safe to run the same command again" if not ids else None,
            signum=signum,
        )
    if sending is not None and sending.body_sent:
        return Interrupted(
            "interrupted after the whole upload was handed to the network "
            f"({sending.reached()}), before the server answered: it may have "
            f"accepted it{before}",
            hint="check with `psykhe status --last` before sending the feed again",
            signum=signum,
        )
    if sending is not None:
        return Interrupted(
            f"interrupted during the upload ({sending.reached()}): the server never "
            f"received the whole body, so it applied nothing from it{before}",
            hint="it is safe to run the same command again" if not ids else None,
            signum=signum,
        )
    if ids:
        return Interrupted(
            f"interrupted; ingestion(s) {', '.join(map(str, ids))} were accepted and go on "
            "on the server",
            hint=f"follow it with: psykhe status {ids[-1]} --watch",
            signum=signum,
        )
    return Interrupted("interrupted before anything was sent", signum=signum)
