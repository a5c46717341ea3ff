"""Where the primary is: fixed for one server, asked of Sentinel, or any cluster node.

A locator is what a pool of connections (and a pub/sub connection) asks before each
connect. It is told when a link to the address it gave broke or refused a write (`lost`),
and `wait_moved` returns once it would give another address, which is when every
connection to the old one is closed, so that the pool and the subscriptions move together.
"""

from __future__ import annotations

from typing import Protocol

import trio

from roomful_meetings.storage.redis.url import RedisAddress, Target


class Locator(Protocol):
    def describe(self) -> Target:
        """What the configuration names (for logs: `.masked()`)."""
        ...

    async def locate(self) -> RedisAddress:
        """The address to connect to now. Raises RedisUnavailable when none is known."""
        ...

    def lost(self, address: RedisAddress, *, demoted: bool = False) -> None:
        """A link to `address` broke (or, `demoted`, it answered that it is a replica now)."""
        ...

    async def wait_moved(self, address: RedisAddress) -> None:
        """Return once `address` is no longer where to connect."""
        ...

    async def wait_changed(self) -> None:
        """Return at the next change of address (never, for a server that cannot move)."""
        ...

    async def run(self) -> None:
        """Follow changes for as long as the client runs (returns at once if none can come)."""
        ...


class FixedLocator:
    """One server that never moves."""

    def __init__(self, address: RedisAddress) -> None:
        self.address = address

    def describe(self) -> Target:
        return self.address

    async def locate(self) -> RedisAddress:
        return self.address

    def lost(self, address: RedisAddress, *, demoted: bool = False) -> None:
        pass

    async def wait_moved(self, address: RedisAddress) -> None:
        await trio.sleep_forever()

    async def wait_changed(self) -> None:
        await trio.sleep_forever()

    async def run(self) -> None:
        pass


class Moves:
    """The current address and the event that wakes whoever waits for it to change."""

    def __init__(self) -> None:
        self.current: RedisAddress | None = None
        self._changed = trio.Event()

    def set(self, address: RedisAddress | None) -> None:
        if address != self.current:
            self.current = address
            self._changed.set()
            self._changed = trio.Event()

    async def wait_moved(self, address: RedisAddress) -> None:
        while self.current == address:
            await self._changed.wait()

    async def wait_changed(self) -> None:
        await self._changed.wait()
