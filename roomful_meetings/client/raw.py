"""The raw connection: send any frame, match responses by event.id, read pushes.

Used by the tests and the benchmarks (and underneath the typed client): `call` returns the
response's `data` or raises the ApiError for its code, `request` returns the whole response,
and pushes arrive on `pushes()` / `next_push()`:

    async with connect("ws://127.0.0.1:8765", token) as conn:
        data = await conn.call("meeting:getMeeting", {"meetingId": "..."})
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from roomful_meetings.errors import error_for_code

T = TypeVar("T")


class ErrorInfo(msgspec.Struct):
    status: bool = False
    code: int = 0
    message: str = ""


class EventInfo(msgspec.Struct):
    id: Any = None
    date: Any = None


class Frame(msgspec.Struct):
    """A response or a push as the client sees it."""

    endpoint: str | None = None
    event: EventInfo | None = None
    data: Any = None
    error: ErrorInfo = msgspec.field(default_factory=ErrorInfo)


_decoder = msgspec.json.Decoder(Frame)


def event_ids() -> Callable[[], str]:
    """A series of event ids. event.id doubles as the safe-retry key of a change, so ids
    must be unique per user, not per connection: a random prefix, then a counter."""
    prefix, numbers = secrets.token_hex(6), itertools.count(1)
    return lambda: f"{prefix}-{next(numbers)}"


class Client:
    def __init__(
        self,
        ws: WebSocketConnection,
        push_buffer: int = 10_000,
        on_frame: Callable[[str | bytes], None] | None = None,
    ) -> None:
        self.ws = ws
        self._on_frame = on_frame  # sees each frame's text as received (for recording sessions)
        self._next_event_id = event_ids()
        self._waiting: dict[str, trio.MemorySendChannel[Frame]] = {}
        self._push_in, self._push_out = trio.open_memory_channel[Frame](push_buffer)
        self.closed = trio.Event()

    async def _read_loop(self) -> None:
        try:
            while True:
                text = await self.ws.get_message()
                if self._on_frame is not None:
                    self._on_frame(text)
                frame = _decoder.decode(text)
                event_id = frame.event.id if frame.event else None
                waiter = self._waiting.pop(str(event_id), None) if isinstance(event_id, str) else None
                if waiter is not None:
                    waiter.send_nowait(frame)
                else:
                    # A reader that does not keep up stops reading the socket: the server
                    # then closes the connection as too slow (4008), rather than this
                    # client buffering without bound or dropping events.
                    await self._push_in.send(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._push_in.close()
            for waiter in self._waiting.values():
                waiter.close()
            self._waiting.clear()

    async def request(self, endpoint: str, data: Any = None, *, event_id: str | None = None) -> Frame:
        """Send a request and wait for its response (matched by event.id)."""
        if self.closed.is_set():
            raise ConnectionClosed(self.ws.closed)
        event_id = event_id or self._next_event_id()
        sender, receiver = trio.open_memory_channel[Frame](1)
        self._waiting[event_id] = sender
        message = {"endpoint": endpoint, "data": {} if data is None else data, "event": {"id": event_id}}
        await self.ws.send_message(msgspec.json.encode(message).decode())
        try:
            return await receiver.receive()
        except trio.EndOfChannel:
            raise ConnectionClosed(self.ws.closed) from None

    async def call(self, endpoint: str, data: Any = None) -> Any:
        """The response's data; raises the ApiError of its code when it failed."""
        frame = await self.request(endpoint, data)
        if frame.error.status:
            raise error_for_code(frame.error.code, frame.error.message)
        return frame.data

    async def next_push(self, endpoint: str | None = None) -> Frame:
        """The next push (skipping others when `endpoint` is given)."""
        async for frame in self._push_out:
            if endpoint is None or frame.endpoint == endpoint:
                return frame
        raise ConnectionClosed(self.ws.closed)  # with the server's close code, when it sent one

    def pushes(self) -> trio.MemoryReceiveChannel[Frame]:
        return self._push_out

    def pending_pushes(self) -> list[Frame]:
        frames = []
        while True:
            try:
                frames.append(self._push_out.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return frames


@contextmanager
def as_itself() -> Iterator[None]:
    """An error of the caller's block (an ApiError, say) leaves it as itself, not inside
    the exception groups of the nurseries it ran in, so that `except NotFound:` around
    the block catches it."""
    try:
        yield
    except BaseExceptionGroup as group:
        inner: BaseException = group
        while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
            inner = inner.exceptions[0]
        if inner is group or isinstance(inner, BaseExceptionGroup):
            raise
        raise inner from None


@asynccontextmanager
async def connect(
    url: str, token: str, on_frame: Callable[[str | bytes], None] | None = None, **query: str
) -> AsyncIterator[Client]:
    """Open a connection with the token in the Authorization header."""
    with as_itself():
        async with _connected(url, token, on_frame, **query) as client:
            yield client


@asynccontextmanager
async def _connected(
    url: str, token: str, on_frame: Callable[[str | bytes], None] | None = None, **query: str
) -> AsyncIterator[Client]:
    if query:
        from urllib.parse import urlencode

        url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
    headers = [(b"authorization", f"Bearer {token}".encode())]
    opened: list[WebSocketConnection] = []
    try:
        async with open_websocket_url(url, extra_headers=headers, max_message_size=64 * 1024 * 1024) as ws:
            opened.append(ws)
            client = Client(ws, on_frame=on_frame)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client._read_loop)
                try:
                    yield client
                finally:
                    nursery.cancel_scope.cancel()
    finally:
        # After the close handshake: trio-websocket 0.12 leaves the socket open when the
        # server closed the connection; close it here rather than leave it to the GC.
        for ws in opened:
            await trio.aclose_forcefully(ws._stream)
