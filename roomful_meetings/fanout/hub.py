"""The hub: which local connections belong to which user, and delivery of their events.

Theory of operation: the Lua script of every change appends the event to each recipient's
stream and PUBLISHes it once on the events channel as "<event id>\\n<recipient ids as
JSON>\\n<frame>". Every instance is subscribed to that channel for as long as it runs; a
connection may join only while the subscription is confirmed, and joins before it reads
what it missed, so nothing published after that is lost. An instance reads each message
once, keeps the recipients it holds connections for, frames the event once, and hands the
same bytes to each of their connections without awaiting anything: a connection that
cannot take them is closed, never waited for. After the link to Redis comes back, every
connection catches up from its stream.

Why one channel rather than one per user (docs/architecture.md, "Fan-out"): Redis then
writes an event once per instance instead of once per recipient, and an instance parses a
message once per event instead of once per local recipient; the price is that every
instance reads every event, a few microseconds each for the ones it holds nobody for.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import msgspec
import trio

from roomful_meetings.fanout.event import Event
from roomful_meetings.metrics import EVENTS_DELIVERED
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Locator, PubSub, RedisAddress

log = logging.getLogger(__name__)

JOIN_WAIT: Final = 2.0  # seconds a connection waits for the events subscription to be confirmed

_recipients = msgspec.json.Decoder(list[str])


class NotListening(Exception):
    """Events cannot reach this instance now: the pub/sub link to Redis is down."""


class Receiver(Protocol):
    user_id: str

    def deliver(self, event: Event) -> None: ...

    def catch_up(self) -> None: ...

    def drain(self) -> None: ...


class Hub:
    def __init__(self, keys: Keys, where: RedisAddress | Locator) -> None:
        self.channel = keys.events_channel()
        self.pubsub = PubSub(
            where, self._on_message, channels=[self.channel], on_subscribed=self._on_subscribed
        )
        self._subscribed_before = False
        # Lists, not sets: a user rarely has more than a couple of connections, and an empty
        # list is a quarter of an empty set's size (memory per connection is measured).
        self._receivers: dict[str, list[Receiver]] = {}
        self._count = 0
        self._empty = trio.Event()
        self._empty.set()

    @property
    def connections(self) -> int:
        return self._count

    @property
    def listening(self) -> bool:
        """Whether events reach this instance now (the subscription is confirmed)."""
        return self.channel in self.pubsub.confirmed

    async def wait_listening(self) -> None:
        """Return once the events subscription is confirmed."""
        await self.pubsub.wait_confirmed(self.channel)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.pubsub.run(task_status=task_status)

    async def join(self, receiver: Receiver) -> None:
        """Register a connection. Raises NotListening when events cannot reach this
        instance (the link to Redis is down)."""
        if not self.listening:
            with trio.move_on_after(JOIN_WAIT):
                await self.pubsub.wait_confirmed(self.channel)
            if not self.listening:
                raise NotListening("not subscribed to events: the pub/sub link is down")
        self._receivers.setdefault(receiver.user_id, []).append(receiver)
        self._count += 1
        if self._empty.is_set():
            self._empty = trio.Event()

    def leave(self, receiver: Receiver) -> None:
        uid = receiver.user_id
        receivers = self._receivers.get(uid)
        if receivers is None:
            return
        if receiver in receivers:
            receivers.remove(receiver)
            self._count -= 1
        if not receivers:
            del self._receivers[uid]
            if not self._receivers:
                self._empty.set()

    async def wait_empty(self) -> None:
        """Return once no connection is registered."""
        await self._empty.wait()

    def drain_all(self) -> None:
        for receivers in self._receivers.values():
            for receiver in list(receivers):
                receiver.drain()

    def _on_subscribed(self, channel: bytes) -> None:
        if channel != self.channel:
            return
        # After a reconnect, events published while the link was down are in the streams.
        if self._subscribed_before:
            for receivers in self._receivers.values():
                for receiver in list(receivers):
                    receiver.catch_up()
        self._subscribed_before = True

    def _on_message(self, channel: bytes, data: bytes) -> None:
        event_id, _, rest = data.partition(b"\n")
        recipients, _, frame = rest.partition(b"\n")
        try:
            uids = _recipients.decode(recipients)
        except msgspec.DecodeError:
            log.error("ignored a malformed message on %s: %r", channel.decode(errors="replace"), data[:200])
            return
        event: Event | None = None
        delivered = 0
        for uid in uids:
            receivers = self._receivers.get(uid)
            if not receivers:
                continue
            if event is None:
                event = Event(event_id.decode(), frame)
            for receiver in list(receivers):
                receiver.deliver(event)
            delivered += len(receivers)
        if delivered:
            EVENTS_DELIVERED.inc(delivered)
