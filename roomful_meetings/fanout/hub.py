"""The hub: which local connections belong to which user of which tenant, and delivery of
their events.

Theory of operation: the Lua script of every change appends the event to each recipient's
stream and publishes it once on its tenant's events channel as "<event id>\n<recipient ids
as JSON>\n<frame>" (PUBLISH; SPUBLISH on a cluster, where the channel lives on the node of
the tenant's slot). An instance subscribes to a tenant's channel while it holds a
connection of that tenant: the first one to join waits until Redis confirms the
subscription, and every connection joins before it reads what it missed, so nothing
published after that is lost. An instance reads each message once, keeps the recipients
it holds connections for, frames the event once, and hands the same bytes to each of their
connections without awaiting anything: a connection that cannot take them is closed, never
waited for. The connections write what they were handed once every message of that read
from Redis has been handed out (`send_held`): a busy user's connection sent ten events of
one read writes them in one system call. Whenever a subscription is confirmed again (the
link came back, or a cluster slot moved to another node), the connections of that tenant
catch up from their streams.

Why one channel per tenant rather than one per user (docs/architecture.md, "Fan-out"):
Redis then writes an event once per instance instead of once per recipient, and an
instance parses a message once per event instead of once per local recipient; the price is
that an instance reads every event of the tenants it serves, a few microseconds each for
the ones it holds nobody for.
"""

from __future__ import annotations

import logging
from typing import Final, Protocol

import msgspec
import trio

from roomful_meetings.fanout.event import Event
from roomful_meetings.metrics import EVENTS_DELIVERED
from roomful_meetings.storage.redis import Redis
from roomful_meetings.storage.redis.pubsub import Subscriber

log = logging.getLogger(__name__)

JOIN_WAIT: Final = 2.0  # seconds a connection waits for the events subscription to be confirmed

_recipients = msgspec.json.Decoder(list[str])


class NotListening(Exception):
    """Events cannot reach this instance now: the pub/sub link to Redis is down."""


class Receiver(Protocol):
    user_id: str

    @property
    def channel(self) -> bytes:
        """The events channel of the receiver's tenant."""
        ...

    def deliver(self, event: Event) -> None:
        """Take a live event; it may wait for `send_held`."""
        ...

    def send_held(self) -> None:
        """Write the events taken since the last call."""
        ...

    def catch_up(self) -> None: ...

    def drain(self) -> None: ...


Local = dict[str, list[Receiver]]  # user id -> that user's connections here


class Hub:
    def __init__(self, redis: Redis) -> None:
        self.link: Subscriber = redis.subscriber(
            self._on_message, on_subscribed=self._on_subscribed, on_read_end=self._send_held
        )
        self._held: dict[Receiver, None] = {}  # handed events since the read began, in order
        # Lists, not sets: a user rarely has more than a couple of connections, and an empty
        # list is a quarter of an empty set's size (memory per connection is measured).
        self._channels: dict[bytes, Local] = {}
        self._count = 0
        self.draining = False  # shutting down: every connection, joined before or after

    @property
    def connections(self) -> int:
        return self._count

    @property
    def listening(self) -> bool:
        """Whether events can reach this instance now (subscriptions can be made)."""
        return self.link.ready

    async def wait_listening(self) -> None:
        """Return once subscriptions can be made."""
        await self.link.wait_ready()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.link.run(task_status=task_status)

    async def join(self, receiver: Receiver) -> None:
        """Register a connection, once its tenant's events reach this instance. Raises
        NotListening when they cannot now (the link to Redis is down)."""
        channel = receiver.channel
        local = self._channels.get(channel)
        if local is None:
            local = self._channels[channel] = {}
            self.link.want(channel)
        local.setdefault(receiver.user_id, []).append(receiver)
        if self.draining:  # its handshake was under way when the shutdown began
            receiver.drain()
        self._count += 1
        if channel not in self.link.confirmed:
            with trio.move_on_after(JOIN_WAIT):
                await self.link.wait_confirmed(channel)
            if channel not in self.link.confirmed:
                self.leave(receiver)
                raise NotListening("not subscribed to events: the pub/sub link is down")

    def leave(self, receiver: Receiver) -> None:
        channel, uid = receiver.channel, receiver.user_id
        local = self._channels.get(channel)
        receivers = local.get(uid) if local is not None else None
        if local is None or receivers is None:
            return
        if receiver in receivers:
            receivers.remove(receiver)
            self._count -= 1
        if not receivers:
            del local[uid]
        if not local:
            del self._channels[channel]
            self.link.unsubscribe(channel)

    def _all(self, channel: bytes | None = None) -> list[Receiver]:
        tenants = self._channels.values() if channel is None else [self._channels.get(channel, {})]
        return [receiver for local in tenants for receivers in local.values() for receiver in receivers]

    def drain_all(self) -> None:
        """Shutting down: drain every connection, and those that join from now on."""
        self.draining = True
        for receiver in self._all():
            receiver.drain()

    def _on_subscribed(self, channel: bytes) -> None:
        # Events published while the link was down (or the slot moved) are in the streams;
        # a connection that has not started yet reads its stream anyway.
        for receiver in self._all(channel):
            receiver.catch_up()

    def _on_message(self, channel: bytes, data: bytes) -> None:
        local = self._channels.get(channel)
        if local is None:
            return  # a tenant whose last connection here just left
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
            receivers = local.get(uid)
            if not receivers:
                continue
            if event is None:
                event = Event(event_id.decode(), frame)
            for receiver in list(receivers):
                receiver.deliver(event)
                self._held[receiver] = None
            delivered += len(receivers)
        if delivered:
            EVENTS_DELIVERED.inc(delivered)

    def _send_held(self) -> None:
        if self._held:
            held, self._held = self._held, {}
            for receiver in held:
                receiver.send_held()
