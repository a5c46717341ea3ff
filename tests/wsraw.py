"""A raw websocket handshake, to read the HTTP status a server refuses a connection with."""

from __future__ import annotations

import base64
import gc
import os
import warnings
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import trio
from trio_websocket import WebSocketConnection, open_websocket_url


async def handshake_status(url: str, headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, bytes]:
    """Send an upgrade request; return the status code and the response body (if any)."""
    stream, status, body = await open_raw(url, headers)
    await stream.aclose()
    return status, body


async def open_raw(
    url: str, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[trio.SocketStream, int, bytes]:
    """A websocket opened by hand, for peers that misbehave (never read, never pong):
    the stream, the handshake status and whatever followed the response head."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [
        f"GET {target} HTTP/1.1".encode(),
        f"Host: {parts.hostname}:{parts.port}".encode(),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)),
        b"Sec-WebSocket-Version: 13",
        *(name + b": " + value for name, value in headers or []),
    ]
    assert parts.hostname and parts.port
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    await stream.send_all(b"\r\n".join(lines) + b"\r\n\r\n")
    response = b""
    with trio.fail_after(5):
        while not _complete(response):
            chunk = await stream.receive_some(65536)
            if not chunk:
                break
            response += chunk
    status = int(response.split(b" ", 2)[1])
    return stream, status, response.partition(b"\r\n\r\n")[2]


def _complete(response: bytes) -> bool:
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def split_frames(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """The complete frames from a server at the start of `data` (opcode, payload) and the
    bytes left over. Server frames are unmasked."""
    frames, position = [], 0
    while len(data) - position >= 2:
        size, header = data[position + 1] & 0x7F, 2
        if size == 126:
            size, header = int.from_bytes(data[position + 2 : position + 4], "big"), 4
        elif size == 127:
            size, header = int.from_bytes(data[position + 2 : position + 10], "big"), 10
        if len(data) - position < header + size:
            break
        frames.append((data[position] & 0x0F, data[position + header : position + header + size]))
        position += header + size
    return frames, data[position:]


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final client frame (masked, as RFC 6455 requires of clients); payload < 126 bytes."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


class RawPeer:
    """An opened raw websocket that reads whole server frames: for peers that misbehave."""

    def __init__(self, stream: trio.SocketStream, received: bytes) -> None:
        self.stream, self._buffer, self._frames = stream, received, list[tuple[int, bytes]]()

    async def next_frame(self) -> tuple[int, bytes]:
        """The next frame (opcode, payload); opcode 0 with b"" when the server hung up."""
        with trio.fail_after(10):
            while not self._frames:
                frames, self._buffer = split_frames(self._buffer)
                self._frames += frames
                if self._frames:
                    break
                chunk = await self.stream.receive_some(65536)
                if not chunk:
                    return 0, b""
                self._buffer += chunk
        return self._frames.pop(0)

    async def next_frame_not(self, *skipped: int) -> tuple[int, bytes]:
        while (frame := await self.next_frame())[0] in skipped:
            continue
        return frame


@asynccontextmanager
async def open_ws(
    url: str, headers: list[tuple[bytes, bytes]] | None = None, **options: Any
) -> AsyncIterator[WebSocketConnection]:
    """trio-websocket's client, with its socket closed on the way out: trio-websocket 0.12
    leaves it to the garbage collector when the server closed the connection, and the
    ResourceWarning then lands in whichever test runs next."""
    async with AsyncExitStack() as stack:
        ws = await stack.enter_async_context(open_websocket_url(url, extra_headers=headers or [], **options))
        stack.push_async_callback(trio.aclose_forcefully, ws._stream)
        yield ws


def collect_dropped_client_sockets() -> None:
    """Collect now the sockets trio-websocket 0.12's *client* left to the garbage collector
    (a connection the server closed or refused), their ResourceWarning silenced: left to a
    later collection, it fails whichever test that collection falls in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
