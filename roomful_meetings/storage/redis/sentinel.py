"""Find and follow the primary of a Redis Sentinel group.

Theory of operation: the primary is asked of the listed Sentinels in order
(`SENTINEL get-master-addr-by-name`) and believed only once it says so itself (`ROLE` is
`master`): a Sentinel that has not yet seen a failover would send us to a replica. The
answer is kept until a link to it breaks or refuses a write (READONLY), or a Sentinel
announces `+switch-master` for our master name; each Sentinel has a pub/sub connection of
its own for that. A new primary wakes `wait_moved`, so every pooled connection and the
events subscription are closed and opened again on it (the subscription is confirmed
anew, which is where the hub catches its connections up).
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from roomful_meetings.storage.redis.connection import one_shot
from roomful_meetings.storage.redis.errors import RedisError, RedisUnavailable, ReplyError
from roomful_meetings.storage.redis.locator import FixedLocator, Moves
from roomful_meetings.storage.redis.pubsub import PubSub
from roomful_meetings.storage.redis.url import RedisAddress, SentinelAddress, Target

log = logging.getLogger(__name__)

SWITCH_MASTER = b"+switch-master"


class SentinelLocator:
    def __init__(self, group: SentinelAddress, *, timeout: float = 2.0) -> None:
        self.group = group
        self.timeout = timeout
        self._moves = Moves()
        self._stale = True
        self._lock = trio.Lock()

    def describe(self) -> Target:
        return self.group

    @property
    def current(self) -> RedisAddress | None:
        return self._moves.current

    async def locate(self) -> RedisAddress:
        current = self._moves.current
        if current is not None and not self._stale:
            return current
        async with self._lock:  # one resolution at a time; the others take its answer
            if self._moves.current is not None and not self._stale:
                return self._moves.current
            found = await self._resolve()
            self._stale = False
            if found != self._moves.current:
                log.info("redis primary of %r is %s", self.group.master_name, found.masked())
            self._moves.set(found)
            return found

    def lost(self, address: RedisAddress, *, demoted: bool = False) -> None:
        if address != self._moves.current:
            return
        self._stale = True
        if demoted:
            self._moves.set(None)

    async def wait_moved(self, address: RedisAddress) -> None:
        await self._moves.wait_moved(address)

    async def wait_changed(self) -> None:
        await self._moves.wait_changed()

    async def run(self) -> None:
        """Listen for +switch-master on every Sentinel of the list."""
        async with trio.open_nursery() as nursery:
            for sentinel in self.group.sentinels:
                watch = PubSub(
                    FixedLocator(sentinel),
                    self._on_message,
                    channels=[SWITCH_MASTER],
                    on_subscribed=self._on_watching,
                    connect_timeout=self.timeout,
                )
                nursery.start_soon(watch.run)

    def _on_watching(self, channel: bytes) -> None:
        # A switch may have happened while this Sentinel link was down: ask again.
        self._stale = True

    def _on_message(self, channel: bytes, data: bytes) -> None:
        # "<master name> <old ip> <old port> <new ip> <new port>"
        name, *_, host, port = data.decode(errors="replace").split(" ")
        if name != self.group.master_name or not port.isdigit():
            return
        if self.group.data.at(host, int(port)) == self._moves.current:
            return  # every Sentinel announces the switch: followed already
        log.warning("Sentinel switched the primary of %r to %s:%s", name, host, port)
        self._stale = True
        self._moves.set(None)  # believed once ROLE confirms it (locate)

    async def _resolve(self) -> RedisAddress:
        """Ask each Sentinel in turn; the first primary that confirms its role wins.

        Raises RedisUnavailable naming what each Sentinel said.
        """
        problems = []
        for sentinel in self.group.sentinels:
            try:
                candidate = await self._ask(sentinel)
                role = (await one_shot(candidate, [("ROLE",)], within=self.timeout))[0]
            except RedisError as exc:
                problems.append(f"{sentinel.node}: {exc}")
                continue
            if isinstance(role, ReplyError) or not role or role[0] != b"master":
                problems.append(f"{sentinel.node} named {candidate.node}, which is not a primary (yet)")
                continue
            return candidate
        raise RedisUnavailable(
            f"no primary found for {self.group.master_name!r} through Sentinel: {'; '.join(problems)}"
        )

    async def _ask(self, sentinel: RedisAddress) -> RedisAddress:
        reply: Any = (
            await one_shot(
                sentinel,
                [("SENTINEL", "get-master-addr-by-name", self.group.master_name)],
                within=self.timeout,
            )
        )[0]
        if isinstance(reply, ReplyError):
            raise reply
        if not reply:
            raise RedisUnavailable(f"it does not monitor {self.group.master_name!r}")
        return self.group.data.at(reply[0].decode(), int(reply[1]))
