"""The Redis client: a small pool of pipelined connections that reconnect by themselves.

Theory of operation: each pool slot is kept by a task that asks its locator where the
primary is, opens a connection, runs it until it breaks (or the locator says the primary
moved), then waits a growing, jittered backoff and starts again. Commands fill the first
live connection until SPREAD_ABOVE replies are outstanding on it, then spill to the next
(one link pipelines best: bigger batches, fewer system calls); with none live a command
fails at once with RedisUnavailable (not sent), so callers can answer 503 instead of
piling up. A reply saying the node is a replica now (READONLY) closes the connection and
tells the locator, so that the whole pool follows a failover.

`Redis` is what the stores see; `Pool` serves one primary (a fixed server, or the one
Sentinel names: storage/redis/sentinel.py), `ClusterRedis` a Redis Cluster
(storage/redis/cluster.py).
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import trio

from roomful_meetings.storage.redis.connection import (
    CONNECT_ERRORS,
    Command,
    Connection,
    handshake,
    open_stream,
)
from roomful_meetings.storage.redis.errors import (
    NoScriptError,
    NotServing,
    RedisConnectionLost,
    RedisError,
    RedisUnavailable,
    ReplicasBehind,
    ReplyError,
)
from roomful_meetings.storage.redis.locator import FixedLocator, Locator
from roomful_meetings.storage.redis.scripts import Script
from roomful_meetings.storage.redis.url import RedisAddress, Target

if TYPE_CHECKING:
    from roomful_meetings.storage.redis.pubsub import Subscriber

log = logging.getLogger(__name__)

BACKOFF_FIRST: Final = 0.05
BACKOFF_MAX: Final = 2.0
# Replies outstanding on a connection before new commands go to the next one.
SPREAD_ABOVE: Final = 256
# WAIT blocks the connection it is sent on (every command pipelined behind it waits), so it
# gets this share of the reply timeout: a lagging replica costs 503s, never a dropped link.
WAIT_SHARE_OF_TIMEOUT: Final = 0.4


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


class Redis(ABC):
    """What every client offers (one server, a Sentinel group, a Cluster). Create with
    `open_redis`."""

    address: Target
    timeout: float
    on_state_change: Callable[[bool], None] | None = None
    # The `wait_replicas` of an evalsha that names none (--redis-min-replicas).
    min_replicas: int = 0
    # Whether its commands await nothing but replies, so that a caller may be driven
    # without a task (storage/redis/inline.py): not a Cluster's, which may refresh its map.
    drivable: bool = False

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    async def wait_connected(self) -> None: ...

    @abstractmethod
    def pools(self) -> list[Pool]:
        """The pool of each primary that commands go to (a cluster: one per primary known)."""

    @abstractmethod
    async def execute(self, *args: str | bytes | int | float) -> Any:
        """Run one command; an error reply is raised (ReplyError, or NotServing)."""

    @abstractmethod
    async def pipeline(self, commands: list[Command]) -> list[Any]:
        """Run commands back to back (per node); error replies come back in place."""

    @abstractmethod
    async def evalsha(
        self,
        script: Script,
        keys: list[str] | tuple[str, ...] = (),
        args: list[Any] | tuple[Any, ...] = (),
        *,
        wait_replicas: int | None = None,
    ) -> Any:
        """Run a script by SHA (loaded and retried once if the server does not know it).

        With `wait_replicas` N > 0 (None: the client's `min_replicas`), `WAIT N` is
        pipelined right behind it on the same connection, and the reply is returned only
        once N replicas hold the change; else ReplicasBehind (outcome unknown: the
        primary has it, a failover may lose it).
        """

    @abstractmethod
    async def load_scripts(self, scripts: dict[str, Script]) -> None:
        """SCRIPT LOAD each script on every primary; checks the server computes our SHA."""

    @abstractmethod
    async def scan(self, pattern: str) -> list[bytes]:
        """Every key matching `pattern`, on every primary (SCAN: for maintenance, not for
        requests)."""

    @abstractmethod
    def subscriber(
        self,
        on_message: Callable[[bytes, bytes], None],
        *,
        on_subscribed: Callable[[bytes], None],
        on_read_end: Callable[[], None] | None = None,
    ) -> Subscriber:
        """Subscriptions for events: classic pub/sub on one server (PUBLISH), sharded on a
        cluster (SPUBLISH, Redis 7). `on_read_end` is called after the messages of each
        read from a link."""

    @property
    def sharded(self) -> bool:
        """Whether events travel on sharded pub/sub (a cluster)."""
        return False

    @abstractmethod
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the connections up until cancelled."""

    def wait_timeout_ms(self) -> int:
        return max(1, int(self.timeout * WAIT_SHARE_OF_TIMEOUT * 1000))


async def run_script(
    conn: Connection,
    script: Script,
    keys: list[str] | tuple[str, ...],
    args: list[Any] | tuple[Any, ...],
    *,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 0,
    before: tuple[Command, ...] = (),
) -> Any:
    """EVALSHA on `conn` (after `before`, e.g. ASKING), loading the script on NOSCRIPT,
    then WAIT when asked. Raises the script's error reply, or ReplicasBehind."""
    if not wait_replicas and not before:  # the common case, kept to one command (measured)
        try:
            return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await conn.execute("SCRIPT", "LOAD", script.source)
            return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
    call: Command = ("EVALSHA", script.sha, len(keys), *keys, *args)
    commands = [*before, call]
    if wait_replicas:
        commands.append(("WAIT", wait_replicas, wait_timeout_ms))
    replies = await conn.execute_many(commands)
    at = len(before)
    if isinstance(replies[at], NoScriptError):
        await conn.execute("SCRIPT", "LOAD", script.source)
        replies = await conn.execute_many(commands)
    reply = replies[at]
    if isinstance(reply, RedisError):
        raise reply
    if wait_replicas:
        acked = replies[at + 1]
        if isinstance(acked, RedisError) or acked < wait_replicas:
            raise ReplicasBehind(
                f"the change is on the primary but {acked} of {wait_replicas} replicas "
                f"acknowledged it within {wait_timeout_ms} ms"
            )
    return reply


def check_loaded(scripts: dict[str, Script], replies: list[Any]) -> None:
    for script, reply in zip(scripts.values(), replies, strict=True):
        if isinstance(reply, ReplyError):
            raise ReplyError(f"lua/{script.name}.lua does not load: {reply}")
        if reply.decode() != script.sha:
            raise RuntimeError(f"Redis computed another SHA for {script.name}")


class Pool(Redis):
    """Pooled, pipelined access to one primary, wherever its locator says it is."""

    drivable = True

    def __init__(
        self,
        locator: Locator,
        *,
        pool_size: int = 2,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
    ) -> None:
        self.locator = locator
        self.address = locator.describe()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._slots: list[Connection | None] = [None] * pool_size
        self._at: dict[Connection, RedisAddress] = {}
        # Handshake errors said at ERROR since the last handshake that worked: each once per
        # outage (a wrong password would otherwise be an ERROR line per retry, several a second).
        self._handshake_errors_said: set[str] = set()
        self._changed = trio.Event()
        self.on_state_change = None
        # Set by the readiness probe (storage/redis/probe.py) while the primary leaves its
        # PING unanswered: why new commands are refused at once rather than queued behind it.
        self.silent: str | None = None

    @property
    def connected(self) -> bool:
        return any(conn is not None and not conn.closed for conn in self._slots)

    def pools(self) -> list[Pool]:
        return [self]

    async def wait_connected(self) -> None:
        while not self.connected:
            await self._changed.wait()

    def subscriber(
        self,
        on_message: Callable[[bytes, bytes], None],
        *,
        on_subscribed: Callable[[bytes], None],
        on_read_end: Callable[[], None] | None = None,
    ) -> Subscriber:
        from roomful_meetings.storage.redis.pubsub import PubSub  # it builds on this module

        return PubSub(
            self.locator,
            on_message,
            on_subscribed=on_subscribed,
            on_read_end=on_read_end,
            connect_timeout=self.connect_timeout,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.locator.run)
            for index in range(len(self._slots)):
                nursery.start_soon(self._keep_slot, index)
            task_status.started()

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
            address: RedisAddress | None = None
            try:
                address = await self.locator.locate()
                stream = await open_stream(address, self.connect_timeout)
            except (*CONNECT_ERRORS, RedisError) as exc:
                # Say it once per outage, not once per retry.
                level = logging.WARNING if backoff.attempt == 0 else logging.DEBUG
                where = address.masked() if address else self.address.masked()
                log.log(level, "redis connect to %s failed: %r", where, exc)
                if address is not None:
                    self.locator.lost(address)
                await self._pause(backoff.next_delay())
                continue
            await self._serve(index, Connection(stream, timeout=self.timeout), address, backoff)
            await self._pause(backoff.next_delay())

    async def _serve(self, index: int, conn: Connection, address: RedisAddress, backoff: Backoff) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(conn.run)
            try:
                await handshake(conn, address)
            except Exception as exc:
                level = logging.DEBUG if str(exc) in self._handshake_errors_said else logging.ERROR
                log.log(level, "redis handshake failed: %s", exc)
                self._handshake_errors_said.add(str(exc))
                conn.close(f"handshake failed: {exc}")
            else:
                self._handshake_errors_said.clear()
                self._at[conn] = address
                self._slot_changed(index, conn)
                backoff.reset()
                nursery.start_soon(self._close_when_moved, conn, address)
            await conn.wait_finished()
            nursery.cancel_scope.cancel()
        self._at.pop(conn, None)
        if self._slots[index] is conn:
            self._slot_changed(index, None)
            self.locator.lost(address)

    async def _close_when_moved(self, conn: Connection, address: RedisAddress) -> None:
        await self.locator.wait_moved(address)
        log.warning("redis primary moved from %s: reconnecting", address.masked())
        conn.close("the primary moved")

    async def _pause(self, delay: float) -> None:
        """The backoff, cut short when the locator learns of a new primary."""
        with trio.move_on_after(delay):
            await self.locator.wait_changed()

    def pick(self) -> Connection:
        if self.silent is not None:  # sent now, a command would wait --redis-timeout for nothing
            raise RedisUnavailable(self.silent)
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

    def refused(self, conn: Connection, error: NotServing) -> None:
        """A node that says it is a replica now: drop the link and find the primary again."""
        if error.demoted:
            address = self._at.get(conn)
            conn.close(f"not the primary any more: {error}")
            if address is not None:
                self.locator.lost(address, demoted=True)

    async def execute(self, *args: str | bytes | int | float) -> Any:
        conn = self.pick()
        try:
            return await conn.execute(*args)
        except NotServing as exc:
            self.refused(conn, exc)
            raise

    async def pipeline(self, commands: list[Command]) -> list[Any]:
        if not commands:
            return []
        conn = self.pick()
        replies = await conn.execute_many(commands)
        for reply in replies:
            if isinstance(reply, NotServing):
                self.refused(conn, reply)
                break
        return replies

    async def evalsha(
        self,
        script: Script,
        keys: list[str] | tuple[str, ...] = (),
        args: list[Any] | tuple[Any, ...] = (),
        *,
        wait_replicas: int | None = None,
    ) -> Any:
        conn = self.pick()
        replicas = self.min_replicas if wait_replicas is None else wait_replicas
        try:
            if not replicas:  # the common case inline: a coroutine less per call (measured)
                try:
                    return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
                except NoScriptError:
                    await conn.execute("SCRIPT", "LOAD", script.source)
                    return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
            return await run_script(
                conn, script, keys, args, wait_replicas=replicas, wait_timeout_ms=self.wait_timeout_ms()
            )
        except NotServing as exc:
            self.refused(conn, exc)
            raise

    async def load_scripts(self, scripts: dict[str, Script]) -> None:
        check_loaded(scripts, await self.pipeline([("SCRIPT", "LOAD", s.source) for s in scripts.values()]))

    async def scan(self, pattern: str) -> list[bytes]:
        cursor, found = b"0", []
        while True:
            cursor, batch = await self.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            found += batch
            if cursor == b"0":
                return found


def make_client(
    target: Target,
    *,
    pool_size: int = 2,
    reply_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    min_replicas: int = 0,
) -> Redis:
    """The client for a URL's target (not running yet: see `open_redis`)."""
    client = _client_for(
        target, pool_size=pool_size, reply_timeout=reply_timeout, connect_timeout=connect_timeout
    )
    client.min_replicas = min_replicas
    return client


def _client_for(target: Target, *, pool_size: int, reply_timeout: float, connect_timeout: float) -> Redis:
    from roomful_meetings.storage.redis.cluster import ClusterRedis
    from roomful_meetings.storage.redis.sentinel import SentinelLocator
    from roomful_meetings.storage.redis.url import ClusterAddress, SentinelAddress

    if isinstance(target, ClusterAddress):
        return ClusterRedis(
            target, pool_size=pool_size, timeout=reply_timeout, connect_timeout=connect_timeout
        )
    locator: Locator
    if isinstance(target, SentinelAddress):
        locator = SentinelLocator(target, timeout=connect_timeout)
    else:
        locator = FixedLocator(target)
    return Pool(locator, pool_size=pool_size, timeout=reply_timeout, connect_timeout=connect_timeout)


@asynccontextmanager
async def open_redis(
    target: Target,
    *,
    pool_size: int = 2,
    reply_timeout: float = 5.0,
    connect_timeout: float = 2.0,
    min_replicas: int = 0,
) -> AsyncIterator[Redis]:
    """Run a client for the duration of the block (connections keep themselves alive)."""
    redis = make_client(
        target,
        pool_size=pool_size,
        reply_timeout=reply_timeout,
        connect_timeout=connect_timeout,
        min_replicas=min_replicas,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(redis.run)
        try:
            yield redis
        finally:
            nursery.cancel_scope.cancel()


__all__ = ["Backoff", "Pool", "Redis", "RedisConnectionLost", "make_client", "open_redis"]
