"""Data format 3 to 4 (storage/schema.py): the keys of a database from before tenants become
the default tenant's, and everything in them still reads the same: meetings and series,
day settings (whose index holds key names), the event streams, the feed token lookup."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import pytest

from roomful_meetings.protocol.payloads import UserIn
from roomful_meetings.storage.availability import ZoneRecord
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Command, Redis, ReplyError, load_scripts, open_redis
from roomful_meetings.storage.schema import (
    DATA_FORMAT_VERSION,
    UpgradeRefused,
    check_data_format,
    into_default_tenant,
)
from tests.storage.world import SERIES, create, create_series, seed, stores

DAY = date(2030, 3, 4)  # ahead: a day setting expires some weeks after its day
DAY_MS = 24 * 3600 * 1000
DAY_START = int(datetime(2030, 3, 4, tzinfo=UTC).timestamp()) // 60


async def as_format_3(redis: Redis, keys: Keys) -> None:
    """What the same data looked like before tenants: `<prefix>X` for `<prefix>{default}:X`."""
    scope, prefix = keys.scope.encode(), keys.prefix.encode()
    for key in await redis.scan(keys.scope + "*"):
        if key.endswith(b":days"):
            flat = await redis.execute("ZRANGE", key, 0, -1, "WITHSCORES")
            moved: list[Command] = []
            for day, score in zip(flat[::2], flat[1::2], strict=True):
                moved += [("ZREM", key, day), ("ZADD", key, score, prefix + day[len(scope) :])]
            await redis.pipeline(moved)
        await redis.execute("RENAME", key, prefix + key[len(scope) :])
    await redis.execute("SET", keys.schema_version(), "3")


async def test_format_3_data_becomes_the_default_tenants_and_reads_the_same(
    redis: Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    s = stores(redis, keys, load_scripts())
    events = EventStore(redis, s.catalog.scripts, keys)
    await seed(s)
    await create(s)
    await create_series(s)
    await s.availability.set_day(
        "bob", ZoneRecord("UTC", ""), DAY, DAY_START, DAY_START + 1440, b"\x0f" * 180
    )
    await s.meetings.feeds.issue("bob", "nonce", "tokenhash")
    before = (
        await s.meetings.get("m1", "bob"),
        await s.series.get(SERIES, "bob"),
        await s.availability.inputs(["bob"], DAY_START, DAY_START + 1440, default_zone="UTC"),
        await events.since("bob", "", max_age_ms=DAY_MS, now_ms=int(time.time() * 1000)),
    )
    assert DAY in before[2][0]["bob"].explicit and before[3][1]  # a day setting, events
    await as_format_3(redis, keys)
    assert await redis.execute("EXISTS", keys.meeting("m1")) == 0  # really the old layout now
    assert await redis.execute("EXISTS", prefix + "m:m1") == 1

    await check_data_format(redis, keys)

    assert await redis.execute("GET", keys.schema_version()) == DATA_FORMAT_VERSION.encode() == b"4"
    stray = [k for k in await redis.scan(prefix + "*") if not k.startswith(keys.scope.encode())]
    assert stray == [keys.schema_version().encode()]
    fresh = stores(redis, keys, load_scripts())  # no cache from before
    after = (
        await fresh.meetings.get("m1", "bob"),
        await fresh.series.get(SERIES, "bob"),
        await fresh.availability.inputs(["bob"], DAY_START, DAY_START + 1440, default_zone="UTC"),
        await EventStore(redis, fresh.catalog.scripts, keys).since(
            "bob", "", max_age_ms=DAY_MS, now_ms=int(time.time() * 1000)
        ),
    )
    assert after == before
    assert await fresh.meetings.feeds.owner("tokenhash") == "bob"


async def test_an_upgrade_stopped_half_way_finishes_when_run_again(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    s = stores(redis, keys, load_scripts())
    await s.catalog.upsert_users([UserIn(id=f"u{i}") for i in range(30)])
    await s.availability.set_day("u1", ZoneRecord("UTC", ""), DAY, DAY_START, DAY_START + 1440, b"\xff" * 180)
    await as_format_3(redis, keys)
    # Half moved, as if the server stopped: some keys and the day index are in the new layout.
    old = sorted(k for k in await redis.scan(prefix + "*") if k != keys.schema_version().encode())
    for key in old[: len(old) // 2]:
        await redis.execute("RENAME", key, keys.scope.encode() + key[len(prefix) :])
    await into_default_tenant(redis, keys)
    await into_default_tenant(redis, keys)  # and again: nothing left to do, nothing broken
    await check_data_format(redis, keys)
    users = await s.catalog.pipeline([("EXISTS", keys.user(f"u{i}")) for i in range(30)])
    assert users == [1] * 30
    (day_key,) = await redis.execute("ZRANGE", keys.user_days("u1"), 0, -1)
    assert day_key == keys.user_day("u1", DAY.isoformat()).encode()
    assert await redis.execute("GET", day_key) == b"\xff" * 180


async def test_the_upgrade_moves_only_its_own_keys(redis: Redis, prefix: str) -> None:
    """Another deployment whose prefix extends this one's (`rm:` and `rm:eu:`) shares the
    Redis: the upgrade of `rm:` leaves the other's keys, upgraded or not, where they are."""
    keys, other = Keys(prefix), Keys(prefix + "eu:")
    theirs = stores(redis, other, load_scripts())
    await check_data_format(redis, other)
    await theirs.catalog.upsert_users([UserIn(id="zoe")])
    foreign = [prefix + "eu:legacy", prefix + "unrelated"]
    for key in foreign:
        await redis.execute("SET", key, "kept")
    before = sorted(await redis.scan(prefix + "*"))
    s = stores(redis, keys, load_scripts())
    await s.catalog.upsert_users([UserIn(id="ann")])
    await as_format_3(redis, keys)

    await check_data_format(redis, keys)

    assert await redis.execute("EXISTS", keys.user("ann")) == 1
    assert set(before) <= set(await redis.scan(prefix + "*"))  # theirs, all where they were
    assert await redis.execute("GET", other.schema_version()) == b"4"


