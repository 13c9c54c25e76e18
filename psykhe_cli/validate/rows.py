"""The rows of a CSV, TSV or shop feed checked: each row's record by the rules, the accepted
ones counted and hashed as a JSON Lines block's lines are (``blocks.BlockResult``); in a
worker reading a shop export's part, their records sifted and encoded there too."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from psykhe_cli.feeds.formats import RowReader
from psykhe_cli.schema import (
    DEFAULT_OPERATION,
    ERROR,
    OPERATION_KEY,
    PRODUCT_DATA_KEY,
    PRODUCT_KEY,
    VARIANT_KEY,
)
from psykhe_cli.validate.blocks import BlockParams, BlockResult, pid_of
from psykhe_cli.validate.rules import Issue, check_product
from psykhe_cli.validate.sifting import sift_records

#: ``check_rows``'s ``size`` for one result of every row (a part's, a list's)
ALL = 1 << 62


def check_rows(
    reader: RowReader, params: BlockParams, size: int = 2000, lines_before: int = 0
) -> Iterator[BlockResult]:
    """Check the rows of a CSV/TSV/shop feed, ``size`` lines per result. A result's ``lines``
    are the source lines read for it, no header (nor the ``lines_before`` counted already).

    With ``params.encode`` (a shop export's part, in a worker) the accepted records are
    sifted and encoded here, as a JSON Lines block's are, rather than sent back one by one."""
    if params.encode is not None:
        for result in _check_rows(reader, params, size, lines_before):
            _encode_rows(result, params)
            yield result
        return
    yield from _check_rows(reader, params, size, lines_before)


def _encode_rows(result: BlockResult, params: BlockParams) -> None:
    """Sift and encode a result's records, as ``_check_block`` does a block's."""
    assert params.encode is not None and result.keys is not None
    records, result.records = result.records, []
    if params.sieve is not None:
        identifiers = [pid for pid, _ in result.keys], [vid for _, vid in result.keys]
        _, result.kept, result.compared, result.encoded = sift_records(records, identifiers, params)
        if result.kept is not None:
            return
    if records:
        result.encoded = params.encode(b"".join(records), len(records))


def _check_rows(
    reader: RowReader, params: BlockParams, size: int, lines_before: int
) -> Iterator[BlockResult]:
    result, end, previous = BlockResult(keys=[]), lines_before, 0
    for row in reader:
        if row.line < previous and (result.variants or result.rejected_lines):
            # a row before the one before it (a WooCommerce variation that waited for its
            # parent) starts a result: each result's rows in line order, so that what the
            # merger sorts by line keeps their order, wherever the results begin
            yield result
            result = BlockResult(keys=[])
        previous = row.line
        read = reader.lines_read
        result.lines += read - end
        end = read
        if row.error is not None:
            issues: list[Issue] = [(ERROR, *row.error)]
        else:
            assert row.record is not None
            issues = check_product(row.record)
        product = row.record
        pid = pid_of(product)
        if issues and result.add(row.line, issues, pid, params):
            result.rejected_lines += 1
            if params.keep_all:
                result.rejected.append((row.line, row.raw, issues, pid))
        else:
            assert product is not None and result.keys is not None
            record = None
            if params.want_records:  # a check alone needs no JSON of the row
                wrapped = {OPERATION_KEY: DEFAULT_OPERATION, PRODUCT_DATA_KEY: product}
                record = orjson.dumps(wrapped) + b"\n"
            result.accept(row.line, product, record, params)
            result.keys.append((product[PRODUCT_KEY], product.get(VARIANT_KEY)))
        if result.lines >= size:
            yield result
            result = BlockResult(keys=[])
    result.lines += reader.lines_read - end
    yield result
