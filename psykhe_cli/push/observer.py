"""What a push tells while it runs: the ``PushObserver`` protocol, and ``NullObserver``.

``render/push.py`` implements it for a person; ``NullObserver`` tells no one, for ``Push`` used
as a library. An observer only reports: what the run does never depends on it, except the
answer to ``confirm``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from psykhe_cli.errors import PsykheError
    from psykhe_cli.ingestion import Ingestion
    from psykhe_cli.push.model import GuardQuestion, PushResult
    from psykhe_cli.validate import Problem


class PushObserver(Protocol):
    """Everything a push reports while it runs; ``render/push.py`` implements it."""

    def problem(self, problem: Problem) -> None:
        """A validation problem, as soon as it is found."""

    def preparing(self, lines: int, bytes_read: int) -> None:
        """Reading and validating: progress so far."""

    def prepared(self, result: PushResult) -> None:
        """The feed is validated and spooled; counts are in ``result``."""

    def can_prompt(self) -> bool:
        """True when a person can answer a question at a terminal."""

    def confirm(self, question: GuardQuestion) -> bool:
        """Ask whether to run soft_replace; True only on an explicit yes."""

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        """Bytes of request ``part`` (1-based) of ``parts`` that reached the server (as far
        as the OS tells: acknowledged, not merely handed to the kernel's buffers)."""

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        """Request ``part`` reached the server whole (``size`` bytes, ``seconds`` after its
        upload began); its answer is awaited."""

    def retrying(self, attempt: int, delay: float, reason: str) -> None:
        """A request failed and is retried after ``delay`` seconds."""

    def notice(self, message: str) -> None:
        """Something the user should know that is not an error."""

    def warning(self, message: str) -> None:
        """Something the user must see even with ``--quiet`` (a guard overridden)."""

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        """The server accepted request ``part``: this id must never be lost."""

    def processing(self, ingestion: Ingestion) -> None:
        """A status poll answered."""

    def poll_failed(self, error: PsykheError) -> None:
        """A status poll failed and will be tried again."""

    def debug(self, line: str) -> None:
        """A request/response detail (``--debug``); the key is never in it."""


class NullObserver:
    """Tells no one and asks no one: a soft_replace then needs ``yes=True``."""

    def problem(self, problem: Problem) -> None:
        pass

    def preparing(self, lines: int, bytes_read: int) -> None:
        pass

    def prepared(self, result: PushResult) -> None:
        pass

    def can_prompt(self) -> bool:
        return False

    def confirm(self, question: GuardQuestion) -> bool:
        return False

    def uploading(self, part: int, parts: int, sent: int, total: int) -> None:
        pass

    def awaiting_answer(self, part: int, parts: int, size: int, seconds: float) -> None:
        pass

    def retrying(self, attempt: int, delay: float, reason: str) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def created(self, ingestion_id: int, part: int, parts: int) -> None:
        pass

    def processing(self, ingestion: Ingestion) -> None:
        pass

    def poll_failed(self, error: PsykheError) -> None:
        pass

    def debug(self, line: str) -> None:
        pass
