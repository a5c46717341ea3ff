"""The client on a real Redis Cluster: routing, redirections, sharded pub/sub, failover."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from roomful_meetings.storage.redis import (
    ClusterAddress,
    Command,
    RedisConnectionLost,
    RedisUnavailable,
    ReplyError,
    Script,
    open_redis,
    parse_redis_target,
)
from roomful_meetings.storage.redis.cluster import (
    ClusterRedis,
    ShardedPubSub,
    key_slot,
    parse_shards,
    parse_slots,
)
from roomful_meetings.storage.redis.probe import Probe
from tests.freezing import frozen, until
from tests.topologies import RedisCluster, SlotMove, command

SET_AND_GET = Script.from_source(
    "set_and_get", b"redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[#KEYS])"
)
log = logging.getLogger(__name__)
APPEND = Script.from_source("append", b"return redis.call('RPUSH', KEYS[1], ARGV[1])")


@asynccontextmanager
async def cluster_client(cluster: RedisCluster) -> AsyncIterator[ClusterRedis]:
    async with open_redis(parse_redis_target(cluster.url), reply_timeout=2.0) as redis:
        assert isinstance(redis, ClusterRedis)
        await redis.wait_connected()
        while len(redis.primaries()) < cluster.primaries:
            await redis.wait_map_changed()
        yield redis


def keys_on_every_node(cluster: RedisCluster, prefix: str) -> list[str]:
    """One key per primary (found by asking the cluster, not by our own slot code)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < cluster.primaries:
        key = f"{prefix}k{n}"
        found.setdefault(cluster.owner(key), key)
        n += 1
    return list(found.values())


def test_slot_of_a_key_is_the_one_redis_computes(cluster: RedisCluster) -> None:
    port = cluster.nodes[0].port
    for key in ["123456789", "user:1", "{user1}.following", "{}x", "a{}{b}", "{b}", "x{y", "é{ü}"]:
        assert key_slot(key) == command(port, "CLUSTER", "KEYSLOT", key), key
    assert key_slot("123456789") == 12739  # the example of the Redis Cluster specification
    assert key_slot("{user1}.a") == key_slot("{user1}.b") == key_slot("user1")


async def test_commands_and_pipelines_go_to_the_owner_of_each_key(cluster: RedisCluster, prefix: str) -> None:
    keys = keys_on_every_node(cluster, prefix)
    async with cluster_client(cluster) as redis:
        for i, key in enumerate(keys):
            assert await redis.execute("SET", key, f"v{i}") == b"OK"
            assert redis.node_of(key) == f"127.0.0.1:{cluster.owner(key)}"
        # Each value is on its owner only: no MOVED was needed (the map was right).
        for i, key in enumerate(keys):
            assert command(cluster.owner(key), "GET", key) == f"v{i}".encode()
        commands: list[Command] = [("GET", k) for k in reversed(keys)]
        replies = await redis.pipeline([*commands, ("INCR", keys[0] + ":n")])
        assert replies == [f"v{i}".encode() for i in reversed(range(len(keys)))] + [1]


async def test_scripts_are_routed_by_their_first_key_and_hash_tags_share_a_slot(
    cluster: RedisCluster, prefix: str
) -> None:
    keys = keys_on_every_node(cluster, prefix)
    async with cluster_client(cluster) as redis:
        await redis.load_scripts({SET_AND_GET.name: SET_AND_GET})
        for key in keys:
            assert await redis.evalsha(SET_AND_GET, [key], ["x"]) == b"x"
        tagged = [f"{{{prefix}t}}:a", f"{{{prefix}t}}:b"]
        assert await redis.evalsha(SET_AND_GET, tagged, ["y"]) is None  # two keys, one slot
        assert await redis.execute("SET", tagged[1], "z") == b"OK"
        assert await redis.evalsha(SET_AND_GET, tagged, ["y"]) == b"z"
        with pytest.raises(ReplyError, match="CROSSSLOT"):
            await redis.evalsha(SET_AND_GET, keys[:2], ["y"])


async def test_a_script_unknown_to_a_node_is_loaded_there(cluster: RedisCluster, prefix: str) -> None:
    script = Script.from_source("echo_arg", b"return ARGV[1] .. redis.call('GET', KEYS[1])")
    key = keys_on_every_node(cluster, prefix)[1]
    async with cluster_client(cluster) as redis:
        await redis.execute("SET", key, "!")
        assert await redis.evalsha(script, [key], ["hi"]) == b"hi!"


def migrate_slot(cluster: RedisCluster, key: str, *, finish: bool) -> SlotMove:
    """Move `key`'s slot (and its keys) to another primary; unfinished, the slot stays
    MIGRATING/IMPORTING until the returned move's `finish`."""
    move = SlotMove(cluster, key)
    move.begin()
    while move.move_keys(100):
        pass
    if finish:
        move.finish()
    return move


