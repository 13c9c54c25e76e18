"""Open client connections by peer address, so a fault can reset one mid-request.

ASGI gives an app no way to drop its connection without answering: uvicorn would answer 500.
The sandbox serves through a uvicorn protocol that registers each transport here (see
``server.py``); ``abort`` then sends a TCP RST, as a crashed proxy or a dropped link would.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any


class ConnectionRegistry:
    """Transports of the open connections, keyed by the client's (host, port)."""

    def __init__(self) -> None:
        self._transports: dict[Any, asyncio.Transport] = {}

    def add(self, peer: Any, transport: asyncio.Transport) -> None:
        """Remember a new connection."""
        self._transports[peer] = transport

    def discard(self, peer: Any) -> None:
        """Forget a closed connection."""
        self._transports.pop(peer, None)

    def abort(self, peer: Any) -> bool:
        """Reset the connection from ``peer`` now (RST, no answer); False if unknown."""
        transport = self._transports.get(peer)
        if transport is None:
            return False
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # linger 0: close() sends RST at once instead of a polite FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return True

    def peers(self) -> list[Any]:
        """The peers of every open connection."""
        return list(self._transports)
