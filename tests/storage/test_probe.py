"""The readiness probe (storage/redis/probe.py): what it knows of one primary, on its own,
and the probe against a real redis-server frozen with SIGSTOP (a hung host, or a partition
that keeps TCP open: connections stay open and nothing answers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import (
    PubSub,
    Redis,
    RedisUnavailable,
    open_redis,
    parse_redis_url,
)
from roomful_meetings.storage.redis.probe import Health, Probe
from roomful_meetings.storage.redis.pubsub import Subscriber
from tests.freezing import client_count, frozen, task_names, until
from tests.topologies import command


def answering(health: Health) -> bool:
    return health.answering  # a call: mypy narrows a property for the rest of the test


def test_health_says_why_a_primary_does_not_count_as_answering() -> None:
    health = Health("Redis at here")
    assert health.problem(0.0, 3.0) == "Redis at here has not answered yet" and not answering(health)
    health.answered(10.0)
    assert health.problem(13.0, 3.0) is None and answering(health)
    assert health.problem(13.5, 3.0) == "Redis at here last answered 3.5s ago"  # the probe fell behind
    health.silent(14.0)
    health.silent(15.0)  # silence counts from the first PING left unanswered
    assert health.problem(16.0, 3.0) == "Redis at here has not answered a PING for 2.0s"
    assert not answering(health)
    health.failed("cannot connect: refused")
    assert health.problem(16.0, 3.0) == "Redis at here: cannot connect: refused"
    health.silent(17.0)  # a connection attempt that timed out: silence again
    assert health.problem(18.0, 3.0) == "Redis at here has not answered a PING for 1.0s"
    health.answered(19.0)
    assert health.problem(19.0, 3.0) is None and answering(health)


@asynccontextmanager
async def probing(
    redis: Redis, subscriber: Subscriber | None = None, *, interval: float, silent_after: float
) -> AsyncIterator[Probe]:
    probe = Probe(redis, subscriber, interval=interval, timeout=silent_after)
    async with trio.open_nursery() as nursery:
        await nursery.start(probe.run)
        yield probe
        nursery.cancel_scope.cancel()


async def test_a_frozen_redis_is_found_silent_its_commands_refused_at_once_and_answering_once_it_does(
    own_redis: RedisProcess,
) -> None:
    interval, timeout = 1.0, 0.3
    async with (
        open_redis(own_redis.address, reply_timeout=5.0) as redis,
        trio.open_nursery() as nursery,
    ):
        events = PubSub(own_redis.address, lambda _channel, _data: None, channels=[b"probe-test"])
        await nursery.start(events.run)
        async with probing(redis, events, interval=interval, silent_after=timeout) as probe:
            await until(lambda: probe.problem() is None)
            assert probe.answering() == 1
            (pool,) = redis.pools()
            with frozen(own_redis):
                took = await until(lambda: probe.problem() is not None)
                assert took < interval + timeout + 0.5, took
                assert f"Redis at 127.0.0.1:{own_redis.port} has not answered a PING" in str(probe.problem())
                assert pool.silent is not None and probe.answering() == 0
                began = trio.current_time()
                with pytest.raises(RedisUnavailable, match="has not answered a PING"):
                    await redis.execute("GET", "k")  # not sent: it would wait 5 s (--redis-timeout)
                assert trio.current_time() - began < 0.1
                await until(lambda: probe.events.silent_since is not None)  # its events link too
                assert events.connected  # though the links stay open
            # The PING sent behind the one that timed out is answered at once: not an
            # interval later.
            took = await until(lambda: probe.problem() is None)
            assert took < interval / 2, took
            assert redis.pools()[0].silent is None and await redis.execute("PING") == b"PONG"
        nursery.cancel_scope.cancel()


async def test_a_pooled_link_held_by_wait_does_not_make_redis_silent(own_redis: RedisProcess) -> None:
    """WAIT (--redis-min-replicas) holds the pooled link it is sent on; the probe PINGs on a
    link of its own, so a primary that answers is not taken for a silent one."""
    async with open_redis(own_redis.address, pool_size=1, reply_timeout=5.0) as redis:
        await redis.wait_connected()
        async with probing(redis, interval=0.05, silent_after=0.2) as probe, trio.open_nursery() as nursery:
            await until(lambda: probe.problem() is None)
            nursery.start_soon(redis.execute, "WAIT", 1, 1500)  # no replica: held 1.5 s
            await trio.sleep(0.05)
            behind = trio.current_time()
            assert await redis.execute("PING") == b"PONG"  # queued behind the WAIT
            assert trio.current_time() - behind > 1.0
            assert probe.problem() is None


async def test_a_refused_connection_or_an_error_reply_is_a_failure_that_refuses_nothing(
    own_redis: RedisProcess,
) -> None:
    """Only silence makes the pool refuse commands; after a refusal its own links say so."""
    async with open_redis(own_redis.address) as redis:
        await redis.wait_connected()
        async with probing(redis, interval=0.05, silent_after=0.3) as probe:
            await until(lambda: probe.problem() is None)
            own_redis.stop()
            await until(lambda: "cannot connect" in str(probe.problem()))
            assert redis.pools()[0].silent is None
            own_redis.start()
            await until(lambda: probe.problem() is None, within=10)
    command(own_redis.port, "CONFIG", "SET", "requirepass", "s3cret")
    wrong = parse_redis_url(f"redis://:wrong@127.0.0.1:{own_redis.port}/0")
    async with open_redis(wrong) as redis, probing(redis, interval=0.05, silent_after=0.3) as probe:
        await until(lambda: "WRONGPASS" in str(probe.problem()))
        assert redis.pools()[0].silent is None


async def test_a_cancelled_probe_leaves_no_task_and_no_connection(own_redis: RedisProcess) -> None:
    async with open_redis(own_redis.address, pool_size=1) as redis:
        await redis.wait_connected()
        baseline = client_count(own_redis.port)
        async with probing(redis, interval=0.05, silent_after=0.3) as probe:
            await until(lambda: probe.problem() is None)
            assert any("redis.probe" in name for name in task_names())
            assert client_count(own_redis.port) == baseline + 1  # its own link
        assert not [name for name in task_names() if "redis.probe" in name]
        await until(lambda: client_count(own_redis.port) == baseline)
