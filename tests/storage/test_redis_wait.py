"""WAIT after a script (--redis-min-replicas) and the replies that mean "not executed"."""

from __future__ import annotations

import pytest

from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import (
    NotServing,
    RedisAddress,
    RedisUnavailable,
    ReplicasBehind,
    Script,
    open_redis,
)
from tests.topologies import Node, command

SET = Script.from_source("set", b"return redis.call('SET', KEYS[1], ARGV[1])")


async def test_without_the_replicas_asked_for_the_change_is_outcome_unknown(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_redis(redis_server.address, reply_timeout=1.0) as redis:
        await redis.wait_connected()
        with pytest.raises(ReplicasBehind, match="0 of 1 replicas acknowledged it within 400 ms"):
            await redis.evalsha(SET, [prefix + "k"], ["v"], wait_replicas=1)
        # Applied on the primary all the same: that is why it is "outcome unknown".
        assert await redis.execute("GET", prefix + "k") == b"v"
        assert await redis.evalsha(SET, [prefix + "k"], ["w"]) == b"OK"  # no WAIT asked: no wait


async def test_min_replicas_of_the_client_applies_to_every_script(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_redis(redis_server.address, reply_timeout=1.0, min_replicas=1) as redis:
        await redis.wait_connected()
        with pytest.raises(ReplicasBehind):
            await redis.evalsha(SET, [prefix + "k"], ["v"])
        assert await redis.evalsha(SET, [prefix + "k"], ["v"], wait_replicas=0) == b"OK"


async def test_with_a_replica_the_change_is_answered_once_it_holds_it(
    own_redis: RedisProcess, replica: Node, prefix: str
) -> None:
    async with open_redis(own_redis.address, min_replicas=1) as redis:
        await redis.wait_connected()
        for n in range(20):
            assert await redis.evalsha(SET, [prefix + "k"], [str(n)]) == b"OK"
            assert command(replica.port, "GET", prefix + "k") == str(n).encode()


async def test_a_write_to_a_replica_is_not_applied(replica: Node, prefix: str) -> None:
    """READONLY is NotServing: a RedisUnavailable (503 "not applied"), not a plain error."""
    async with open_redis(RedisAddress(port=replica.port)) as redis:
        await redis.wait_connected()
        with pytest.raises(NotServing, match="READONLY") as refused:
            await redis.evalsha(SET, [prefix + "k"], ["v"])
        assert isinstance(refused.value, RedisUnavailable)
