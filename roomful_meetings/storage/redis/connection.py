"""One Redis connection shared by many concurrent callers.

Theory of operation: a caller packs its command, appends it to the outgoing buffer and a
reply slot to a FIFO, and parks. If nobody is writing, the caller itself sends the buffer
(and whatever other callers add meanwhile) in as few writes as possible, so commands from
concurrent tasks are pipelined and a lone request needs no writer task. Over a plain socket
the write is a non-blocking send, then a yield during which other callers queue their
commands for the next write; what the socket did not take is sent with a write shielded
from the caller's cancellation (a half-sent command would corrupt the stream).
The reader task feeds received bytes to hiredis, fills slots in FIFO order (the order Redis
answers in) and wakes each parked caller directly: no Event and no cancel scope per call,
because this hand-off is most of the cost of a round trip from Python.
Timeouts are kept by one watchdog per connection rather than a deadline per call: when
replies are outstanding and none has arrived for `timeout` seconds, or a write has not
finished in that time, the link is dropped. Every waiting caller then gets
RedisConnectionLost (the command was sent: outcome unknown) and the connection is
finished; the client pool opens a new one.
"""

from __future__ import annotations

import os
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import hiredis
import trio

from roomful_meetings.storage.redis import inline
from roomful_meetings.storage.redis.errors import (
    RedisConnectionLost,
    RedisError,
    RedisTimeout,
    RedisUnavailable,
    ReplyError,
    classify_reply_error,
)
from roomful_meetings.storage.redis.url import RedisAddress

RECEIVE_SIZE: Final = 65536
# What a broken or misbehaving link raises; anything else is a bug and propagates.
LINK_ERRORS: Final = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, RedisError)

Command = tuple[str | bytes | int | float, ...]


# Encode a command as a RESP array (hiredis's typing of pack_command is too narrow; a
# function around it showed in the profile of a getMeeting).
pack: Final[Callable[[Command], bytes]] = cast(Callable[[Command], bytes], hiredis.pack_command)


_UNSET: Final = object()


class _Slot:
    """Where the reader puts one reply; `task` is set while the caller is parked on it,
    `callback` while a driven caller waits for it (storage/redis/inline.py)."""

    __slots__ = ("callback", "task", "value")

    def __init__(self) -> None:
        self.value: Any = _UNSET
        self.task: trio.lowlevel.Task | None = None
        self.callback: Callable[[], None] | None = None

    def fill(self, value: Any) -> None:
        self.value = value
        if self.task is not None:
            trio.lowlevel.reschedule(self.task)
            self.task = None
        elif self.callback is not None:
            callback, self.callback = self.callback, None
            callback()

    def filled_by(self, callback: Callable[[], None]) -> None:
        """Call `callback` once filled (a driven caller's way of waiting)."""
        self.callback = callback

    async def wait(self) -> Any:
        if self.value is _UNSET:
            if inline.STATE.driving:
                await inline.suspend(self)
            else:
                self.task = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(self._abort)
        return self.value

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        # The caller was cancelled: its reply will still arrive and be dropped here.
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED


def reply_error(error: hiredis.ReplyError) -> ReplyError:
    return classify_reply_error(str(error))


# What opening a link can fail with: refused, unreachable, too slow, TLS handshake refused.
CONNECT_ERRORS: Final = (OSError, trio.TooSlowError, trio.BrokenResourceError)


async def open_stream(address: RedisAddress, connect_timeout: float) -> trio.abc.Stream:
    """Open the byte stream to Redis (TCP, TLS or unix socket) within `connect_timeout`.

    Raises one of CONNECT_ERRORS.
    """
    with trio.fail_after(connect_timeout):
        if address.unix_path:
            return await trio.open_unix_socket(address.unix_path)
        tcp = await trio.open_tcp_stream(address.host, address.port)
        if not address.tls:
            return tcp
        context = ssl.create_default_context(cafile=address.tls_ca_file)
        if not address.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        tls = trio.SSLStream(tcp, context, server_hostname=address.host)
        try:
            await tls.do_handshake()
        except BaseException:
            await trio.aclose_forcefully(tcp)
            raise
        return tls


