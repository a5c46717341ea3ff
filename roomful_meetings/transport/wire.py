"""The bytes of one connection on their way out: written at once when the socket takes them,
queued (bounded) when it does not.

Theory of operation: trio-websocket writes what it frames itself (the handshake, pings,
pongs, close frames) through `send_all`; the session writes ready-framed text messages
through `write_nowait` (events: never wait) and `write` (responses: wait for room). All of
them pass through one queue of chunks, so bytes leave in the order they were written.

While the queue is empty a write goes straight to the socket with a non-blocking send: no
task switch and no await, which is what lets the hub hand one event to thousands of
connections in a single pass. Events are written with `write_held` instead: kept in the
queue until the hub has handed out every event of one read from Redis and calls
`send_held`, so that a connection sent several events of that read gets them in one system
call (and its client reads them in one), not one each. What the socket does not take stays in the queue, and a
flusher task, started on demand in the connection's nursery, writes it whenever the socket
is writable again (several chunks per system call). The queue is the connection's bounded
send queue: past `limit` frames or `byte_limit` bytes `write_nowait` refuses, and the
caller closes the connection as too slow; `write` waits for room instead, and the session
reads no more requests until there is room (`room`): a client that asks and does not read
holds at most the byte limit and the answers of its requests in flight.

Reads: trio-websocket reads the handshake through `receive_some`. Once the session has
accepted it, the session takes the reads over (`take_reads`): the instance's reactor
(transport/reactor.py) reports each arrival of bytes (`readable`, then `on_readable`), and
the session reads them with `read_now`, for its own frame reader; `read` waits for them
the plain trio way (for the close handshake). trio-websocket's reader task waits in
`receive_some` until the session hands it bytes with `give`: the peer's close frame, for
trio-websocket to answer (the close handshake), or b"" for the end of the stream.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Final

import trio

from roomful_meetings.transport.reactor import ENDED, Reactor

READ_BYTES: Final = 65536  # one read from the socket
WRITEV_CHUNKS: Final = 64  # chunks handed to one writev call (Linux allows 1024)
# The queue of a connection with nothing queued: shared and never added to, because an
# empty deque is 760 bytes and most connections have nothing queued most of the time.
_NOTHING_QUEUED: Final[deque[memoryview]] = deque(maxlen=0)


class WireStream(trio.abc.Stream):
    __slots__ = (
        "_accepted",
        "_broken",
        "_closed",
        "_fd",
        "_flushing",
        "_given",
        "_handshake_read",
        "_head_started",
        "_nursery",
        "_peer_ended",
        "_progress",
        "_queue",
        "_reactor",
        "_reader_idle",
        "_reads_taken",
        "_stream",
        "_written",
        "byte_limit",
        "heard_at",
        "limit",
        "on_readable",
        "readable",
    )

    def __init__(self, stream: trio.SocketStream, nursery: trio.Nursery, limit: int, byte_limit: int) -> None:
        self._stream = stream
        self._fd = stream.socket.fileno()
        self._nursery = nursery
        self.limit = limit
        self.byte_limit = byte_limit
        self._queue = _NOTHING_QUEUED
        self._accepted = 0  # bytes ever handed to this stream
        self._written = 0  # bytes the socket has taken
        self._head_started = False  # the first queued chunk is the rest of a frame begun
        self._flushing = False
        self._closed = False
        self._broken: OSError | None = None
        # Also where trio-websocket's reader waits once the session reads, and `give` with it.
        self._progress = trio.lowlevel.ParkingLot()
        self._reads_taken = False
        self._handshake_read: trio.CancelScope | None = None  # trio-websocket's read under way
        self._given: bytes | None = None  # bytes handed to trio-websocket, not yet taken
        self._reader_idle = False  # trio-websocket's reader waits for bytes (took the last)
        self.heard_at = trio.current_time()  # when bytes last came from the peer
        self._reactor: Reactor | None = None
        # Bytes arrived that no read has taken yet (the reactor reports arrivals only).
        self.readable = False
        self._peer_ended = False  # the reactor said the peer closed: read until the end
        self.on_readable: Callable[[], None] | None = None  # the session's, while it reads

    @property
    def peer(self) -> str:
        """The peer's address as host:port, for logs (asked when needed: no memory kept)."""
        try:
            host, port, *_ = self._stream.socket.getpeername()
        except OSError:
            return "-"  # already disconnected
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def queued(self) -> int:
        """Chunks waiting for the socket (a partly written frame counts as one)."""
        return len(self._queue)

    def write_nowait(self, data: bytes) -> bool:
        """Write or queue `data` without waiting. False: the queue is full, nothing was
        written (the peer reads too slowly). Bytes for a closed or broken connection are
        dropped."""
        if self._closed or self._broken is not None:
            return True
        if self._full():
            return False
        self._put(data)
        return True

    def write_held(self, data: bytes) -> bool:
        """`write_nowait`, but the bytes wait in the queue for `send_held` (or the flusher)
        even when the socket would take them now."""
        if self._closed or self._broken is not None:
            return True
        if self._full():
            return False
        self._accepted += len(data)
        if not self._queue:
            self._queue = deque()
        self._queue.append(memoryview(data))
        if len(self._queue) >= WRITEV_CHUNKS or self._full():
            # A long batch: as much as one system call takes goes now, and what is held
            # never makes the queue look full while the socket would take it.
            self.send_held()
        return True

    def send_held(self) -> None:
        """Write what waits in the queue now, unless the flusher is waiting for the socket
        to write it."""
        if self._flushing or not self._queue or not self._usable():
            return
        self._send_queued()
        if self._queue:
            self._start_flusher()

    def write_over(self, data: bytes) -> None:
        """Write or queue `data` without waiting, even past the limit: the response of a
        request answered without a task. The session runs one such at a time, and only
        while nothing is queued, so the queue goes at most one frame over its limit."""
        if self._closed or self._broken is not None:
            return
        self._put(data)

    async def write(self, data: bytes) -> None:
        """Write or queue `data`, first waiting while the queue is full. Unlike most trio
        functions it yields only when it waits: a response is written from the task that
        ends right after, and a reschedule per response showed in the profile."""
        while self._full() and self._usable():
            await self._progress.park()
        self._raise_if_unusable()
        self._put(data)

    async def room(self) -> None:
        """Return once there is room in the queue (or the connection is unusable)."""
        while self._full() and self._usable():
            await self._progress.park()

    def _full(self) -> bool:
        # (`_accepted - _written`: the bytes queued; dropped ones count as written)
        return len(self._queue) >= self.limit or self._accepted - self._written >= self.byte_limit

    async def drained(self) -> None:
        """Return once everything written so far has reached the socket (or it broke)."""
        while self._queue and self._usable():
            await self._progress.park()

    def discard(self) -> None:
        """Drop the queued frames (the connection is being cut); a frame already partly
        written stays, or the peer would read a torn frame before the close frame."""
        keep = 1 if self._head_started else 0
        while len(self._queue) > keep:
            # Dropped bytes count as written, so that no send_all waits for them.
            self._written += len(self._queue.pop())
        if not self._queue:
            self._queue = _NOTHING_QUEUED
        self._progress.unpark_all()

    # trio.abc.Stream, for trio-websocket

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._raise_if_unusable()
        self._put(bytes(data))  # control frames jump no queue, but ignore its limit
        end = self._accepted
        while self._written < end and self._usable():
            await self._progress.park()
        self._raise_if_unusable()
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await self.drained()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """trio-websocket's reads: the socket's bytes until the session takes the reads,
        then only what the session gives."""
        if not self._reads_taken:
            with trio.CancelScope() as scope:
                self._handshake_read = scope
                data = await self._stream.receive_some(max_bytes)
                self.heard_at = trio.current_time()
                return data
            self._handshake_read = None  # cancelled by take_reads: nothing was read
        while self._given is None:
            self._reader_idle = True
            self._progress.unpark_all()
            await self._progress.park()
            if self._closed:
                raise trio.ClosedResourceError("the connection is closed")
        given, self._given = self._given, None
        self._reader_idle = False
        return given

    # reads on the session's behalf

    def take_reads(self, reactor: Reactor) -> None:
        """From now on the session reads the socket, told by `reactor` when bytes arrive;
        trio-websocket gets only what the session gives it."""
        self._reads_taken = True
        if self._handshake_read is not None:
            self._handshake_read.cancel()  # the reader waits on the socket: stop it waiting
        self._reactor = reactor
        self.readable = True  # bytes may have come before the registration: look once
        reactor.add(self._fd, self._arrived)

    def _arrived(self, now: float, events: int) -> None:
        self.readable = True
        self.heard_at = now
        if events & ENDED:
            self._peer_ended = True
        if self.on_readable is not None:
            self.on_readable()

    def read_now(self) -> bytes | None:
        """The bytes that have arrived: None when there are none (yet), b"" once the peer
        has closed or reset the connection."""
        try:
            data = os.read(self._fd, READ_BYTES)
        except BlockingIOError:
            self.readable = False
            return None
        except OSError:
            return b""  # reset by the peer
        if 0 < len(data) < READ_BYTES and not self._peer_ended:
            # A short read took all there was (as libuv assumes): the next arrival is
            # reported again. Not the end of the stream when it came with the last bytes.
            self.readable = False
        return data

    async def read(self) -> bytes:
        """The next bytes from the peer, waiting the plain trio way (the close handshake,
        after the session's reading ended); b"" once it has closed or reset the connection."""
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            data = self.read_now()
            if data is not None:
                self.heard_at = trio.current_time()
                return data

    def give_nowait(self, data: bytes) -> None:
        """Hand `data` to trio-websocket's reader (b"": the end of the stream)."""
        self._given = data
        self._reader_idle = False
        self._progress.unpark_all()

    async def give(self, data: bytes) -> None:
        """Hand `data` (a close frame) to trio-websocket's reader and return once it has
        handled it (it asks for more) or the connection is closed."""
        self.give_nowait(data)
        while not (self._reader_idle or self._closed):
            await self._progress.park()

    async def aclose(self) -> None:
        # Marked closed first: the descriptor number is free for reuse once it is closed.
        self._closed = True
        self.on_readable = None
        if self._reactor is not None:  # once: the number may belong to another one next
            self._reactor.remove(self._fd, self._arrived)
            self._reactor = None
        self._queue = _NOTHING_QUEUED
        self._progress.unpark_all()
        await self._stream.aclose()

    # internals

    def _usable(self) -> bool:
        return not self._closed and self._broken is None

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError("the connection is closed")
        if self._broken is not None:
            raise trio.BrokenResourceError(f"the connection broke: {self._broken}") from self._broken

    def _put(self, data: bytes) -> None:
        self._accepted += len(data)
        if self._queue:
            self._queue.append(memoryview(data))
            return
        sent = self._send_now(data)
        if sent < len(data):
            self._queue = deque((memoryview(data)[sent:],))
            self._head_started = sent > 0
            self._start_flusher()

    def _send_now(self, data: bytes) -> int:
        try:
            sent = os.write(self._fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._break(exc)
            return len(data)
        self._written += sent
        return sent

    def _start_flusher(self) -> None:
        if not self._flushing:
            self._flushing = True
            self._nursery.start_soon(self._flush)

    async def _flush(self) -> None:
        try:
            while self._queue and self._usable():
                await trio.lowlevel.wait_writable(self._fd)
                if self._usable():
                    self._send_queued()
                self._progress.unpark_all()
        except trio.ClosedResourceError:
            pass  # closed while waiting: nothing left to write to
        finally:
            self._flushing = False
            self._progress.unpark_all()

    def _send_queued(self) -> None:
        chunks = [self._queue[i] for i in range(min(len(self._queue), WRITEV_CHUNKS))]
        try:
            sent = os.writev(self._fd, chunks)
        except BlockingIOError:
            return
        except OSError as exc:
            self._break(exc)
            return
        self._written += sent
        while sent:
            head = self._queue[0]
            if sent >= len(head):
                sent -= len(head)
                self._queue.popleft()
                self._head_started = False
            else:
                self._queue[0] = head[sent:]
                self._head_started = True
                sent = 0
        if not self._queue:
            self._queue = _NOTHING_QUEUED

    def _break(self, exc: OSError) -> None:
        # EPIPE / ECONNRESET: the peer is gone; the reader sees it too and the session ends.
        self._broken = exc
        self._queue = _NOTHING_QUEUED
        self._progress.unpark_all()
