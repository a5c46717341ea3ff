"""A Redis Cluster client: one pool per primary, each command sent to the owner of its slot.

Theory of operation: the slot map (CLUSTER SHARDS on Redis 7, else CLUSTER SLOTS) is read
from any node that answers and kept as a list of 16384 pools, so routing a command is a
slot computation (CRC16 of the key or of its {hash tag}, cached for repeated keys) and a
list index; the command then goes through the node's pool exactly as on one server, with
the same pipelining. A command's key is its first argument but for the few commands
listed here (scripts: their first KEY; keyless commands: any primary).

MOVED (the slot has a new owner) updates that slot at once, asks for a map refresh and
retries once on the new owner; ASK (the slot is being migrated) retries once on the named
node after ASKING on the same connection. A second redirection, like every error meaning
"not executed" (CLUSTERDOWN, TRYAGAIN), reaches the caller as NotServing (a
RedisUnavailable: 503 "not applied"). Connection errors, redirections and a periodic timer
ask for a refresh; refreshes that find nothing new back off, so a storm of errors during a
failover costs a few CLUSTER SHARDS, not one per request. When a refresh shows a new
primary, its pool is started and the old one's stopped.

Pub/sub: events travel on sharded pub/sub only (`subscriber()`, a `ShardedPubSub`; Redis
7: SSUBSCRIBE and SPUBLISH), one channel per tenant, on the node owning the channel's slot
(the tenant's); channels follow their slot after a failover or a slot move. Cluster mode
needs Redis 7 (sharded pub/sub); on an older server it refuses to start (UnsupportedRedis).
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache, partial
from typing import Any, Final

import trio

from roomful_meetings.storage.redis.client import Backoff, Pool, Redis, check_loaded, run_script
from roomful_meetings.storage.redis.connection import Command, one_shot
from roomful_meetings.storage.redis.errors import (
    NoScriptError,
    NotServing,
    Redirected,
    RedisConnectionLost,
    RedisError,
    RedisUnavailable,
    ReplyError,
    UnsupportedRedis,
)
from roomful_meetings.storage.redis.locator import FixedLocator
from roomful_meetings.storage.redis.pubsub import MessageHandler, PubSub
from roomful_meetings.storage.redis.scripts import Script
from roomful_meetings.storage.redis.url import ClusterAddress, RedisAddress

log = logging.getLogger(__name__)

SLOTS: Final = 16384
REFRESH_INTERVAL: Final = 5.0  # seconds between slot map reads when nothing asks for one
REFRESH_FIRST: Final = 0.05  # backoff between refreshes that find nothing new
REFRESH_MAX: Final = 1.0


@lru_cache(maxsize=1 << 16)
def key_slot(key: str | bytes) -> int:
    """The hash slot of a key: CRC16 (XMODEM, as binascii.crc_hqx) of its {hash tag} if it
    has a non-empty one, else of the whole key, modulo 16384."""
    data = key.encode() if isinstance(key, str) else key
    start = data.find(b"{")
    if start >= 0:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    return binascii.crc_hqx(data, 0) & (SLOTS - 1)


# How to find a command's key: at argument 1 unless listed here.
_SCRIPT = 1  # EVAL-like: numkeys at 2, first key at 3
_KEYLESS = 2  # any primary will do
_STREAMS = 3  # XREAD: the first key follows STREAMS
_KINDS: Final = {
    **dict.fromkeys(("EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"), _SCRIPT),
    **dict.fromkeys(("XREAD", "XREADGROUP"), _STREAMS),
    **dict.fromkeys(
        (
            "PING", "ECHO", "INFO", "CONFIG", "SCRIPT", "FUNCTION", "SCAN", "KEYS", "RANDOMKEY",
            "DBSIZE", "FLUSHALL", "FLUSHDB", "CLUSTER", "ROLE", "TIME", "COMMAND", "CLIENT",
            "WAIT", "PUBLISH", "PUBSUB", "MEMORY", "LATENCY", "SLOWLOG", "LASTSAVE", "ACL",
        ),
        _KEYLESS,
    ),
}  # fmt: skip


_kind_of: dict[object, int] = {}  # command name as given -> its kind (a dict: cheaper than lru_cache)


def _kind(name: str | bytes | int | float) -> int:
    kind = _kind_of.get(name)
    if kind is None:
        text = name.decode() if isinstance(name, bytes) else str(name)
        kind = _kind_of[name] = _KINDS.get(text.upper(), 0)
    return kind


def routing_key(command: Command) -> str | bytes | None:
    """The key that decides where `command` goes; None for a keyless command."""
    kind = _kind(command[0])
    if kind == 0:
        key = command[1] if len(command) > 1 else None
    elif kind == _SCRIPT:
        key = command[3] if int(command[2]) > 0 else None
    elif kind == _STREAMS:
        names = [a.decode().upper() if isinstance(a, bytes) else str(a).upper() for a in command]
        key = command[names.index("STREAMS") + 1] if "STREAMS" in names else None
    else:
        return None
    if key is None or isinstance(key, (str, bytes)):
        return key
    return str(key)


class NodeLocator(FixedLocator):
    """A cluster node's address; a link to it that breaks asks for a slot map refresh."""

    def __init__(self, address: RedisAddress, on_lost: Callable[[], None]) -> None:
        super().__init__(address)
        self.on_lost = on_lost

    def lost(self, address: RedisAddress, *, demoted: bool = False) -> None:
        self.on_lost()


