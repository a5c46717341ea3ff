"""A dedicated pub/sub connection that re-subscribes by itself after a reconnect.

Theory of operation: the wanted channel set is the source of truth. `subscribe` adds a
channel and waits until Redis confirms it (so that an event published after the call
returns is certain to arrive); `unsubscribe` removes it without waiting. Each (re)connect
subscribes to the whole set. `confirmed` holds the channels Redis has confirmed on the
current link, and `on_subscribed` is called at each confirmation: from then on nothing
published there is missed, so that is where a caller catches up on what it may have missed
while the link was down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, cast

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
from roomful_meetings.storage.redis.errors import RedisConnectionLost, RedisUnavailable
from roomful_meetings.storage.redis.url import RedisAddress

log = logging.getLogger(__name__)

RECEIVE_SIZE: Final = 65536
KEEPALIVE_SECONDS: Final = 5.0

MessageHandler = Callable[[bytes, bytes], None]


async def _until_broken(
    loop: Callable[[trio.abc.Stream], Awaitable[None]], stream: trio.abc.Stream, done: Callable[[], None]
) -> None:
    try:
        await loop(stream)
    except LINK_ERRORS as exc:
        log.warning("pub/sub connection lost: %s", exc or type(exc).__name__)
    done()


class PubSub:
    def __init__(
        self,
        address: RedisAddress,
        on_message: MessageHandler,
        *,
        channels: Iterable[bytes] = (),
        on_subscribed: Callable[[bytes], None] | None = None,
        connect_timeout: float = 2.0,
        keepalive: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.address = address
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.channels: set[bytes] = set(channels)
        self.confirmed: set[bytes] = set()
        self._stream: trio.abc.Stream | None = None
        self._outgoing: list[bytes] = []
        self._wake = trio.Event()
        self._confirmed_changed = trio.Event()  # set (and renewed) at every change of `confirmed`
        self._ponged = True

    @property
    def connected(self) -> bool:
        return self._stream is not None

    async def subscribe(self, channel: bytes) -> None:
        """Subscribe and wait for Redis to confirm (raises RedisUnavailable when down)."""
        self.channels.add(channel)
        stream = self._stream
        if stream is None:
            raise RedisUnavailable("pub/sub connection is down")
        self._send(pack(("SUBSCRIBE", channel)))
        while channel not in self.confirmed:
            await self._confirmed_changed.wait()
            if self._stream is not stream:
                raise RedisConnectionLost("pub/sub connection lost while subscribing")

    async def wait_confirmed(self, channel: bytes) -> None:
        """Return once Redis has confirmed `channel` on the current link (across reconnects)."""
        while channel not in self.confirmed:
            await self._confirmed_changed.wait()

    def _confirmed_change(self) -> None:
        self._confirmed_changed.set()
        self._confirmed_changed = trio.Event()

    def unsubscribe(self, channel: bytes) -> None:
        self.channels.discard(channel)
        if self._stream is not None:
            self._send(pack(("UNSUBSCRIBE", channel)))

    def _send(self, data: bytes) -> None:
        self._outgoing.append(data)
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the connection up for ever; `started` once the first attempt is over."""
        backoff = Backoff()
        started = False
        while True:
            try:
                stream = await open_stream(self.address, self.connect_timeout)
            except CONNECT_ERRORS as exc:
                level = logging.WARNING if backoff.attempt == 0 else logging.DEBUG
                log.log(level, "pub/sub connect to %s failed: %r", self.address.masked(), exc)
            else:
                backoff.reset()
                await self._serve(stream, task_status if not started else None)
                started = True
            if not started:
                task_status.started()
                started = True
            await trio.sleep(backoff.next_delay())

    async def _serve(self, stream: trio.abc.Stream, task_status: trio.TaskStatus[None] | None) -> None:
        self._outgoing = [pack(c) for c in handshake_commands_for(self.address)]
        if self.channels:
            self._outgoing.append(pack(("SUBSCRIBE", *sorted(self.channels))))
        self._stream = stream
        self._wake.set()
        try:
            async with trio.open_nursery() as nursery:
                done = nursery.cancel_scope.cancel
                nursery.start_soon(_until_broken, self._write_loop, stream, done)
                nursery.start_soon(_until_broken, self._keepalive_loop, stream, done)
                nursery.start_soon(_until_broken, self._read_loop, stream, done)
                if task_status is not None:
                    task_status.started()
        finally:
            self._stream = None
            self.confirmed.clear()
            self._confirmed_change()
            with trio.CancelScope(shield=True), trio.move_on_after(1):
                await stream.aclose()

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
        while True:
            await trio.sleep(self.keepalive)
            if not self._ponged:
                raise RedisConnectionLost("pub/sub connection did not answer PING")
            self._ponged = False
            self._send(pack(("PING",)))

    async def _read_loop(self, stream: trio.abc.Stream) -> None:
        reader = hiredis.Reader()
        self._ponged = True
        while True:
            data = await stream.receive_some(RECEIVE_SIZE)
            if not data:
                raise RedisConnectionLost("Redis closed the pub/sub connection")
            reader.feed(cast(bytes, data))
            while (reply := reader.gets()) is not False:
                self._dispatch(reply)

    def _dispatch(self, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            log.error("pub/sub error reply: %s", reply)
            return
        if reply == b"PONG":  # PING answered before any SUBSCRIBE
            self._ponged = True
            return
        if not isinstance(reply, list) or not reply:
            return  # +OK of AUTH / SELECT
        kind = reply[0]
        if kind == b"message":
            self.on_message(reply[1], reply[2])
        elif kind == b"subscribe":
            channel = reply[1]
            self.confirmed.add(channel)
            self._confirmed_change()
            if self.on_subscribed:
                self.on_subscribed(channel)
        elif kind == b"unsubscribe":
            self.confirmed.discard(reply[1])
            self._confirmed_change()
        elif kind == b"pong":
            self._ponged = True
