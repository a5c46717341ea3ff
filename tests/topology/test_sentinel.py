"""The client on a real Sentinel group: finding the primary, following failovers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from roomful_meetings.storage.redis import (
    NotServing,
    Pool,
    PubSub,
    RedisConnectionLost,
    RedisUnavailable,
    Script,
    SentinelAddress,
    open_redis,
    parse_redis_target,
)
from roomful_meetings.storage.redis.probe import Probe
from roomful_meetings.storage.redis.sentinel import SentinelLocator
from tests.freezing import frozen, until
from tests.topologies import MASTER_NAME, SentinelGroup, command

log = logging.getLogger(__name__)
APPEND = Script.from_source("append", b"return redis.call('RPUSH', KEYS[1], ARGV[1])")


def sentinel_address(group: SentinelGroup, url_tail: str = "") -> SentinelAddress:
    target = parse_redis_target(group.url + url_tail)
    assert isinstance(target, SentinelAddress)
    return target


@asynccontextmanager
async def sentinel_client(group: SentinelGroup, url_tail: str = "") -> AsyncIterator[Pool]:
    async with open_redis(sentinel_address(group, url_tail), reply_timeout=2.0) as redis:
        assert isinstance(redis, Pool)
        await redis.wait_connected()
        yield redis


async def test_the_primary_is_found_through_any_listed_sentinel(
    sentinel_group: SentinelGroup, prefix: str
) -> None:
    group = sentinel_group
    primary = group.primary()
    # The first listed Sentinel is not one: the next one answers.
    dead_first = sentinel_address(group)
    dead_first = SentinelAddress(
        sentinels=(dead_first.sentinels[0].at("127.0.0.1", 1), *dead_first.sentinels),
        master_name=MASTER_NAME,
        data=dead_first.data,
    )
    async with open_redis(dead_first) as redis:
        await redis.wait_connected()
        assert await redis.execute("SET", prefix + "k", "v") == b"OK"
        assert command(primary or 0, "GET", prefix + "k") == b"v"
        assert (await redis.execute("ROLE"))[0] == b"master"


async def test_an_unknown_master_name_says_so(sentinel_group: SentinelGroup) -> None:
    group = sentinel_address(sentinel_group)
    locator = SentinelLocator(SentinelAddress(group.sentinels, "nobody", group.data), timeout=1.0)
    with pytest.raises(RedisUnavailable, match=r"no primary found for 'nobody'.*does not monitor 'nobody'"):
        await locator.locate()


async def test_the_database_of_the_url_is_selected(sentinel_group: SentinelGroup, prefix: str) -> None:
    async with sentinel_client(sentinel_group, "?db=3") as redis:
        await redis.execute("SET", prefix + "db", "three")
    assert command(sentinel_group.primary() or 0, "GET", prefix + "db") is None
    with_select = command(
        sentinel_group.primary() or 0,
        "EVAL",
        f"redis.call('SELECT', 3) return redis.call('GET', '{prefix}db')",
        0,
    )
    assert with_select == b"three"


async def test_a_demoted_primary_answering_readonly_makes_the_pool_move(
    own_sentinel_group: SentinelGroup, prefix: str
) -> None:
    """A write that meets READONLY (the node is a replica now) is refused as not applied,
    and the pool finds the primary again without waiting for Sentinel's announcement."""
    group = own_sentinel_group
    old = group.primary()
    assert old is not None
    async with sentinel_client(group) as redis:
        await redis.execute("SET", prefix + "a", "1")
        new = next(n.port for n in group.data if n.port != old)
        # Demote the primary behind Sentinel's back; the pool's links to it stay open.
        assert command(new, "REPLICAOF", "NO", "ONE") == b"OK"
        assert command(old, "REPLICAOF", "127.0.0.1", new) == b"OK"
        with pytest.raises(NotServing, match="READONLY"):
            await redis.execute("SET", prefix + "a", "2")
        assert isinstance(redis.locator, SentinelLocator)
        assert redis.locator.current is None  # forgotten: asked again of Sentinel


