"""A dedicated pub/sub connection that re-subscribes by itself after a reconnect.

Theory of operation: the wanted channel set is the source of truth. `subscribe` adds a
channel and waits until Redis confirms it (so that an event published after the call
returns is certain to arrive); `unsubscribe` removes it without waiting. Each (re)connect
subscribes to the whole set. `confirmed` holds the channels Redis has confirmed on the
current link, and `on_subscribed` is called at each confirmation: from then on nothing
published there is missed, so that is where a caller catches up on what it may have missed
while the link was down.

The connection goes where its locator says (a fixed server, the primary Sentinel names, a
cluster node) and is closed and opened again when the locator learns of a move. With
`sharded` it uses the Redis 7 sharded commands (SSUBSCRIBE, SUNSUBSCRIBE, smessage) for a
cluster node; storage/redis/cluster.py routes channels to the node of their slot.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, Protocol, cast

import hiredis
import trio

from roomful_meetings.storage.redis.client import Backoff
from roomful_meetings.storage.redis.connection import (
    CONNECT_ERRORS,
    LINK_ERRORS,
    handshake_commands_for,
    open_stream,
    pack,
)
from roomful_meetings.storage.redis.errors import RedisConnectionLost, RedisError, RedisUnavailable
from roomful_meetings.storage.redis.locator import FixedLocator, Locator
from roomful_meetings.storage.redis.url import RedisAddress

log = logging.getLogger(__name__)

RECEIVE_SIZE: Final = 65536
KEEPALIVE_SECONDS: Final = 5.0

MessageHandler = Callable[[bytes, bytes], None]


class Subscriber(Protocol):
    """Subscriptions that follow the server (PubSub: classic, one link; cluster.py
    ShardedPubSub: one link per node owning a wanted channel's slot)."""

    @property
    def confirmed(self) -> set[bytes]: ...

    @property
    def ready(self) -> bool: ...

    def want(self, channel: bytes) -> None: ...

    async def wait_ready(self) -> None: ...

    def unsubscribe(self, channel: bytes) -> None: ...

    async def wait_confirmed(self, channel: bytes) -> None: ...

    async def ping(self) -> None:
        """Return once Redis has answered a PING on the events link (a cluster's: on one
        of its links); raises RedisError when the link is down or breaks first."""
        ...

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None: ...


async def _until_broken(
    loop: Callable[[trio.abc.Stream], Awaitable[None]], stream: trio.abc.Stream, done: Callable[[], None]
) -> None:
    try:
        await loop(stream)
    except LINK_ERRORS as exc:
        log.warning("pub/sub connection lost: %s", exc or type(exc).__name__)
    done()


class Verbs:
    """The commands and reply kinds of classic or sharded pub/sub."""

    def __init__(self, sharded: bool) -> None:
        self.sharded = sharded
        s = "S" if sharded else ""
        self.subscribe, self.unsubscribe = f"{s}SUBSCRIBE", f"{s}UNSUBSCRIBE"
        lower = s.lower().encode()
        self.message = lower + b"message"
        self.subscribed, self.unsubscribed = lower + b"subscribe", lower + b"unsubscribe"


class PubSub:
    def __init__(
        self,
        where: RedisAddress | Locator,
        on_message: MessageHandler,
        *,
        channels: Iterable[bytes] = (),
        on_subscribed: Callable[[bytes], None] | None = None,
        on_dropped: Callable[[bytes], None] | None = None,
        on_read_end: Callable[[], None] | None = None,
        connect_timeout: float = 2.0,
        keepalive: float = KEEPALIVE_SECONDS,
        sharded: bool = False,
    ) -> None:
        self.locator: Locator = FixedLocator(where) if isinstance(where, RedisAddress) else where
        self.verbs = Verbs(sharded)
        # Called when the server ends a wanted subscription itself (a sharded channel's slot
        # moved to another node): the owner routes it again.
        self.on_dropped = on_dropped
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        # Called after the messages of one read from the socket: what they started (writes
        # to the recipients' connections) may be finished once for all of them.
        self.on_read_end = on_read_end
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.channels: set[bytes] = set(channels)
        self.confirmed: set[bytes] = set()
        self._stream: trio.abc.Stream | None = None
        self._outgoing: list[bytes] = []
        self._wake = trio.Event()
        self._confirmed_changed = trio.Event()  # set (and renewed) at every change of `confirmed`
        self._linked = trio.Event()  # set while the link is up
        # PINGs sent and answered on the current link: Redis answers in order, so the n-th
        # pong is the answer to the n-th PING (`ping` waits for its own).
        self._pings = self._pongs = 0
        self._heard = trio.Event()  # set (and renewed) at every pong and when the link ends

    @property
    def connected(self) -> bool:
        return self._stream is not None

    @property
    def ready(self) -> bool:
        """Whether subscriptions can be made now (the link is up)."""
        return self._stream is not None

    async def wait_ready(self) -> None:
        await self._linked.wait()

    async def subscribe(self, channel: bytes) -> None:
        """Subscribe and wait for Redis to confirm (raises RedisUnavailable when down)."""
        self.channels.add(channel)
        stream = self._stream
        if stream is None:
            raise RedisUnavailable("pub/sub connection is down")
        self._send(pack((self.verbs.subscribe, channel)))
        while channel not in self.confirmed:
            await self._confirmed_changed.wait()
            if self._stream is not stream:
                raise RedisConnectionLost("pub/sub connection lost while subscribing")

    def want(self, channel: bytes) -> None:
        """Add a channel without waiting for its confirmation (sent now if connected, else
        with the others at the next connect)."""
        if channel not in self.channels:
            self.channels.add(channel)
            if self._stream is not None:
                self._send(pack((self.verbs.subscribe, channel)))

    async def wait_confirmed(self, channel: bytes) -> None:
        """Return once Redis has confirmed `channel` on the current link (across reconnects)."""
        while channel not in self.confirmed:
            await self._confirmed_changed.wait()

    async def ping(self) -> None:
        """PING on the link and return once Redis has answered it. Raises RedisUnavailable
        when the link is down, RedisConnectionLost when it ends before the answer."""
        stream = self._stream
        if stream is None:
            raise RedisUnavailable("pub/sub connection is down")
        mine = self._ping()
        while self._pongs < mine:
            await self._heard.wait()
            if self._stream is not stream:
                raise RedisConnectionLost("pub/sub connection lost before it answered a PING")

    def _ping(self) -> int:
        """Send a PING; returns its number on this link."""
        self._pings += 1
        self._send(pack(("PING",)))
        return self._pings

    def _pong(self) -> None:
        self._pongs += 1
        self._heard.set()
        self._heard = trio.Event()

    def _confirmed_change(self) -> None:
        self._confirmed_changed.set()
        self._confirmed_changed = trio.Event()

    def unsubscribe(self, channel: bytes) -> None:
        self.channels.discard(channel)
        if self._stream is not None:
            self._send(pack((self.verbs.unsubscribe, channel)))

    def _send(self, data: bytes) -> None:
        self._outgoing.append(data)
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the connection up for ever; `started` once the first attempt is over."""
        backoff = Backoff()
        started = False
        while True:
            address: RedisAddress | None = None
            try:
                address = await self.locator.locate()
                stream = await open_stream(address, self.connect_timeout)
            except (*CONNECT_ERRORS, RedisError) as exc:
                level = logging.WARNING if backoff.attempt == 0 else logging.DEBUG
                where = address.masked() if address else self.locator.describe().masked()
                log.log(level, "pub/sub connect to %s failed: %r", where, exc)
            else:
                backoff.reset()
                await self._serve(stream, address, task_status if not started else None)
                started = True
            if address is not None:
                self.locator.lost(address)
            if not started:
                task_status.started()
                started = True
            with trio.move_on_after(backoff.next_delay()):
                await self.locator.wait_changed()

    async def _serve(
        self, stream: trio.abc.Stream, address: RedisAddress, task_status: trio.TaskStatus[None] | None
    ) -> None:
        self._outgoing = [pack(c) for c in handshake_commands_for(address)]
        if self.channels and self.verbs.sharded:  # one slot per SSUBSCRIBE: one channel each
            self._outgoing += [pack((self.verbs.subscribe, c)) for c in sorted(self.channels)]
        elif self.channels:
            self._outgoing.append(pack((self.verbs.subscribe, *sorted(self.channels))))
        self._stream = stream
        self._pings = self._pongs = 0
        self._linked.set()
        self._wake.set()
        try:
            async with trio.open_nursery() as nursery:
                done = nursery.cancel_scope.cancel
                nursery.start_soon(_until_broken, self._write_loop, stream, done)
                nursery.start_soon(_until_broken, self._keepalive_loop, stream, done)
                nursery.start_soon(_until_broken, self._read_loop, stream, done)
                nursery.start_soon(self._until_moved, address, done)
                if task_status is not None:
                    task_status.started()
        finally:
            self._stream = None
            self._linked = trio.Event()
            self.confirmed.clear()
            self._confirmed_change()
            self._heard.set()  # a `ping` waiting on this link learns that it ended
            self._heard = trio.Event()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

    async def _until_moved(self, address: RedisAddress, done: Callable[[], None]) -> None:
        await self.locator.wait_moved(address)
        log.warning("pub/sub: the primary moved from %s, reconnecting", address.masked())
        done()

    async def _write_loop(self, stream: trio.abc.Stream) -> None:
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._outgoing:
                data = b"".join(self._outgoing)
                self._outgoing.clear()
                await stream.send_all(data)

    async def _keepalive_loop(self, stream: trio.abc.Stream) -> None:
        # A silent half-open TCP link would otherwise look healthy for ever.
        mine = 0  # the number of this loop's last PING on the link (0: none yet)
        while True:
            await trio.sleep(self.keepalive)
            if self._pongs < mine:
                raise RedisConnectionLost("pub/sub connection did not answer PING")
            mine = self._ping()

    async def _read_loop(self, stream: trio.abc.Stream) -> None:
        reader = hiredis.Reader()
        while True:
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise RedisConnectionLost("Redis closed the pub/sub connection")
            reader.feed(cast(bytes, data))
            try:
                while (reply := reader.gets()) is not False:
                    self._dispatch(reply)
            finally:
                if self.on_read_end is not None:
                    self.on_read_end()

    def _dispatch(self, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.error("pub/sub error reply: %s", reply)
            return
        if reply == b"PONG":  # PING answered before any SUBSCRIBE
            self._pong()
            return
        if not isinstance(reply, list) or not reply:
            return  # +OK of AUTH / SELECT
        kind, verbs = reply[0], self.verbs
        if kind == verbs.message:
            self.on_message(reply[1], reply[2])
        elif kind == verbs.subscribed:
            channel = reply[1]
            self.confirmed.add(channel)
            self._confirmed_change()
            if self.on_subscribed:
                self.on_subscribed(channel)
        elif kind == verbs.unsubscribed:
            self.confirmed.discard(reply[1])
            self._confirmed_change()
            if reply[1] in self.channels and self.on_dropped:
                self.on_dropped(reply[1])
        elif kind == b"pong":
            self._pong()