async def test_a_refused_rename_stops_the_upgrade_before_the_version_moves(own_redis: RedisProcess) -> None:
    keys = Keys("up:")
    async with open_redis(own_redis.address) as redis:
        await redis.wait_connected()
        s = stores(redis, keys, load_scripts())
        await s.catalog.upsert_users([UserIn(id="ann")])
        await as_format_3(redis, keys)
        await redis.execute("CONFIG", "SET", "min-replicas-to-write", "1")  # every write refused now
        with pytest.raises(ReplyError, match="NOREPLICAS"):
            await into_default_tenant(redis, keys)
        await redis.execute("CONFIG", "SET", "min-replicas-to-write", "0")
        assert await redis.execute("GET", keys.schema_version()) == b"3"  # so the next start goes on
        await check_data_format(redis, keys)
        assert await redis.execute("EXISTS", keys.user("ann")) == 1


async def test_an_upgrade_redis_refuses_ends_saying_so(own_redis: RedisProcess) -> None:
    """docs/operations.md: a write Redis refuses (READONLY, NOREPLICAS, OOM) stops the
    upgrade and the server exits saying so; it was retried as "Redis not ready" for ever."""
    keys = Keys("up:")
    async with open_redis(own_redis.address) as redis:
        await redis.wait_connected()
        await redis.execute("HSET", keys.prefix + "u:ann", "id", "ann")  # a user of format 3
        await redis.execute("SET", keys.schema_version(), "3")
        await redis.execute("CONFIG", "SET", "min-replicas-to-write", "1")  # every write refused now
        with pytest.raises(UpgradeRefused, match=r"from format 3 to 4 \(NOREPLICAS .*still marked '3'"):
            await check_data_format(redis, keys)
        await redis.execute("CONFIG", "SET", "min-replicas-to-write", "0")
        assert await redis.execute("GET", keys.schema_version()) == b"3"