SlotRange = tuple[int, int, RedisAddress]


def _pairs(flat: list[Any]) -> dict[bytes, Any]:
    return {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def parse_shards(reply: list[Any], template: RedisAddress, asked: RedisAddress) -> list[SlotRange]:
    """CLUSTER SHARDS (Redis 7): each shard's slot ranges and its primary (preferring an
    online one; a failed primary keeps its slots until a replica is promoted)."""
    ranges: list[SlotRange] = []
    for shard in reply:
        fields = _pairs(shard)
        slots = fields.get(b"slots") or []
        primaries = [n for n in map(_pairs, fields.get(b"nodes") or []) if n.get(b"role") == b"master"]
        if not slots or not primaries:
            continue
        primaries.sort(key=lambda n: n.get(b"health") != b"online")
        node = primaries[0]
        host = (node.get(b"endpoint") or node.get(b"ip") or b"").decode()
        port = node.get(b"tls-port") if template.tls and node.get(b"tls-port") else node.get(b"port")
        if port is None:
            continue
        address = template.at(host if host not in ("", "?") else asked.host, int(port))
        ranges += [(int(slots[i]), int(slots[i + 1]), address) for i in range(0, len(slots), 2)]
    return ranges


def parse_slots(reply: list[Any], template: RedisAddress, asked: RedisAddress) -> list[SlotRange]:
    """CLUSTER SLOTS (Redis 6.2 too): [start, end, [host, port, id], replicas...]."""
    ranges: list[SlotRange] = []
    for start, end, primary, *_replicas in reply:
        host = primary[0].decode() if primary[0] else asked.host
        ranges.append((int(start), int(end), template.at(host, int(primary[1]))))
    return ranges


class ClusterRedis(Redis):
    def __init__(
        self,
        address: ClusterAddress,
        *,
        pool_size: int = 2,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        self.address = self.cluster = address
        self.template = address.seeds[0]
        self.pool_size, self.timeout, self.connect_timeout = pool_size, timeout, connect_timeout
        self.refresh_interval = refresh_interval
        self.on_state_change = None
        self._owner: list[Pool | None] = [None] * SLOTS
        self._pools: dict[str, Pool] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._signature: tuple[tuple[int, int, str], ...] = ()
        self._nursery: trio.Nursery | None = None
        self._refresh_wanted = trio.Event()
        self._state_changed = trio.Event()
        self._map_changed = trio.Event()
        self.map_listeners: list[Callable[[], None]] = []
        self.refreshes = 0  # slot map reads so far (tests and metrics)

    # --- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return any(pool.connected for pool in self._pools.values())

    async def wait_connected(self) -> None:
        while not self.connected:
            await self._state_changed.wait()

    def _pool_state(self, _connected: bool) -> None:
        self._state_changed.set()
        self._state_changed = trio.Event()
        if self.on_state_change:
            self.on_state_change(self.connected)

    def request_refresh(self) -> None:
        self._refresh_wanted.set()

    async def wait_map_changed(self) -> None:
        await self._map_changed.wait()

    def primaries(self) -> list[RedisAddress]:
        return [_address(pool) for pool in self._pools.values()]

    def pools(self) -> list[Pool]:
        return list(self._pools.values())

    def node_of(self, key: str | bytes) -> str | None:
        """`host:port` of the primary that owns `key`'s slot now, if known."""
        pool = self._owner[key_slot(key)]
        return None if pool is None else _address(pool).node

    # --- the slot map --------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._keep_map)
            task_status.started()

    async def _keep_map(self) -> None:
        backoff = Backoff(REFRESH_FIRST, REFRESH_MAX)
        checked = False
        while True:
            try:
                ranges, asked = await self._read_map()
                if not checked:
                    await check_sharded_pubsub(asked, self.connect_timeout)
                    checked = True
            except RedisError as exc:
                level = logging.WARNING if backoff.attempt == 0 else logging.DEBUG
                log.log(level, "reading the cluster slot map failed: %s", exc)
                await trio.sleep(backoff.next_delay())
                continue
            changed = self._apply(ranges)
            with trio.move_on_after(self.refresh_interval):
                await self._refresh_wanted.wait()
            asked_for = self._refresh_wanted.is_set()
            self._refresh_wanted = trio.Event()
            if changed or not asked_for:
                backoff.reset()
            else:
                # Errors keep asking but the map has not moved yet (a failover takes
                # node-timeout and an election): look again, less and less often.
                await trio.sleep(backoff.next_delay())

    async def _read_map(self) -> tuple[list[SlotRange], RedisAddress]:
        """The slot map from the first node that gives one (known primaries, then seeds)."""
        candidates = {a.node: a for a in [*self.primaries(), *self.cluster.seeds]}
        problems = []
        for address in candidates.values():
            try:
                shards, slots = await one_shot(
                    address, [("CLUSTER", "SHARDS"), ("CLUSTER", "SLOTS")], within=self.connect_timeout
                )
            except RedisError as exc:
                problems.append(f"{address.node}: {exc}")
                continue
            self.refreshes += 1
            if not isinstance(shards, ReplyError):
                ranges = parse_shards(shards, self.template, address)
            elif not isinstance(slots, ReplyError):
                ranges = parse_slots(slots, self.template, address)
            else:
                problems.append(f"{address.node}: {slots}")
                continue
            if ranges:
                return ranges, address
            problems.append(f"{address.node}: no slots assigned")
        raise RedisUnavailable(f"no cluster node gave a slot map: {'; '.join(problems)}")

    def _apply(self, ranges: list[SlotRange]) -> bool:
        """Install a slot map; returns whether it differs from the one before."""
        signature = tuple(sorted((start, end, address.node) for start, end, address in ranges))
        if signature == self._signature:
            return False
        owner: list[Pool | None] = [None] * SLOTS
        for start, end, address in ranges:
            pool = self._pool(address)
            owner[start : end + 1] = [pool] * (end - start + 1)
        wanted = {address.node for _, _, address in ranges}
        for node in [n for n in self._pools if n not in wanted]:
            self._drop(node)
        self._owner, self._signature = owner, signature
        log.info("cluster slot map: %s", ", ".join(f"{s}-{e}@{n}" for s, e, n in signature))
        self._map_changed.set()
        self._map_changed = trio.Event()
        for listener in list(self.map_listeners):
            listener()
        return True

    def _pool(self, address: RedisAddress) -> Pool:
        """The pool of a primary, started if new."""
        pool = self._pools.get(address.node)
        if pool is None:
            assert self._nursery is not None, "ClusterRedis.run is not running"
            pool = Pool(
                NodeLocator(address, self.request_refresh),
                pool_size=self.pool_size,
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
            )
            pool.on_state_change = self._pool_state
            scope = trio.CancelScope()
            self._pools[address.node], self._scopes[address.node] = pool, scope
            self._nursery.start_soon(_run_in, scope, pool.run)
        return pool

    def _drop(self, node: str) -> None:
        del self._pools[node]
        self._scopes.pop(node).cancel()
        self._pool_state(self.connected)

    # --- routing -------------------------------------------------------------------------

    def _route(self, key: str | bytes | None) -> Pool:
        if key is None:
            return self._any()
        pool = self._owner[key_slot(key)]
        if pool is None:
            self.request_refresh()
            raise RedisUnavailable(f"no primary known for slot {key_slot(key)} of {self.address.masked()}")
        return pool

    def _any(self) -> Pool:
        """Where keyless commands go: the primary of slot 0 while it is up, else any."""
        first = self._owner[0]
        if first is not None and first.connected and first.silent is None:
            return first
        for pool in self._pools.values():
            if pool.connected and pool.silent is None:
                return pool
        self.request_refresh()
        raise RedisUnavailable(f"not connected to any primary of {self.address.masked()}")

    async def _redirected(
        self, redirect: Redirected, attempt: Callable[[Pool, tuple[Command, ...]], Awaitable[Any]]
    ) -> Any:
        """Retry once where a MOVED or ASK reply says (a second redirection is raised)."""
        host, _, port = redirect.node.rpartition(":")
        pool = self._pool(self.template.at(host, int(port)))
        if not pool.connected:
            with trio.move_on_after(self.connect_timeout):
                await pool.wait_connected()
        if redirect.ask:
            return await attempt(pool, (("ASKING",),))
        self._owner[redirect.slot] = pool
        self.request_refresh()
        return await attempt(pool, ())

    async def execute(self, *args: str | bytes | int | float) -> Any:
        try:
            return await self._route(routing_key(args)).execute(*args)
        except Redirected as redirect:
            return await self._redirected(redirect, partial(_execute_on, args))
        except (RedisUnavailable, RedisConnectionLost):
            self.request_refresh()
            raise

    async def pipeline(self, commands: list[Command]) -> list[Any]:
        if not commands:
            return []
        try:
            replies = await self._pipeline_by_node(commands)
        except (RedisUnavailable, RedisConnectionLost):
            self.request_refresh()
            raise
        for index, reply in enumerate(replies):
            if isinstance(reply, Redirected):
                try:
                    replies[index] = await self._redirected(reply, partial(_execute_on, commands[index]))
                except ReplyError as exc:
                    replies[index] = exc
        return replies

    async def _pipeline_by_node(self, commands: list[Command]) -> list[Any]:
        """Each node's commands pipelined on one of its connections, all nodes at once."""
        groups: dict[Pool, list[int]] = {}
        for index, command in enumerate(commands):
            groups.setdefault(self._route(routing_key(command)), []).append(index)
        if len(groups) == 1:
            return await next(iter(groups)).pipeline(commands)
        picked = [(pool.pick(), indexes) for pool, indexes in groups.items()]  # raises before sending
        queued = [
            (conn, indexes, conn.enqueue_many([commands[i] for i in indexes])) for conn, indexes in picked
        ]
        for conn, _, _ in queued:
            await conn.send_queued()
        replies: list[Any] = [None] * len(commands)
        for conn, indexes, slots in queued:
            for index, reply in zip(indexes, await conn.replies(slots), strict=True):
                replies[index] = reply
        return replies

    async def evalsha(
        self,
        script: Script,
        keys: list[str] | tuple[str, ...] = (),
        args: list[Any] | tuple[Any, ...] = (),
        *,
        wait_replicas: int | None = None,
    ) -> Any:
        replicas = self.min_replicas if wait_replicas is None else wait_replicas
        try:
            pool = self._route(keys[0] if keys else None)
            if not replicas:  # Pool.evalsha's common case, inline: a coroutine less per call
                conn = pool.pick()  # (2.6k of the 5.3k instructions a call cost over one server)
                try:
                    return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
                except NoScriptError:
                    await conn.execute("SCRIPT", "LOAD", script.source)
                    return await conn.execute("EVALSHA", script.sha, len(keys), *keys, *args)
                except NotServing as exc:
                    pool.refused(conn, exc)
                    raise
            return await pool.evalsha(script, keys, args, wait_replicas=replicas)
        except Redirected as redirect:

            async def attempt(pool: Pool, before: tuple[Command, ...]) -> Any:
                return await run_script(
                    pool.pick(),
                    script,
                    keys,
                    args,
                    wait_replicas=replicas,
                    wait_timeout_ms=self.wait_timeout_ms(),
                    before=before,
                )

            return await self._redirected(redirect, attempt)
        except (RedisUnavailable, RedisConnectionLost):
            self.request_refresh()
            raise

    async def scan(self, pattern: str) -> list[bytes]:
        found: list[bytes] = []
        for pool in list(self._pools.values()):
            found += await pool.scan(pattern)
        return found

    async def load_scripts(self, scripts: dict[str, Script]) -> None:
        if not self._pools:
            raise RedisUnavailable(f"no slot map of {self.address.masked()} yet")
        for pool in list(self._pools.values()):
            check_loaded(
                scripts, await pool.pipeline([("SCRIPT", "LOAD", s.source) for s in scripts.values()])
            )

    def sharded_pubsub(
        self,
        on_message: MessageHandler,
        *,
        on_subscribed: Callable[[bytes], None] | None = None,
        on_read_end: Callable[[], None] | None = None,
    ) -> ShardedPubSub:
        return ShardedPubSub(self, on_message, on_subscribed=on_subscribed, on_read_end=on_read_end)

    def subscriber(
        self,
        on_message: MessageHandler,
        *,
        on_subscribed: Callable[[bytes], None],
        on_read_end: Callable[[], None] | None = None,
    ) -> ShardedPubSub:
        return self.sharded_pubsub(on_message, on_subscribed=on_subscribed, on_read_end=on_read_end)

    @property
    def sharded(self) -> bool:
        return True


def _address(pool: Pool) -> RedisAddress:
    address = pool.locator.describe()
    assert isinstance(address, RedisAddress)  # a node pool's locator is a NodeLocator
    return address


async def _run_in(scope: trio.CancelScope, run: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await run()


async def _execute_on(command: Command, pool: Pool, before: tuple[Command, ...]) -> Any:
    if not before:
        return await pool.execute(*command)
    reply = (await pool.pick().execute_many([*before, command]))[-1]
    if isinstance(reply, RedisError):
        raise reply
    return reply


async def check_sharded_pubsub(address: RedisAddress, within: float) -> None:
    """Refuse a cluster without sharded pub/sub (before Redis 7). Raises UnsupportedRedis."""
    info, server = await one_shot(
        address, [("COMMAND", "INFO", "SSUBSCRIBE"), ("INFO", "server")], within=within
    )
    if isinstance(info, ReplyError) or not info or info[0] is None:
        version = next(
            (
                line.partition(":")[2]
                for line in bytes(server).decode().splitlines()
                if line.startswith("redis_version:")
            ),
            "unknown",
        )
        raise UnsupportedRedis(
            f"Redis Cluster mode needs sharded pub/sub (SSUBSCRIBE, Redis 7 or later); "
            f"the node {address.node} runs Redis {version.strip()}"
        )


class ShardedPubSub:
    """Sharded subscriptions on a cluster: one connection per node that owns a wanted
    channel's slot; each channel follows its slot when the map changes (failover, slot
    move) and is confirmed anew there, which calls `on_subscribed` again."""

    def __init__(
        self,
        cluster: ClusterRedis,
        on_message: MessageHandler,
        *,
        on_subscribed: Callable[[bytes], None] | None = None,
        on_read_end: Callable[[], None] | None = None,
    ) -> None:
        self.cluster = cluster
        self.on_message = on_message
        self.on_subscribed = on_subscribed
        self.on_read_end = on_read_end
        self.channels: set[bytes] = set()
        self._links: dict[str, PubSub] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._where: dict[bytes, str] = {}
        self._nursery: trio.Nursery | None = None
        self._confirmed_changed = trio.Event()

    @property
    def confirmed(self) -> set[bytes]:
        return {
            c for c, node in self._where.items() if node in self._links and c in self._links[node].confirmed
        }

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.cluster.map_listeners.append(self._reroute)
            try:
                task_status.started()
                await trio.sleep_forever()
            finally:
                self.cluster.map_listeners.remove(self._reroute)

    @property
    def ready(self) -> bool:
        """Whether subscriptions can be made now (the cluster's primaries are reachable)."""
        return self.cluster.connected

    async def subscribe(self, channel: bytes) -> None:
        """Subscribe on the channel's node and wait for the confirmation (raises
        RedisUnavailable when that node is not reachable now)."""
        self.channels.add(channel)
        link = await self._link_for(channel)
        await link.subscribe(channel)

    async def wait_ready(self) -> None:
        await self.cluster.wait_connected()

    def want(self, channel: bytes) -> None:
        """Add a channel without waiting: subscribed on its node now if that node is known
        and linked, else as soon as it is (`wait_confirmed` tells when)."""
        if channel in self.channels:
            return
        self.channels.add(channel)
        if self.cluster.node_of(channel) is None:
            self.cluster.request_refresh()  # placed by _reroute once the map is read
            return
        self._place(channel)

    def unsubscribe(self, channel: bytes) -> None:
        self.channels.discard(channel)
        node = self._where.pop(channel, None)
        if node in self._links:
            self._links[node].unsubscribe(channel)

    async def wait_confirmed(self, channel: bytes) -> None:
        while channel not in self.confirmed:
            await self._confirmed_changed.wait()

    async def ping(self) -> None:
        """Return once one link that carries channels has answered a PING (none: at once).
        One is enough, as for readiness one answering primary is (storage/redis/probe.py):
        a silent node is every instance's trouble, not this one's. Raises RedisUnavailable
        naming each link's failure when all of them fail."""
        links = [(node, link) for node, link in self._links.items() if link.channels]
        problems: list[str] = []

        async def one(node: str, link: PubSub, done: trio.CancelScope) -> None:
            try:
                await link.ping()
            except RedisError as exc:
                problems.append(f"{node}: {exc}")
            else:
                done.cancel()

        async with trio.open_nursery() as nursery:
            for node, link in links:
                nursery.start_soon(one, node, link, nursery.cancel_scope)
        if links and len(problems) == len(links):
            raise RedisUnavailable(f"no events link answers a PING: {'; '.join(problems)}")

    async def _link_for(self, channel: bytes) -> PubSub:
        node = self.cluster.node_of(channel)
        if node is None:
            self.cluster.request_refresh()
            raise RedisUnavailable(f"no primary known for the slot of channel {channel!r}")
        self._where[channel] = node
        link = self._links.get(node)
        if link is None:
            link = self._start_link(node)
            assert self._nursery is not None
            scope = trio.CancelScope()
            self._scopes[node] = scope
            await self._nursery.start(_start_in, scope, link.run)
        return link

    def _start_link(self, node: str) -> PubSub:
        host, _, port = node.rpartition(":")
        link = PubSub(
            NodeLocator(self.cluster.template.at(host, int(port)), self.cluster.request_refresh),
            self.on_message,
            on_subscribed=self._confirmed,
            on_dropped=lambda _channel: self.cluster.request_refresh(),
            on_read_end=self.on_read_end,
            connect_timeout=self.cluster.connect_timeout,
            sharded=True,
        )
        self._links[node] = link
        return link

    def _confirmed(self, channel: bytes) -> None:
        self._confirmed_changed.set()
        self._confirmed_changed = trio.Event()
        if self.on_subscribed:
            self.on_subscribed(channel)

    def _place(self, channel: bytes) -> None:
        """Subscribe `channel` on the node that owns its slot now, if it moved there."""
        assert self._nursery is not None
        node, old = self.cluster.node_of(channel), self._where.get(channel)
        if node is None or node == old:
            return
        if old in self._links:
            self._links[old].unsubscribe(channel)
        self._where[channel] = node
        link = self._links.get(node)
        if link is None:
            link = self._start_link(node)
            scope = trio.CancelScope()
            self._scopes[node] = scope
            self._nursery.start_soon(_run_in, scope, link.run)
        link.want(channel)  # subscribed now if connected, else as soon as it connects

    def _reroute(self) -> None:
        """After a map change: move each channel whose slot has a new owner."""
        for channel in list(self.channels):
            self._place(channel)
        for node in [n for n, link in self._links.items() if not link.channels]:
            del self._links[node]
            self._scopes.pop(node).cancel()
        self._confirmed_changed.set()
        self._confirmed_changed = trio.Event()


async def _start_in(
    scope: trio.CancelScope,
    run: Callable[..., Awaitable[None]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with scope:
        await run(task_status=task_status)


__all__ = ["ClusterRedis", "ShardedPubSub", "key_slot", "routing_key"]