async def test_failover_the_pool_and_subscription_follow_and_acknowledged_writes_survive(
    own_sentinel_group: SentinelGroup, prefix: str
) -> None:
    group = own_sentinel_group
    old = group.primary()
    assert old is not None
    key = prefix + "list"
    acked: list[int] = []
    errors: list[Exception] = []
    slowest: list[float] = []  # how long each failed call took
    killed, resumed = trio.Event(), trio.Event()
    channel = (prefix + "events").encode()
    confirmations: list[bytes] = []
    messages: list[bytes] = []
    after = trio.Event()

    def on_message(_: bytes, data: bytes) -> None:
        messages.append(data)
        if data == b"after":
            after.set()

    async def writer(redis: Pool) -> None:
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
            acked.append(n)
            if sent_after_kill:
                resumed.set()
            elif len(acked) == 50:
                group.data_node(old).kill()
                killed.set()

    async with sentinel_client(group) as redis, trio.open_nursery() as nursery:
        subscriber = PubSub(redis.locator, on_message, on_subscribed=confirmations.append)
        await nursery.start(subscriber.run)
        await subscriber.subscribe(channel)
        for _ in range(3):
            nursery.start_soon(writer, redis)
        await killed.wait()
        killed_at = trio.current_time()
        with trio.fail_after(15):  # the contract: service resumes within 15 s
            await resumed.wait()
            await subscriber.wait_confirmed(channel)
        log.info(
            "resumed %.1f s after the kill, %d 503s meanwhile, the slowest in %.2f s",
            trio.current_time() - killed_at,
            len(errors),
            max(slowest, default=0.0),
        )
        new = group.primary()
        assert new is not None and new != old
        assert isinstance(redis.locator, SentinelLocator)
        assert redis.locator.current is not None and redis.locator.current.port == new
        assert confirmations.count(channel) == 2  # subscribed again, on the new primary
        await redis.execute("PUBLISH", channel, "after")
        with trio.fail_after(5):
            await after.wait()
        nursery.cancel_scope.cancel()
    assert errors, "the kill should have been noticed by the writers"
    # Failing fast: no call hung past the reply timeout (2 s, plus the watchdog's tick and
    # the WAIT's 0.8 s when a replica was lost mid-call).
    assert max(slowest) < 2.0 + 0.5 + 0.8 + 0.7, f"a failed call took {max(slowest):.1f} s"
    stored = [int(n) for n in command(new, "LRANGE", key, 0, -1)]
    assert set(acked) <= set(stored), f"acknowledged but lost: {set(acked) - set(stored)}"


async def test_sentinels_with_a_password_are_reached_with_sentinel_password(
    tmp_path: Path, prefix: str
) -> None:
    group = SentinelGroup(tmp_path / "locked", replicas=1, sentinel_password="sentinel-secret")
    group.start()
    try:
        async with sentinel_client(group, "?sentinel_password=sentinel-secret") as redis:
            assert await redis.execute("SET", prefix + "k", "v") == b"OK"
        locked = sentinel_address(group)  # no sentinel_password: every Sentinel refuses
        with pytest.raises(RedisUnavailable, match=r"NOAUTH|Authentication required"):
            await SentinelLocator(locked, timeout=1.0).locate()
    finally:
        group.stop()


async def test_switch_master_announced_by_sentinel_moves_the_locator(
    own_sentinel_group: SentinelGroup,
) -> None:
    """A planned failover (SENTINEL FAILOVER): the old primary stays up and nobody writes,
    so only Sentinel's +switch-master can tell the locator."""
    group = own_sentinel_group
    locator = SentinelLocator(sentinel_address(group), timeout=1.0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(locator.run)
        old = await locator.locate()
        assert old.port == group.primary()
        assert command(group.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER_NAME) == b"OK"
        with trio.fail_after(15):
            await locator.wait_moved(old)
        new = await locator.locate()
        assert new != old and new.port == group.primary()
        nursery.cancel_scope.cancel()


async def test_a_frozen_primary_is_silent_until_sentinel_names_another_and_the_probe_follows(
    own_sentinel_group: SentinelGroup, prefix: str
) -> None:
    """The probe PINGs the primary Sentinel names: frozen, it is silent (not ready, its
    commands refused at once, not sent to wait the reply timeout); once Sentinel has
    promoted a replica the probe PINGs that one, and the instance is ready again while the
    old primary is still frozen."""
    group = own_sentinel_group
    old = group.primary()
    assert old is not None
    async with sentinel_client(group) as redis, trio.open_nursery() as nursery:
        events = PubSub(redis.locator, lambda _channel, _data: None, channels=[b"probe"])
        await nursery.start(events.run)
        probe = Probe(redis, events, interval=0.2, timeout=0.4)
        await nursery.start(probe.run)
        await until(lambda: probe.problem() is None)
        with frozen(group.data_node(old)):
            await until(lambda: f"Redis at 127.0.0.1:{old} has not answered" in str(probe.problem()))
            began = trio.current_time()
            with pytest.raises(RedisUnavailable, match="has not answered a PING"):
                await redis.execute("SET", prefix + "k", "v")
            assert trio.current_time() - began < 0.2  # not the 2 s reply timeout
            await until(lambda: probe.problem() is None, within=20)  # the new primary answers
            new = group.primary()
            assert new is not None and new != old and redis.silent is None
            assert await redis.execute("SET", prefix + "k", "v") == b"OK"
        nursery.cancel_scope.cancel()
