"""Merchant Center XML feeds (RSS 2.0 and Atom with the ``g:`` namespace) -> product records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from psykhe_cli.errors import InputError
from psykhe_cli.feeds.delimited import Row


class XmlReader:
    """The items of a Merchant Center XML feed."""

    def __init__(self, chunks: Iterable[bytes], name: str) -> None:
        self._chunks = chunks
        self._name = name
        self.lines_read = 0

    def __iter__(self) -> Iterator[Row]:
        raise InputError(f"{self._name}: Merchant Center XML feeds are not read yet")
