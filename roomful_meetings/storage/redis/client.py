"""The Redis client: a small pool of pipelined connections that reconnect by themselves.

Theory of operation: each pool slot is kept by a task that opens a connection, runs it
until it breaks, then waits a growing, jittered backoff and opens a new one. Commands fill
the first live connection until SPREAD_ABOVE replies are outstanding on it, then spill to
the next (one link pipelines best: bigger batches, fewer system calls); with none live a
command fails at once with RedisUnavailable (not sent), so callers can answer 503 instead
of piling up.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import trio

from roomful_meetings.storage.redis.connection import (
    CONNECT_ERRORS,
    Command,
    Connection,
    handshake,
    open_stream,
)
from roomful_meetings.storage.redis.errors import NoScriptError, RedisUnavailable, ReplyError
from roomful_meetings.storage.redis.scripts import Script
from roomful_meetings.storage.redis.url import RedisAddress

log = logging.getLogger(__name__)

BACKOFF_FIRST: Final = 0.05
BACKOFF_MAX: Final = 2.0
# Replies outstanding on a connection before new commands go to the next one.
SPREAD_ABOVE: Final = 256


class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    def __init__(self, first: float = BACKOFF_FIRST, maximum: float = BACKOFF_MAX) -> None:
        self.first, self.maximum, self.attempt = first, maximum, 0

    def reset(self) -> None:
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.first * (2**self.attempt))
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)


class Redis:
    """Pooled, pipelined access to one Redis server. Create with `open_redis`."""

    def __init__(
        self,
        address: RedisAddress,
        *,
        pool_size: int = 2,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.address = address
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._slots: list[Connection | None] = [None] * pool_size
        self._changed = trio.Event()
        self.on_state_change: Callable[[bool], None] | None = None

    @property
    def connected(self) -> bool:
        return any(conn is not None and not conn.closed for conn in self._slots)

    async def wait_connected(self) -> None:
        while not self.connected:
            await self._changed.wait()

    def _slot_changed(self, index: int, conn: Connection | None) -> None:
        was_connected = self.connected
        self._slots[index] = conn
        # Wake every waiter; each re-checks `connected` and waits on the fresh event if needed.
        self._changed.set()
        self._changed = trio.Event()
        if was_connected != self.connected and self.on_state_change:
            self.on_state_change(self.connected)

    async def _keep_slot(self, index: int) -> None:
        backoff = Backoff()
        while True:
            try:
                stream = await open_stream(self.address, self.connect_timeout)
            except CONNECT_ERRORS as exc:
                # Say it once per outage, not once per retry.
                level = logging.WARNING if backoff.attempt == 0 else logging.DEBUG
                log.log(level, "redis connect to %s failed: %r", self.address.masked(), exc)
                await trio.sleep(backoff.next_delay())
                continue
            conn = Connection(stream, timeout=self.timeout)
            async with trio.open_nursery() as nursery:
                await nursery.start(conn.run)
                try:
                    await handshake(conn, self.address)
                except Exception as exc:
                    log.error("redis handshake failed: %s", exc)
                    conn.close(f"handshake failed: {exc}")
                else:
                    self._slot_changed(index, conn)
                    backoff.reset()
            if self._slots[index] is conn:
                self._slot_changed(index, None)
            await trio.sleep(backoff.next_delay())

    def _pick(self) -> Connection:
        # Fill the first live connection before spreading: one link pipelines best (bigger
        # batches, fewer syscalls); the others take overflow and stand by for a broken link.
        best: Connection | None = None
        for conn in self._slots:
            if conn is None or conn.closed:
                continue
            if conn.pending < SPREAD_ABOVE:
                return conn
            if best is None or conn.pending < best.pending:
                best = conn
        if best is None:
            raise RedisUnavailable(f"not connected to Redis at {self.address.masked()}")
        return best

    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Run one command; an error reply is raised as ReplyError."""
        return await self._pick().execute(*args)

    async def pipeline(self, commands: list[Command]) -> list[Any]:
        """Run commands back to back on one connection; error replies come back in place."""
        if not commands:
            return []
        return await self._pick().execute_many(commands)

    async def evalsha(
        self, script: Script, keys: list[str] | tuple[str, ...] = (), args: list[Any] | tuple[Any, ...] = ()
    ) -> Any:
        """Run a script by SHA; load it and retry once if Redis does not know it."""
        conn = self._pick()
        try:
            return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await conn.execute("SCRIPT", "LOAD", script.source)
            return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    async def load_scripts(self, scripts: dict[str, Script]) -> None:
        """SCRIPT LOAD each script once; checks that the server computes the same SHA."""
        replies = await self.pipeline([("SCRIPT", "LOAD", s.source) for s in scripts.values()])
        for script, reply in zip(scripts.values(), replies, strict=True):
            if isinstance(reply, ReplyError):
                raise ReplyError(f"lua/{script.name}.lua does not load: {reply}")
            if reply.decode() != script.sha:
                raise RuntimeError(f"Redis computed another SHA for {script.name}")


@asynccontextmanager
async def open_redis(
    address: RedisAddress, *, pool_size: int = 2, reply_timeout: float = 5.0, connect_timeout: float = 2.0
) -> AsyncIterator[Redis]:
    """Run a Redis pool for the duration of the block (connections keep themselves alive)."""
    redis = Redis(address, pool_size=pool_size, timeout=reply_timeout, connect_timeout=connect_timeout)
    async with trio.open_nursery() as nursery:
        for index in range(pool_size):
            nursery.start_soon(redis._keep_slot, index)
        try:
            yield redis
        finally:
            nursery.cancel_scope.cancel()
