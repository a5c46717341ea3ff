"""The one piece of websocket framing the server does itself: a server's text frame.

A frame from a server is not masked (RFC 6455, section 5.1), so the bytes of one event are
the same for every connection that receives it: the hub frames an event once and writes
those bytes to each socket. The server negotiates no extension (trio-websocket offers none),
so no frame is ever compressed. Everything else on the wire (the handshake, pings, pongs,
close frames, and everything read) is left to trio-websocket and wsproto.
"""

from __future__ import annotations

import struct
from typing import Final

_FIN_TEXT: Final = 0x81  # FIN bit set, opcode 1 (text)
_SHORT: Final = struct.Struct("!BB")
_MEDIUM: Final = struct.Struct("!BBH")
_LONG: Final = struct.Struct("!BBQ")


def text_frame(payload: bytes) -> bytes:
    """One complete, unmasked text frame carrying `payload` (UTF-8, not checked here)."""
    size = len(payload)
    if size < 126:
        return _SHORT.pack(_FIN_TEXT, size) + payload
    if size < 65536:
        return _MEDIUM.pack(_FIN_TEXT, 126, size) + payload
    return _LONG.pack(_FIN_TEXT, 127, size) + payload
