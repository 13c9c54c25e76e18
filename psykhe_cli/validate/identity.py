"""The 64-bit hashes that identify what a line becomes on the server: its record (one per
variant id), its (product, variant) pair, its product. The repeats, the counts and the
deactivation plan compare these, never the identifiers themselves."""

from __future__ import annotations

import hashlib
import itertools
from array import array
from collections.abc import Iterable
from typing import Any

_UINT64 = (1 << 64) - 1
#: an odd 64-bit constant: a pair's hash is its product's hash times this, xor its variant's
PAIR_MIX = 0x9E3779B97F4A7C15


def pair_hash(product_identifier: str, variant_identifier: Any, portable: bool = False) -> int:
    """The 64-bit hash identifying a (product_identifier, variant_identifier) pair.

    Built-in ``hash()`` is salted per interpreter: it serves when the workers are forked
    from the process that merges their hashes (one salt for the whole run). Otherwise
    ``portable`` hashes are used, in every process of the run.
    """
    vid = variant_identifier if type(variant_identifier) is str else None
    if portable:
        key = f"{len(product_identifier)}:{product_identifier}{vid if vid is not None else ''}"
        return _blake(key + ("" if vid is not None else "\x00"))
    return (hash(product_identifier) * PAIR_MIX ^ hash(vid)) & _UINT64


def variant_hash(product_identifier: str, variant_identifier: Any, portable: bool = False) -> int:
    """The 64-bit hash of the record a line becomes on the server, one per variant id: its
    variant_identifier's, or, without one, its ``pair_hash`` (same rules as ``pair_hash``)."""
    if type(variant_identifier) is not str:
        return pair_hash(product_identifier, None, portable)
    return _blake("\x01" + variant_identifier) if portable else hash(variant_identifier) & _UINT64


def product_hash(product_identifier: str, portable: bool = False) -> int:
    """The 64-bit hash of a product_identifier (same rules as ``pair_hash``)."""
    return _blake(product_identifier) if portable else hash(product_identifier) & _UINT64


def run_product_hashes(pids: Iterable[str], portable: bool = False) -> tuple[array[int], list[str]]:
    """The hash of each run of equal product identifiers among ``pids`` (a product's lines
    follow each other: its hash once, as ``BlockResult.accept`` counts it), and the runs'
    identifiers."""
    firsts = [pid for pid, _ in itertools.groupby(pids)]
    return array("Q", (product_hash(pid, portable) for pid in firsts)), firsts


def _blake(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")
