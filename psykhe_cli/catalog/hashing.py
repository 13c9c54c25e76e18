"""A record's hashes: its key, its line as written, its content, and each counted field's.

Every hash here is portable (the same in every process and every run): the memory is stored
and compared with the next run's. The content hash is blake2b over the product object
re-serialized with sorted keys, so neither key order nor whitespace in the feed counts as a
change. Parsing and re-serializing cost most of the time, so the line as written is hashed
too (``raw_hashes``): a line byte for byte as remembered is unchanged without being parsed.
Field hashes are 16 bits (``zlib.crc32`` of the field's value, likewise serialized): they
only count which fields changed; whether a record changed is the content hash's call.
"""

from __future__ import annotations

import zlib
from hashlib import blake2b
from typing import Any

import orjson

from psykhe_cli.schema import PRODUCT_DATA_KEY, PRODUCT_KEY, VARIANT_KEY

#: the top-level fields whose changes are counted one by one; any other field is "other"
FIELDS = ("price", "title", "images", "designer", "categories", "sizes", "color", "other")
_NAMED = FIELDS[:-1]
_NOT_OTHER = frozenset((*_NAMED, PRODUCT_KEY, VARIANT_KEY))
_SORTED = orjson.OPT_SORT_KEYS


def key_text(product_identifier: str, variant_identifier: Any) -> bytes:
    """What a record's key hash is taken of: the server keeps one record per product and
    variant id, a product without a variant id as its one variant."""
    vid = variant_identifier if type(variant_identifier) is str else ""
    return f"{len(product_identifier)}:{product_identifier}{vid}".encode("utf-8", "surrogatepass")


def _digest(data: bytes) -> bytes:
    return blake2b(data, digest_size=8).digest()


def products_of(records: list[bytes]) -> list[dict[str, Any]]:
    """The product objects of normalized records (``{"operation":…,"product_data":{…}}``)."""
    return [orjson.loads(record)[PRODUCT_DATA_KEY] for record in records]


def identifiers_of(products: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """The product and variant identifiers of ``products``."""
    return [p[PRODUCT_KEY] for p in products], [p.get(VARIANT_KEY) for p in products]


def key_hashes(product_ids: list[Any], variant_ids: list[Any], numpy: Any) -> Any:
    """Each record's key hash (from its identifiers), as a numpy ``uint64`` array."""
    texts = map(key_text, product_ids, variant_ids)
    return numpy.frombuffer(b"".join(map(_digest, texts)), dtype=numpy.uint64)


def raw_hashes(records: list[bytes], numpy: Any) -> Any:
    """Each normalized line's hash, byte for byte, as a numpy ``uint64`` array."""
    return numpy.frombuffer(b"".join(map(_digest, records)), dtype=numpy.uint64)


def content_hashes(products: list[dict[str, Any]], numpy: Any) -> Any:
    """Each product's content hash (sorted keys, no whitespace), as a ``uint64`` array."""
    canonical = [orjson.dumps(p, option=_SORTED) for p in products]
    return numpy.frombuffer(b"".join(map(_digest, canonical)), dtype=numpy.uint64)


def field_hashes(products: list[dict[str, Any]], numpy: Any) -> Any:
    """A ``(len(products), len(FIELDS))`` ``uint16`` array: each counted field's hash (an
    absent field hashes as empty), the last column all the other fields' together."""
    crc, dumps = zlib.crc32, orjson.dumps
    values = []
    for product in products:
        for name in _NAMED:
            value = product.get(name, _ABSENT)
            values.append(crc(b"") if value is _ABSENT else crc(dumps(value, option=_SORTED)))
        others = {k: v for k, v in product.items() if k not in _NOT_OTHER}
        values.append(crc(dumps(others, option=_SORTED)) if others else crc(b""))
    hashes = numpy.array(values, dtype=numpy.uint32) & numpy.uint32(0xFFFF)
    return hashes.astype(numpy.uint16).reshape(len(products), len(FIELDS))


_ABSENT = object()