class Connection:
    """A pipelined connection; `run` must be running for commands to be answered."""

    def __init__(self, stream: trio.abc.Stream, *, timeout: float) -> None:
        self._stream = stream
        self._timeout = timeout
        self._reader = hiredis.Reader()
        self._pending: deque[_Slot] = deque()
        self._outgoing: list[bytes] = []
        self._writing = False
        # Bumped by every reply and every finished write: the watchdog's sign of progress.
        self._progress = 0
        self._finished = trio.Event()
        self._closed_reason: str | None = None
        self._lost: type[RedisConnectionLost] = RedisConnectionLost
        self._fd = stream.socket.fileno() if isinstance(stream, trio.SocketStream) else -1
        self._nursery: trio.Nursery | None = None

    @property
    def closed(self) -> bool:
        return self._closed_reason is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Read and write until the link breaks or the connection is closed."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._until_broken, self._read_loop)
                nursery.start_soon(self._watchdog)
                task_status.started()
                await self._finished.wait()
                nursery.cancel_scope.cancel()
        finally:
            self._finish("connection closed")
            self._fail_pending()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await self._stream.aclose()

    def close(self, reason: str = "closed") -> None:
        self._finish(reason)

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Send one command and return its reply (error replies are raised)."""
        slot = self._enqueue(pack(args))
        # `_write_queued` and `slot.wait` written out: two coroutines less per command,
        # the most of what this layer cost over a bare pipelined socket (bench/redis_layer.py).
        if inline.STATE.driving:
            if self not in inline.STATE.dirty:
                inline.STATE.dirty.append(self)
            await inline.suspend(slot)
        else:
            if not self._writing:
                await self._flush()
            if slot.value is _UNSET:
                slot.task = trio.lowlevel.current_task()
                await trio.lowlevel.wait_task_rescheduled(slot._abort)
        reply = slot.value
        if isinstance(reply, RedisError):
            raise reply
        return reply

    async def execute_many(self, commands: list[Command]) -> list[Any]:
        """Pipeline several commands; error replies are returned in place, not raised."""
        if not commands:
            return []
        return await self.replies(self.enqueue_many(commands))

    def enqueue_many(self, commands: list[Command]) -> list[_Slot]:
        """Queue commands without sending them yet (`send_queued` or `replies` sends): a
        cluster pipeline queues on every node first, then waits for all of them."""
        return [self._enqueue(pack(command)) for command in commands]

    async def send_queued(self) -> None:
        await self._write_queued()

    async def replies(self, slots: list[_Slot]) -> list[Any]:
        """Send what is queued and wait for the replies of `slots` (errors in place)."""
        await self._write_queued()
        last = await slots[-1].wait()
        if isinstance(last, RedisConnectionLost):
            raise last
        return [slot.value for slot in slots]

    async def wait_finished(self) -> None:
        await self._finished.wait()

    def _enqueue(self, packed: bytes) -> _Slot:
        """Queue a packed command and the slot its reply will fill."""
        if self._closed_reason is not None:
            raise RedisUnavailable(self._closed_reason)
        slot = _Slot()
        self._pending.append(slot)
        self._outgoing.append(packed)
        return slot

    async def _write_queued(self) -> None:
        """Write what is queued, unless a writer is already at it (it takes it along).
        A driven caller's command waits for the driver's `inline.flush` instead."""
        if inline.STATE.driving:
            if self._outgoing and self not in inline.STATE.dirty:
                inline.STATE.dirty.append(self)
        elif not self._writing:
            await self._flush()

    def write_queued_now(self) -> None:
        """Write what is queued without waiting (`inline.flush`); what the socket does not
        take at once goes back first in line for `_flush`, in a task of the connection's."""
        if self._writing or not self._outgoing or self._closed_reason is not None or self._nursery is None:
            return
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        try:
            sent = self._send_now(data)
        except OSError as exc:
            self._finish(f"connection lost: {exc}")
            return
        self._progress += 1
        if sent < len(data):
            self._outgoing.insert(0, data[sent:])
            self._writing = True  # from now: no other write may pass the rest
            self._nursery.start_soon(self._flush)

    async def _until_broken(self, loop: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop()
        except LINK_ERRORS as exc:
            self._finish(f"connection lost: {exc or type(exc).__name__}")

    async def _watchdog(self) -> None:
        """Drop the link when Redis neither answers nor takes our bytes for `timeout` s."""
        tick = self._timeout / 4
        stalled_since: float | None = None
        seen = self._progress
        while True:
            await trio.sleep(tick)
            busy = bool(self._pending) or self._writing
            if not busy or self._progress != seen:
                seen, stalled_since = self._progress, None
                continue
            now = trio.current_time()
            stalled_since = stalled_since if stalled_since is not None else now - tick
            if now - stalled_since >= self._timeout:
                self._finish(f"no reply from Redis within {self._timeout}s", RedisTimeout)
                return

    async def _flush(self) -> None:
        self._writing = True
        try:
            while self._outgoing and self._closed_reason is None:
                data = b"".join(self._outgoing)
                self._outgoing.clear()
                sent = self._send_now(data)
                if sent < len(data):
                    with trio.CancelScope(shield=True):
                        await self._stream.send_all(data[sent:])
                else:
                    # Yield even though nothing blocked: callers that run meanwhile add
                    # their commands to the next write instead of writing one each.
                    await trio.lowlevel.cancel_shielded_checkpoint()
                self._progress += 1
        except LINK_ERRORS as exc:
            self._finish(f"connection lost: {exc or type(exc).__name__}")
        finally:
            self._writing = False

    async def _receive(self) -> bytes:
        """The next bytes from Redis. Over a plain socket, read when trio says it is
        readable: the stream's receive_some adds two scheduler passes per read (a
        checkpoint before, one after), and a read serves a whole batch of replies."""
        if self._fd < 0:
            return cast(bytes, await self._stream.receive_some(RECEIVE_SIZE))
        while True:
            await trio.lowlevel.wait_readable(self._fd)
            try:
                return os.read(self._fd, RECEIVE_SIZE)
            except BlockingIOError:
                continue

    def _send_now(self, data: bytes) -> int:
        """Write what the socket takes at once, without awaiting (0 over TLS, or when full):
        trio's send_all and a shielded scope per write showed in the round-trip cost."""
        if self._fd < 0:
            return 0
        try:
            return os.write(self._fd, data)
        except BlockingIOError:
            return 0

    def _finish(self, reason: str, lost: type[RedisConnectionLost] = RedisConnectionLost) -> None:
        if self._closed_reason is None:
            self._closed_reason, self._lost = reason, lost
        self._finished.set()

    def _fail_pending(self) -> None:
        error = self._lost(self._closed_reason or "connection lost")
        while self._pending:
            self._pending.popleft().fill(error)
        inline.flush()  # driven callers may have tried again on another connection

    async def _read_loop(self) -> None:
        reader = self._reader
        pending = self._pending
        error_reply = hiredis.ReplyError
        while True:
            data = await self._receive()
            if not data:
                raise RedisConnectionLost("Redis closed the connection")
            reader.feed(data)
            self._progress += 1
            while (reply := reader.gets()) is not False:
                if not pending:
                    raise RedisError(f"reply with no request waiting for it: {reply!r}")
                pending.popleft().fill(reply_error(reply) if isinstance(reply, error_reply) else reply)
            if inline.STATE.dirty:  # driven callers resumed above asked Redis again
                inline.flush()


def handshake_commands_for(address: RedisAddress) -> list[Command]:
    """AUTH and SELECT as the address asks, to send first on every new connection."""
    commands: list[Command] = []
    if address.password is not None:
        if address.username:
            commands.append(("AUTH", address.username, address.password))
        else:
            commands.append(("AUTH", address.password))
    if address.db:
        commands.append(("SELECT", address.db))
    return commands


async def handshake(conn: Connection, address: RedisAddress) -> None:
    """Authenticate and select the database on a fresh connection. (A server over
    maxclients writes its refusal unasked and closes: the first command sent gets it, as
    NotServing, a 503 "not applied", which is true: Redis read nothing.)"""
    for reply in await conn.execute_many(handshake_commands_for(address)):
        if isinstance(reply, ReplyError):
            raise reply


async def one_shot(address: RedisAddress, commands: list[Command], *, within: float) -> list[Any]:
    """Open a connection, authenticate, pipeline `commands`, close: for the rare questions
    about the topology (Sentinel, CLUSTER SHARDS, ROLE). Error replies come back in place.

    Raises RedisUnavailable when the node cannot be reached, RedisConnectionLost when it
    does not answer within `within` seconds.
    """
    try:
        stream = await open_stream(address, within)
    except CONNECT_ERRORS as exc:
        raise RedisUnavailable(f"cannot reach {address.masked()}: {exc!r}") from None
    conn = Connection(stream, timeout=within)
    # Raised once out of the nursery, as themselves (not inside an exception group).
    answer: list[Any] | RedisError
    async with trio.open_nursery() as nursery:
        await nursery.start(conn.run)
        try:
            with trio.fail_after(within):
                await handshake(conn, address)
                answer = await conn.execute_many(commands)
        except trio.TooSlowError:
            answer = RedisTimeout(f"no reply from {address.masked()} within {within:g}s")
        except ReplyError as refused:  # the handshake's: a wrong or missing password
            answer = refused
        finally:
            conn.close("done")
    if isinstance(answer, RedisError):
        raise answer
    return answer
