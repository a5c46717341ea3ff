"""One Redis connection shared by many concurrent callers.

Theory of operation: a caller packs its command, appends it to the outgoing buffer and a
reply slot to a FIFO, and waits on its slot. If nobody is writing, the caller itself sends
the buffer (and whatever other callers add meanwhile) in as few writes as possible, so
commands from concurrent tasks are pipelined and a lone request needs no writer task. A
write is shielded from the caller's cancellation (a half-sent command would corrupt the
stream) and bounded by the reply timeout; a write that cannot finish drops the link.
The reader task feeds received bytes to hiredis and fills slots in FIFO order, which is
the order Redis answers in. When the link breaks or a reply is late, every waiting caller
gets RedisConnectionLost (the command was sent: outcome unknown) and the connection is
finished; the client pool opens a new one.
"""

from __future__ import annotations

import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

import hiredis
import trio

from roomful_meetings.storage.redis.errors import (
    NoScriptError,
    RedisConnectionLost,
    RedisError,
    RedisTimeout,
    RedisUnavailable,
    ReplyError,
)
from roomful_meetings.storage.redis.url import RedisAddress

RECEIVE_SIZE: Final = 65536
# What a broken or misbehaving link raises; anything else is a bug and propagates.
LINK_ERRORS: Final = (OSError, trio.BrokenResourceError, trio.ClosedResourceError, RedisError)

Command = tuple[str | bytes | int | float, ...]


def pack(command: Command) -> bytes:
    """Encode a command as a RESP array (hiredis's typing of pack_command is too narrow)."""
    return cast(bytes, hiredis.pack_command(cast(Any, command)))


class _Slot:
    __slots__ = ("done", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: Any = None


def reply_error(error: hiredis.ReplyError) -> ReplyError:
    text = str(error)
    if text.startswith("NOSCRIPT"):
        return NoScriptError(text)
    return ReplyError(text)


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
        self._finished = trio.Event()
        self._closed_reason: str | None = None

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
                nursery.start_soon(self._until_broken, self._read_loop)
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
        (reply,) = await self.execute_many([args])
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def execute_many(self, commands: list[Command]) -> list[Any]:
        """Pipeline several commands; error replies are returned in place, not raised."""
        if not commands:
            return []
        if self._closed_reason is not None:
            raise RedisUnavailable(self._closed_reason)
        slots = [_Slot() for _ in commands]
        self._pending.extend(slots)
        self._outgoing.extend(pack(command) for command in commands)
        if not self._writing:
            await self._flush()
        last = slots[-1]
        with trio.move_on_after(self._timeout) as scope:
            await last.done.wait()
        if scope.cancelled_caught:
            self._finish("no reply from Redis in time")
            raise RedisTimeout(f"no reply from Redis within {self._timeout}s")
        if isinstance(last.value, RedisConnectionLost):
            raise last.value
        return [slot.value for slot in slots]

    async def _until_broken(self, loop: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop()
        except LINK_ERRORS as exc:
            self._finish(f"connection lost: {exc or type(exc).__name__}")

    async def _flush(self) -> None:
        self._writing = True
        try:
            with trio.CancelScope(shield=True), trio.move_on_after(self._timeout) as scope:
                while self._outgoing and self._closed_reason is None:
                    data = b"".join(self._outgoing)
                    self._outgoing.clear()
                    await self._stream.send_all(data)
            if scope.cancelled_caught:
                self._finish("could not send to Redis in time")
        except LINK_ERRORS as exc:
            self._finish(f"connection lost: {exc or type(exc).__name__}")
        finally:
            self._writing = False

    def _finish(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
        self._finished.set()

    def _fail_pending(self) -> None:
        lost = RedisConnectionLost(self._closed_reason or "connection lost")
        while self._pending:
            slot = self._pending.popleft()
            slot.value = lost
            slot.done.set()

    async def _read_loop(self) -> None:
        reader = self._reader
        pending = self._pending
        while True:
            data = await self._stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise RedisConnectionLost("Redis closed the connection")
            reader.feed(cast(bytes, data))
            while (reply := reader.gets()) is not False:
                if not pending:
                    raise RedisError(f"reply with no request waiting for it: {reply!r}")
                slot = pending.popleft()
                slot.value = reply_error(reply) if isinstance(reply, hiredis.ReplyError) else reply
                slot.done.set()


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
    """Authenticate and select the database on a fresh connection."""
    for reply in await conn.execute_many(handshake_commands_for(address)):
        if isinstance(reply, ReplyError):
            raise reply
