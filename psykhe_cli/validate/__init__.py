"""Validation: the rules of ``schema.py`` applied to feed lines, and the feed-checking engine.

Validation is a producer: ``FeedCheck`` reads and checks the feeds in one pass (stdin cannot
be read twice) and yields, in input order, what it found and what it accepted; its consumers
ask (``Wanted``) for what they need. ``psykhe push`` consumes it (compress, spool, upload);
``psykhe validate`` runs it through ``check_feeds``, which hands the events to callbacks::

    with FeedCheck(sources, options, Wanted(records=True, deflate_level=1)) as check:
        for event in check:              # Problem, Records, Deflated, RejectedLine, Products,
            ...                          # Notice, Progress, WorkersStarted
    report = check.report

    report = check_feeds(
        [FeedSource("catalog.jsonl.gz")],
        ValidationOptions(strict=False, max_problems=1000),
        on_problem=print_problem,        # each Problem as found (the first max_problems)
        on_records=spool.write_lines,    # normalized JSON Lines of the lines without an error
        on_rejected=rejects.write,       # (file, line, raw bytes, problems) of the others
        on_progress=bar.update,          # (lines done, raw bytes read), at most ~10 times/s
    )

Problem codes (one level each; ``--strict`` makes every warning an error):

    error    invalid_utf8 invalid_json non_finite_number duplicate_key integer_out_of_range
             not_an_object missing_product_data invalid_product_data invalid_operation
             missing_product_identifier invalid_<field>          (any field of schema.py)
             csv_syntax row_width invalid_cell                    (CSV/TSV rows)
    warning  missing_<field> (variant_identifier, title, images, price) legacy_action
             missing_operation unknown_operation duplicate_variant

Big inputs are checked in worker processes, about one MiB block each, results merged in input
order in the calling process; small inputs and CSV are checked in-process. A big plain file
is read by the workers themselves, a byte range each. Only the calling process keeps state
that grows with the feed: see ``HashSet64``.

    report.py   ValidationOptions, Problem, FeedReport
    rules.py    one product, one JSON line: check_product, check_line (pure functions)
    fast.py     the proof, in C (msgspec), that most lines are fine; learns extra fields
    blocks.py   one block of lines (the hot path, also run in workers); CSV rows
    hashset.py  HashSet64: exact sets of 64-bit hashes (duplicates, distinct products)
    forked.py   ForkedPool: forked workers fed through pipes (the ranges of a plain file)
    engine.py   FeedCheck, check_feeds: reading, workers, merging in order, duplicates, progress
"""

from __future__ import annotations

from psykhe_cli.feeds import FeedSource
from psykhe_cli.validate.engine import (
    Event,
    FeedCheck,
    Notice,
    OnProblem,
    OnProgress,
    OnRecords,
    OnRejected,
    Products,
    Progress,
    Records,
    RejectedLine,
    Wanted,
    WorkersStarted,
    check_feeds,
)
from psykhe_cli.validate.hashset import HashSet64
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rules import Issue, LineResult, check_line, check_product

__all__ = [
    "Event",
    "FeedCheck",
    "FeedReport",
    "FeedSource",
    "HashSet64",
    "Issue",
    "LineResult",
    "Notice",
    "OnProblem",
    "OnProgress",
    "OnRecords",
    "OnRejected",
    "Problem",
    "Products",
    "Progress",
    "Records",
    "RejectedLine",
    "ValidationOptions",
    "Wanted",
    "WorkersStarted",
    "check_feeds",
    "check_line",
    "check_product",
]
