"""The hub: which local connections belong to which user, and delivery of their events.

Theory of operation: the Lua script of every change appends the event to each recipient's
stream and PUBLISHes "<event id>\\n<frame>" on the recipient's channel. An instance is
subscribed to a user's channel exactly while it holds at least one connection of that user
(subscribed before the first one is told it is ready, so nothing published after that is
missed). A message is decoded once and handed to each local connection of the user without
awaiting anything: a connection whose queue is full is closed, never waited for.
"""

from __future__ import annotations

import logging
from typing import Protocol

import trio

from roomful_meetings.metrics import EVENTS_DELIVERED
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import PubSub, RedisAddress, RedisUnavailable

log = logging.getLogger(__name__)


class Receiver(Protocol):
    user_id: str

    def deliver(self, event_id: str, frame: str) -> None: ...

    def catch_up(self) -> None: ...

    def drain(self) -> None: ...


class Hub:
    def __init__(self, keys: Keys, address: RedisAddress) -> None:
        self.keys = keys
        self.pubsub = PubSub(address, self._on_message, on_connected=self._on_connected)
        self._connected_before = False
        self._receivers: dict[str, set[Receiver]] = {}
        self._subscribed: dict[str, trio.Event] = {}
        self._empty = trio.Event()
        self._empty.set()

    @property
    def connections(self) -> int:
        return sum(len(receivers) for receivers in self._receivers.values())

    def count(self, user_id: str) -> int:
        return len(self._receivers.get(user_id, ()))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.pubsub.run(task_status=task_status)

    async def join(self, receiver: Receiver) -> None:
        """Register a connection; returns once its user's channel is subscribed."""
        uid = receiver.user_id
        receivers = self._receivers.setdefault(uid, set())
        receivers.add(receiver)
        if self._empty.is_set():
            self._empty = trio.Event()
        ready = self._subscribed.get(uid)
        if ready is None:
            ready = self._subscribed[uid] = trio.Event()
            try:
                await self.pubsub.subscribe(self.keys.user_channel(uid))
            except BaseException:
                self.leave(receiver)
                raise
            finally:
                ready.set()
        else:
            await ready.wait()
        if not self.pubsub.connected:
            self.leave(receiver)
            raise RedisUnavailable("pub/sub connection is down")

    def leave(self, receiver: Receiver) -> None:
        uid = receiver.user_id
        receivers = self._receivers.get(uid)
        if receivers is None:
            return
        receivers.discard(receiver)
        if not receivers:
            del self._receivers[uid]
            self._subscribed.pop(uid, None)
            self.pubsub.unsubscribe(self.keys.user_channel(uid))
            if not self._receivers:
                self._empty.set()

    async def wait_empty(self) -> None:
        """Return once no connection is registered."""
        await self._empty.wait()

    def drain_all(self) -> None:
        for receivers in self._receivers.values():
            for receiver in list(receivers):
                receiver.drain()

    def _on_connected(self) -> None:
        # After a reconnect, events published while the link was down are in the streams.
        if self._connected_before:
            for receivers in self._receivers.values():
                for receiver in list(receivers):
                    receiver.catch_up()
        self._connected_before = True

    def _on_message(self, channel: bytes, data: bytes) -> None:
        receivers = self._receivers.get(self.keys.user_from_channel(channel))
        if not receivers:
            return
        event_id, _, frame = data.partition(b"\n")
        text, eid = frame.decode(), event_id.decode()
        for receiver in list(receivers):
            receiver.deliver(eid, text)
        EVENTS_DELIVERED.inc(len(receivers))