async def test_moved_updates_the_map_and_retries_once(cluster: RedisCluster, prefix: str) -> None:
    key = keys_on_every_node(cluster, prefix)[0]
    async with cluster_client(cluster) as redis:
        await redis.execute("SET", key, "before")
        refreshes = redis.refreshes
        move = migrate_slot(cluster, key, finish=True)
        assert redis.node_of(key) == f"127.0.0.1:{move.source}"  # the client has not looked yet
        assert await redis.execute("GET", key) == b"before"  # MOVED, then the new owner
        assert redis.node_of(key) == f"127.0.0.1:{move.target}"
        assert await redis.pipeline([("SET", key, "after"), ("GET", key)]) == [b"OK", b"after"]
        assert await redis.evalsha(APPEND, [key + ":list"], ["1"]) == 1
        while redis.refreshes == refreshes:  # MOVED asked for a refresh of the whole map
            await redis.wait_map_changed()


async def test_ask_during_a_slot_migration_is_followed(cluster: RedisCluster, prefix: str) -> None:
    key = keys_on_every_node(cluster, prefix)[1]
    async with cluster_client(cluster) as redis:
        await redis.execute("SET", key, "moved already")
        move = migrate_slot(cluster, key, finish=False)
        try:
            assert redis.node_of(key) == f"127.0.0.1:{move.source}"
            # The key is on the importing node now: the source answers ASK.
            assert await redis.execute("GET", key) == b"moved already"
            assert await redis.pipeline([("GET", key)]) == [b"moved already"]
            assert await redis.evalsha(SET_AND_GET, [key], ["by script"]) == b"by script"
            # ASK changes nothing in the map: the slot is still the source's until it ends.
            assert redis.node_of(key) == f"127.0.0.1:{move.source}"
        finally:
            move.finish()
        assert command(move.target, "GET", key) == b"by script"


async def test_sharded_pubsub_delivers_on_the_channel_slot_owner(cluster: RedisCluster, prefix: str) -> None:
    channels = [k.encode() for k in keys_on_every_node(cluster, prefix + "ch:")]
    received: list[tuple[bytes, bytes]] = []
    arrived = trio.Event()

    def on_message(channel: bytes, data: bytes) -> None:
        received.append((channel, data))
        if len(received) == len(channels):
            arrived.set()

    async with cluster_client(cluster) as redis, trio.open_nursery() as nursery:
        subscriber = redis.sharded_pubsub(on_message)
        await nursery.start(subscriber.run)
        for channel in channels:
            await subscriber.subscribe(channel)
        assert subscriber.confirmed == set(channels)
        for channel in channels:  # each SPUBLISH reaches the subscriber on that node
            assert await redis.execute("SPUBLISH", channel, b"hello " + channel) == 1
        with trio.fail_after(5):
            await arrived.wait()
        assert sorted(received) == sorted((c, b"hello " + c) for c in channels)
        nursery.cancel_scope.cancel()


async def wait_resumed(redis: ClusterRedis, key: str) -> None:
    while True:
        try:
            await redis.execute("GET", key)
            return
        except (RedisUnavailable, RedisConnectionLost):
            await redis.wait_map_changed()


