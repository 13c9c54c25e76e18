"""Validation: the rules of ``schema.py`` applied to feed lines, and the feed-checking engine.

Validation is a producer: ``FeedCheck`` reads and checks the feeds in one pass (stdin cannot
be read twice) and yields, in input order, what it found and what it accepted; its consumers
ask (``Wanted``) for what they need. It knows nothing of where accepted lines go: a consumer
that wants each block encoded where it is checked (``psykhe push`` compresses them in the
workers) supplies a ``BlockCodec``. ``check_feeds`` runs a ``FeedCheck`` to its end and hands
each event to a callback (the one place events are dispatched)::

    report = check_feeds(
        [FeedSource("catalog.jsonl.gz")],
        ValidationOptions(strict=False, max_problems=1000),
        on_problem=print_problem,        # each Problem as found (the first max_problems)
        on_records=spool.write,          # normalized JSON Lines of the lines without an error
        codec=deflater,                  # with on_encoded: each block encoded in the workers
        on_encoded=spool.write_deflated,
        on_rejected=rejects.write,       # (file, line, raw bytes, problems) of the others
        on_progress=bar.update,          # (lines done, raw bytes read), at most ~10 times/s
        on_workers=start_threads,        # once the workers are forked (``psykhe_cli.threads``)
        sieve=catalog_sieve,             # with on_compared: compares the records, keeps some
        on_compared=tally.add,
    )

Problem codes (one level each; ``--strict`` makes every warning an error):

    error    invalid_utf8 invalid_json non_finite_number duplicate_key integer_out_of_range
             not_an_object missing_product_data invalid_product_data invalid_operation
             missing_product_identifier invalid_<field>          (any field of schema.py)
             csv_syntax row_width invalid_cell                    (CSV/TSV rows)
             shared_variant_identifier    (a variant id another product gave earlier)
    warning  missing_<field> (variant_identifier, title, images, price) legacy_action
             missing_operation unknown_operation
             html_entities                (text sent as written holds ``&amp;`` and the like)
             duplicate_variant            (a variant id its own product gave earlier)

Big inputs are checked in worker processes, about one MiB block each, results merged in input
order in the calling process; small inputs and CSV are checked in-process. A big plain file
is read by the workers themselves, a byte range each (JSON Lines; Merchant Center XML and
Shopify exports cut where a record starts). Only the calling process keeps state
that grows with the feed: ``HashSet64`` (distinct products, variant ids: 8 bytes each) and
``FirstSeen`` (the first line of each variant id: 24 bytes a line), flat arrays all.

    report.py   ValidationOptions, Problem, FeedReport
    events.py   what a check yields (Event), what a consumer asks for (Wanted, BlockCodec)
    rules.py    one product, one JSON line: check_product, check_line (pure functions)
    fast.py     the proof, in C (msgspec), that most lines are fine; learns extra fields
    lines.py    a block's lines split lazily; load_numpy (the workers vectorize with it)
    blocks.py   one block of lines (the hot path, also run in workers)
    rows.py     the rows of CSV, TSV and shop feeds, as blocks are (check_rows)
    hashset.py  HashSet64: exact sets of 64-bit hashes (duplicates, distinct products)
    repeats.py  FirstSeen: the first line of each variant id, to name it when repeated
    merge.py    Merger: results folded in input order, repeats across blocks
    workers.py  Workers: started, forked (the fork rule: psykhe_cli.threads), watched
    forked.py   ForkedPool: forked workers fed through pipes (the ranges of a plain file)
    shop_ranges.py  Merchant Center XML and shop exports checked a part per worker
    woo_parts.py  WooCommerce parts joined: variations of earlier parts' parents, in order
    engine.py   FeedCheck, check_feeds: reading the feeds, blocks to workers, progress
"""

from __future__ import annotations

from psykhe_cli.feeds import FeedSource
from psykhe_cli.validate.engine import FeedCheck, check_feeds
from psykhe_cli.validate.events import (
    BlockCodec,
    Compared,
    Encoded,
    Encoder,
    Event,
    Notice,
    OnProblem,
    OnProgress,
    OnRecords,
    OnRejected,
    Products,
    Progress,
    Records,
    RecordSieve,
    RejectedLine,
    Wanted,
)
from psykhe_cli.validate.hashset import HashSet64
from psykhe_cli.validate.report import FeedReport, Problem, ValidationOptions
from psykhe_cli.validate.rules import Issue, LineResult, check_line, check_product

__all__ = [
    "BlockCodec",
    "Compared",
    "Encoded",
    "Encoder",
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
    "RecordSieve",
    "Records",
    "RejectedLine",
    "ValidationOptions",
    "Wanted",
    "check_feeds",
    "check_line",
    "check_product",
]
