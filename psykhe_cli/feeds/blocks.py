"""Decompressed chunks -> newline-aligned blocks of whole lines, with line numbers kept.

Blocks are the unit of work: about ``block_size`` bytes of complete lines, so a block can be
checked on its own (in another process) and results merged in order. A line longer than
``LINE_CAP`` is an error naming it, never an attempt to hold it in memory. The same rules
(the cap, a BOM opening the input dropped) hold for the byte ranges of ``ranges.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from psykhe_cli.errors import InputError

LINE_CAP = 16 << 20
BLOCK_SIZE = 1 << 20
BOM = b"\xef\xbb\xbf"


def iter_blocks(
    chunks: Iterable[bytes],
    name: str,
    *,
    block_size: int = BLOCK_SIZE,
    line_cap: int = LINE_CAP,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(number of the block's first line, block)``; a leading UTF-8 BOM is dropped.

    Lines are checked against ``line_cap`` as chunks arrive (chunks are cut to ``block_size``,
    so the cap is exact when ``line_cap >= block_size``, as with the defaults).

    Every block but the last ends with ``b"\\n"``; the last may hold a final line without one.
    """
    pending: list[bytes] = []
    size = 0
    line_no = 1
    since_newline = 0  # length of the line being assembled
    for chunk in _pieces(_strip_bom(chunks), block_size):
        first_nl = chunk.find(b"\n")
        line_end = since_newline + (len(chunk) if first_nl < 0 else first_nl)
        if line_end > line_cap:
            raise line_too_long(name, line_no + sum(p.count(b"\n") for p in pending), line_cap)
        pending.append(chunk)
        size += len(chunk)
        last_nl = chunk.rfind(b"\n")
        if last_nl < 0:
            since_newline = line_end
        else:
            since_newline = len(chunk) - last_nl - 1
            if size >= block_size:
                data = b"".join(pending)
                split = len(data) - len(chunk) + last_nl + 1
                block = data[:split]
                yield line_no, block
                line_no += block.count(b"\n")
                rest = data[split:]
                pending = [rest] if rest else []
                size = len(rest)
    if pending:
        yield line_no, b"".join(pending)


def line_too_long(name: str, line: int, line_cap: int = LINE_CAP) -> InputError:
    """The error for a line over the cap, naming it."""
    return InputError(
        f"{name}:{line}: line longer than {_size(line_cap)}",
        hint="each record must fit on one line; is this the right file?",
    )


def _strip_bom(chunks: Iterable[bytes]) -> Iterator[bytes]:
    iterator = iter(chunks)
    head = b""
    for chunk in iterator:
        head += chunk
        if len(head) >= len(BOM):
            break
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if head:
        yield head
    yield from iterator


def _pieces(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    for chunk in chunks:
        if len(chunk) <= size:
            yield chunk
        else:
            for start in range(0, len(chunk), size):
                yield chunk[start : start + size]


def split_lines(block: bytes) -> list[bytes]:
    """The lines of a block without their ``\\n`` (a final empty piece dropped)."""
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    return lines


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"