async def test_failover_the_client_resumes_and_acknowledged_writes_survive(
    own_cluster: RedisCluster, prefix: str
) -> None:
    cluster = own_cluster
    keys = keys_on_every_node(cluster, prefix)
    victim = cluster.owner(keys[0])
    heir = cluster.replica_of(victim)
    acked: dict[str, list[int]] = {key: [] for key in keys}
    errors: list[Exception] = []
    slowest: list[float] = []  # how long each failed call took
    resumed: dict[str, trio.Event] = {key: trio.Event() for key in keys}
    killed = trio.Event()
    channel = f"{{{keys[0]}}}:events".encode()  # in the slot of keys[0]: on the victim
    confirmations: list[bytes] = []
    messages: list[bytes] = []
    message_after = trio.Event()

    def on_message(_: bytes, data: bytes) -> None:
        messages.append(data)
        if data == b"after":
            message_after.set()

    async def writer(redis: ClusterRedis, key: str) -> None:
        n = 0
        while True:
            n += 1
            sent_after_kill = killed.is_set()  # no reply from the killed node then
            began = trio.current_time()
            try:
                await redis.evalsha(APPEND, [key], [n], wait_replicas=1)
            except (RedisUnavailable, RedisConnectionLost) as exc:  # 503s, nothing else
                errors.append(exc)
                slowest.append(trio.current_time() - began)
                await trio.sleep(0.01)  # a caller retrying, as a client after a 503 does
                continue
            acked[key].append(n)
            if sent_after_kill:
                resumed[key].set()
            elif len(acked[key]) == 20 and all(len(a) >= 20 for a in acked.values()):
                cluster.node(victim).kill()
                killed.set()

    async with cluster_client(cluster) as redis, trio.open_nursery() as nursery:
        await redis.load_scripts({APPEND.name: APPEND})
        subscriber = ShardedPubSub(redis, on_message, on_subscribed=confirmations.append)
        await nursery.start(subscriber.run)
        await subscriber.subscribe(channel)
        for key in keys:
            nursery.start_soon(writer, redis, key)
        await killed.wait()
        killed_at = trio.current_time()
        with trio.fail_after(15):  # the contract: service resumes within 15 s
            while redis.node_of(keys[0]) != f"127.0.0.1:{heir}":
                await redis.wait_map_changed()
            log.info("the heir serves the slot %.1f s after the kill", trio.current_time() - killed_at)
            # The sharded subscription follows its slot to the heir (while the dead node
            # is still dead: a replica would take SSUBSCRIBE too).
            await subscriber.wait_confirmed(channel)
            assert command(heir, "PUBSUB", "SHARDNUMSUB", channel) == [channel, 1]
            # The heir has no replica left to WAIT for: the dead node comes back (as a
            # supervisor would restart it), rejoins as the heir's replica, and writes to
            # that shard are acknowledged again.
            cluster.node(victim).start()
            for event in resumed.values():
                await event.wait()
        log.info(
            "resumed %.1f s after the kill, %d 503s meanwhile, the slowest in %.2f s",
            trio.current_time() - killed_at,
            len(errors),
            max(slowest, default=0.0),
        )
        assert confirmations.count(channel) >= 2  # subscribed again, on the new owner
        await redis.execute("SPUBLISH", channel, b"after")
        with trio.fail_after(5):
            await message_after.wait()
        nursery.cancel_scope.cancel()
    assert errors, "the kill should have been noticed by the writers"
    # Failing fast: no call hung past the reply timeout (2 s, plus the watchdog's tick and
    # the WAIT's 0.8 s when a replica was lost mid-call).
    assert max(slowest) < 2.0 + 0.5 + 0.8 + 0.7, f"a failed call took {max(slowest):.1f} s"
    for key, numbers in acked.items():
        stored = [int(n) for n in command(cluster.owner(key), "LRANGE", key, 0, -1)]
        assert set(numbers) <= set(stored), f"{key}: acknowledged but lost: {set(numbers) - set(stored)}"


def test_cluster_slots_and_cluster_shards_give_the_same_map(cluster: RedisCluster) -> None:
    """CLUSTER SLOTS is the fallback for servers without CLUSTER SHARDS (before Redis 7)."""
    port = cluster.nodes[0].port
    asked = parse_redis_target(cluster.url)
    assert isinstance(asked, ClusterAddress)
    template = asked.seeds[0]
    by_shards = parse_shards(command(port, "CLUSTER", "SHARDS"), template, template)
    by_slots = parse_slots(command(port, "CLUSTER", "SLOTS"), template, template)
    assert sorted(by_shards, key=lambda r: r[0]) == sorted(by_slots, key=lambda r: r[0])
    assert sum(end - start + 1 for start, end, _ in by_slots) == 16384
    assert {a.port for _, _, a in by_slots} == {s["primary"] for s in cluster.shards(port) or []}


async def test_a_frozen_primary_fails_fast_while_the_others_serve_and_the_instance_stays_ready(
    tmp_path: Path, prefix: str
) -> None:
    """One frozen primary of three: its keys are refused at once (not sent to wait the reply
    timeout), the other primaries' keys are served, and the probe says ready (the others
    answer); thawed, its keys are served again at once. A node timeout longer than the
    freeze: no failover here (tests/topology/test_failover_serve.py has those)."""
    cluster = RedisCluster(tmp_path / "cluster", node_timeout_ms=15_000)
    cluster.start()
    try:
        keys = keys_on_every_node(cluster, prefix)
        async with cluster_client(cluster) as redis, trio.open_nursery() as nursery:
            events = redis.sharded_pubsub(lambda _channel, _data: None)
            await nursery.start(events.run)
            for key in keys:  # an events link on every primary
                await events.subscribe(f"{{{key}}}:events".encode())
            probe = Probe(redis, events, interval=0.2, timeout=0.4)
            await nursery.start(probe.run)
            await until(lambda: probe.problem() is None and probe.answering() == cluster.primaries)
            with frozen(cluster.node(cluster.owner(keys[0]))):
                await until(lambda: probe.answering() == cluster.primaries - 1)
                assert probe.problem() is None
                began = trio.current_time()
                with pytest.raises(RedisUnavailable, match="has not answered a PING"):
                    await redis.execute("GET", keys[0])
                assert trio.current_time() - began < 0.2  # not the 2 s reply timeout
                for key in keys[1:]:
                    assert await redis.execute("GET", key) is None
                with trio.fail_after(2):
                    await events.ping()  # the other primaries' events links answer
            await until(lambda: probe.answering() == cluster.primaries, within=2)
            assert await redis.execute("GET", keys[0]) is None
            nursery.cancel_scope.cancel()
    finally:
        cluster.stop()
