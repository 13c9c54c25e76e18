"""What the process is attached to: streams, whether each is a terminal, colour.

Commands receive an ``Environment`` instead of touching ``sys.std*`` so tests can swap it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, BinaryIO, TextIO

if TYPE_CHECKING:
    from rich.console import Console


def _isatty(stream: IO[str] | IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (ValueError, OSError):  # closed or detached stream
        return False


@dataclass
class Environment:
    """The process's streams and what they are connected to."""

    stdin: BinaryIO
    stdout: TextIO
    stderr: TextIO
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool
    no_color: bool = False
    _consoles: dict[str, Console] = field(default_factory=dict, repr=False)

    @classmethod
    def from_process(cls) -> Environment:
        """The real streams of this process."""
        return cls(
            stdin=sys.stdin.buffer,
            stdout=sys.stdout,
            stderr=sys.stderr,
            stdin_isatty=_isatty(sys.stdin),
            stdout_isatty=_isatty(sys.stdout),
            stderr_isatty=_isatty(sys.stderr),
            # https://no-color.org: any non-empty value disables colour
            no_color=bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb",
        )

    @contextmanager
    def reporting(self, *, failed: bool) -> Iterator[None]:
        """Write a command's report to stdout without letting stdout decide its exit code.

        After a failure, a stdout that cannot be written (``| head -c1`` gone, ``/dev/full``)
        is noted and the failure's own code stands. After a success, a reader that went away
        is fine (``BrokenPipeError`` ends quietly in ``cli.py``); any other write failure is
        an error, since the result was not reported.
        """
        from psykhe_cli.errors import PsykheError

        try:
            yield
        except BrokenPipeError:
            if not failed:
                raise
        except OSError as exc:
            message = f"cannot write to standard output: {exc.strerror or exc}"
            if not failed:
                raise PsykheError(message) from None
            self.stderr.write(f"psykhe: error: {message}\n")

    @property
    def interactive(self) -> bool:
        """True when a person is watching stderr: animations and prompts are allowed."""
        return self.stderr_isatty and os.environ.get("TERM") != "dumb"

    def console(self, *, stderr: bool = True) -> Console:
        """A rich console on stderr (default) or stdout; plain when not a terminal."""
        key = "stderr" if stderr else "stdout"
        if key not in self._consoles:
            from rich.console import Console

            stream = self.stderr if stderr else self.stdout
            tty = self.stderr_isatty if stderr else self.stdout_isatty
            self._consoles[key] = Console(
                file=stream,
                force_terminal=tty,
                no_color=self.no_color or not tty,
                highlight=False,
                soft_wrap=not tty,
                emoji=False,
                color_system="auto" if tty and not self.no_color else None,
            )
        return self._consoles[key]
