"""What checking feeds produces: the options it takes, each Problem, the FeedReport.

``FeedReport.refuse_if_empty`` is the rule that a feed with nothing to send is refused: push
and validate both apply it, so they reach the same verdict with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.blocks import BLOCK_SIZE
from psykhe_cli.printable import printable

#: why a feed without an error is refused all the same: not one line of it would be sent


@dataclass(frozen=True)
class ValidationOptions:
    """How strictly to check, how much to report, and how to spread the work."""

    #: warnings count as errors
    strict: bool = False
    #: how many problems ``on_problem`` sees and ``FeedReport.problems`` keeps; counts stay complete
    max_problems: int = 1000
    #: worker processes for big JSON Lines input; None: up to 2 (one per core); 0 or 1: none
    workers: int | None = None
    #: bytes of whole lines handed to a worker at a time
    block_size: int = BLOCK_SIZE
    #: bytes checked in-process before starting workers (small feeds never start any)
    parallel_after: int = 4 * BLOCK_SIZE


@dataclass(frozen=True)
class Problem:
    """One problem with one line (or CSV row) of a feed."""

    file: str
    line: int
    level: str
    code: str
    message: str
    product_identifier: str | None = None

    def format(self) -> str:
        """``FILE:LINE: error[CODE]: message (product_identifier=ID)``, always one line."""
        text = f"{self.file}:{self.line}: {self.level}[{self.code}]: {self.message}"
        if self.product_identifier is not None:
            text += f" (product_identifier={self.product_identifier})"
        return printable(text)

    def to_json(self) -> dict[str, Any]:
        """The problem as the ``--json`` output shows it."""
        return {
            "file": self.file,
            "line": self.line,
            "level": self.level,
            "code": self.code,
            "message": self.message,
            "product_identifier": self.product_identifier,
        }


@dataclass
class FeedReport:
    """What checking the feeds found; counts are complete, ``problems`` is capped."""

    files: list[str] = field(default_factory=list)
    lines: int = 0
    #: distinct product_identifier among the accepted lines
    products: int = 0
    #: accepted lines (no error): what push would send
    variants: int = 0
    errors: int = 0
    warnings: int = 0
    counts_by_code: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: lines (CSV rows) with at least one error: what ``--skip-invalid`` leaves out
    rejected_lines: int = 0
    #: products of a shop export left out as not active (draft, archived, unpublished,
    #: hidden): never sent, unless ``--include-inactive``
    left_out: int = 0
    #: the distinct products as sorted hashes (a ``hashset.ProductHashes``), when asked for
    product_hashes: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when no line has an error (warnings allowed) and some line would be sent."""
        return self.errors == 0 and self.variants > 0

    def refuse_if_empty(self) -> None:
        """``InputError`` (exit 3) when not one line would be sent: an empty feed, a header
        row alone, or a shop export whose every product was left out as not active."""
        if self.variants == 0:
            hint = None
            if self.left_out:
                hint = f"{self.left_out:,} inactive product(s) were left out: --include-inactive"
                hint += " sends them too"
            raise InputError("the feed has no product lines", hint=hint, nothing_sent=True)

    def to_json(self) -> dict[str, Any]:
        """Exactly the keys of the ``--json`` summary."""
        return {
            "ok": self.ok,
            "files": list(self.files),
            "lines": self.lines,
            "products": self.products,
            "variants": self.variants,
            "errors": self.errors,
            "warnings": self.warnings,
            "left_out": self.left_out,
            "counts_by_code": dict(sorted(self.counts_by_code.items())),
            "problems": [problem.to_json() for problem in self.problems],
        }
