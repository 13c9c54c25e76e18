"""The catalog memory: what psykhe believes a target holds, record by record.

For each variant record (``product_identifier`` + ``variant_identifier``, or the product id
alone) the memory keeps a key hash, a hash of its content (key order and whitespace do not
count), a hash of its line as written (a line sent again byte for byte is found without
being parsed) and a 16-bit hash of each top-level field psykhe counts changes of. It is built from
what was sent and trusted only for ingestions seen COMPLETED (``push/history.py`` decides
when; the shared contract's "Catalog memory" rule).

    hashing.py  a record's key, line, content and field hashes (the workers, per block)
    memory.py   ``Memory``: the hashes as sorted numpy arrays, its file format, merging
    compare.py  ``Sieve`` (per block, in the workers: new, changed, unchanged) and ``Tally``
                (the blocks' answers folded into ``Changes`` and the next memory)
    spill.py    ``Touched``: a push's touched records, spilled to files as blocks arrive, and
                the sorted memory they make, built a column at a time
    store.py    ``CatalogStore``: the confirmed memory and the pending updates of a target,
                read strictly, written atomically (0600)

``compare_records`` compares a validated feed's records with a memory (``restore`` may
use it); ``Changes`` is what every plan and ``--json`` report.
"""

from __future__ import annotations

from psykhe_cli.catalog.compare import Changes, Sieve, Tally, compare_records
from psykhe_cli.catalog.hashing import FIELDS
from psykhe_cli.catalog.memory import Memory

__all__ = ["FIELDS", "Changes", "Memory", "Sieve", "Tally", "compare_records"]
