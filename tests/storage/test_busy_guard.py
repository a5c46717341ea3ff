"""The busy-version guard of every changing script (storage/redis/scripts.py, code 298):
the body runs only when each guarded user's busy version is still the one given."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from roomful_meetings.domain.meetings import Source
from roomful_meetings.protocol.models import DEFAULT_COLOR
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.storage.base import BUSY_GUARD, BusyMoved
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields, MeetingStore
from roomful_meetings.storage.redis import Redis, load_scripts, open_redis

SCRIPTS = load_scripts()
LOBBY = Source("room", "lobby", "lobby")
START = 29_000_000


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    async with open_redis(redis_server.address) as connection:
        await connection.wait_connected()
        yield connection


async def create(meetings: MeetingStore, meeting_id: str, start: int) -> object:
    stamp = "2025-02-19T10:00:00Z"
    fields = MeetingFields(
        {
            "meetingId": meeting_id,
            "created": stamp,
            "updated": stamp,
            "subject": "s",
            "description": "",
            "color": DEFAULT_COLOR,
            "organizerId": "alice",
            "sourceString": "room:lobby",
            "sourceType": "room",
            "sourcePk": "lobby",
            "startDate": stamp,
            "endDate": stamp,
        }
    )
    key = meetings.keys.room("lobby")
    return await meetings.create(meeting_id, "alice", LOBBY, key, start, start + 60, ["alice", "bob"], fields)


async def test_a_moved_version_refuses_with_298_and_writes_nothing(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    catalog, meetings = CatalogStore(redis, SCRIPTS, keys), MeetingStore(redis, SCRIPTS, keys)
    await catalog.upsert_users([UserIn(id="alice"), UserIn(id="bob")])
    await catalog.upsert_rooms([RoomIn(id="lobby", networkId="net")])
    await create(meetings, "m1", START)
    versions = {
        uid: (await redis.execute("HGET", keys.busy_versions(), uid) or b"0").decode()
        for uid in ("alice", "bob")
    }
    token = BUSY_GUARD.set(versions)
    try:
        await create(meetings, "m2", START + 120)  # 0: the versions are current
        with pytest.raises(BusyMoved, match="bob"):
            await create(meetings, "m3", START + 240)  # m2 moved them on
    finally:
        BUSY_GUARD.reset(token)
    assert await redis.execute("EXISTS", keys.meeting("m2")) == 1
    assert await redis.execute("EXISTS", keys.meeting("m3")) == 0
    # a user never seen has version "0"
    token = BUSY_GUARD.set({"nobody": "0"})
    try:
        await create(meetings, "m4", START + 360)
    finally:
        BUSY_GUARD.reset(token)
