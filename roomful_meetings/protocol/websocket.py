"""The frames the server writes itself: text, pong and close (reading is protocol/frames.py).

A frame from a server is not masked (RFC 6455, section 5.1), so the bytes of one event are
the same for every connection that receives it: the hub frames an event once and writes
those bytes to each socket. The server negotiates no extension (trio-websocket offers none),
so no frame is ever compressed. The handshake and the close handshake are trio-websocket's.
"""

from __future__ import annotations

import struct
from typing import Final

_FIN_TEXT: Final = 0x81  # FIN bit set, opcode 1 (text)
_FIN_CLOSE: Final = 0x88
_FIN_PONG: Final = 0x8A
_MASKED: Final = 0x80
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


def pong_frame(payload: bytes) -> bytes:
    """The answer to a ping: a pong with the ping's payload (at most 125 bytes)."""
    return _SHORT.pack(_FIN_PONG, len(payload)) + payload


def close_frame(code: int, reason: str) -> bytes:
    """A server's close frame; the reason is cut to fit a control frame (125 bytes)."""
    payload = code.to_bytes(2, "big") + reason.encode()[:123]
    while True:  # never cut inside a character
        try:
            payload[2:].decode()
            break
        except UnicodeDecodeError:
            payload = payload[:-1]
    return _SHORT.pack(_FIN_CLOSE, len(payload)) + payload


def masked_close_frame(payload: bytes) -> bytes:
    """The peer's close frame again, as a client sends it (masked, with a zero key): what
    the server hands trio-websocket so that it answers the close itself."""
    return _SHORT.pack(_FIN_CLOSE, _MASKED | len(payload)) + bytes(4) + payload
