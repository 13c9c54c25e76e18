"""`psykhe validate`: check feeds against the product field rules; nothing is sent.

orjson, rich and the readers are imported when the command runs, so ``psykhe --help`` stays
fast.
"""

from __future__ import annotations

import typer

from psykhe_cli.commands.options import (
    DelimiterOption,
    FeedsArgument,
    FormatOption,
    IncludeInactiveOption,
    JsonOption,
    ListSeparatorOption,
    MapOption,
    MaxProblemsOption,
    QuietOption,
    StrictOption,
    ValidateDebugOption,
    feed_sources,
)
from psykhe_cli.errors import FeedInvalid, Interrupted, PsykheError, signal_of

HELP = """Check feeds against the product field rules; nothing is sent.

FEED is a JSON Lines, CSV or TSV file, a Google Merchant Center feed (TSV, CSV or XML), or
a Shopify or WooCommerce products export, gzip-compressed or not, or - for standard input.
With no FEED, standard input is read when it is a pipe or a file. The product fields, their
rules, and which column of each format becomes which field: docs/feeds.md.

Problems go to stderr, one per line: FILE:LINE: error[CODE]: message
(product_identifier=ID); past the third of one code, one line sums up the rest with their
count (--json lists them, up to --max-problems). Progress goes to stderr too; the summary to
stdout. Exit status: 0 no error (warnings allowed unless --strict), 3 the feed has an error,
has no product lines, or cannot be read, 2 usage error.

\b
Examples:
  psykhe validate examples/catalog.jsonl
  psykhe validate catalog.csv.gz --map sku=variant_identifier --map name=title
  psykhe validate merchant-center-feed.xml
  export-catalog | psykhe validate --strict --json -
"""


def register(app: typer.Typer) -> None:
    """Add the command(s) of this module to `app`."""
    app.command("validate", help=HELP)(validate_command)


def validate_command(
    feeds: FeedsArgument = None,
    feed_format: FormatOption = None,
    delimiter: DelimiterOption = None,
    column_map: MapOption = None,
    include_inactive: IncludeInactiveOption = False,
    list_separator: ListSeparatorOption = None,
    strict: StrictOption = False,
    max_problems: MaxProblemsOption = 1000,
    as_json: JsonOption = False,
    quiet: QuietOption = False,
    debug: ValidateDebugOption = False,
) -> None:
    """Check feeds against the product field rules; nothing is sent."""
    from psykhe_cli.outcome import reporting_outcome
    from psykhe_cli.render.validate import (
        notice_printer,
        problem_printer,
        progress_display,
        render_failure,
        render_report,
    )
    from psykhe_cli.terminal import Environment
    from psykhe_cli.validate import FeedReport, ValidationOptions, check_feeds

    env = Environment.from_process()
    report: FeedReport | None = None

    def show(exit_code: int, error: PsykheError | None) -> None:
        if report is None:
            if as_json and error is not None:  # not read to its end: still one object
                render_failure(env, [source for source in feeds or ["-"]], error)
        elif not quiet or as_json:
            said = error if error is not None and not error.silent else None
            render_report(env, report, as_json=as_json, error=said)

    with reporting_outcome(env, show):
        try:
            sources = feed_sources(
                feeds,
                env=env,
                command="validate",
                format=feed_format,
                delimiter=delimiter,
                maps=column_map,
                include_inactive=include_inactive,
                list_separator=list_separator,
            )
            options = ValidationOptions(strict=strict, max_problems=max_problems)
            progress = progress_display(env, [source.path for source in sources], quiet=quiet)
            printer = problem_printer(env, quiet=quiet, progress=progress)
            try:
                report = check_feeds(
                    sources,
                    options,
                    stdin=env.stdin,
                    on_problem=printer,
                    on_notice=notice_printer(env, quiet=quiet, progress=progress),
                    on_progress=progress.update if progress is not None else None,
                )
            finally:
                if progress is not None:
                    progress.stop()
            printer.close(report)
            if progress is not None:
                progress.finish()
        except KeyboardInterrupt as interrupt:
            # its signal decides the exit code
            raise Interrupted(
                "interrupted while validating; nothing was sent", signum=signal_of(interrupt)
            ) from None
        if report.errors:
            counts = f"{report.errors:,} error(s), {report.warnings:,} warning(s)"
            raise FeedInvalid(f"{counts} in the feed")
        report.refuse_if_empty()  # the same rule, and words, as push
