"""The busy-version guard of every changing script (storage/redis/scripts.py, code 298):
the body runs only when each guarded user's busy version is still the one given."""

from __future__ import annotations

import pytest

from roomful_meetings.domain.meetings import Source
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.storage.base import NO_WRITE, BusyMoved, Write
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingStore
from roomful_meetings.storage.redis import Redis, load_scripts
from tests.storage.world import fields

SCRIPTS = load_scripts()
LOBBY = Source("room", "lobby", "lobby")
START = 29_000_000


async def create(meetings: MeetingStore, meeting_id: str, start: int, write: Write = NO_WRITE) -> object:
    key = meetings.keys.room("lobby")
    return await meetings.create(
        meeting_id, "alice", LOBBY, key, start, start + 60, ["alice", "bob"], fields(meeting_id), write=write
    )


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
    guarded = Write(busy_guard=versions)
    await create(meetings, "m2", START + 120, guarded)  # 0: the versions are current
    with pytest.raises(BusyMoved, match="bob"):
        await create(meetings, "m3", START + 240, guarded)  # m2 moved them on
    assert await redis.execute("EXISTS", keys.meeting("m2")) == 1
    assert await redis.execute("EXISTS", keys.meeting("m3")) == 0
    # a user never seen has version "0"
    await create(meetings, "m4", START + 360, Write(busy_guard={"nobody": "0"}))
    assert await redis.execute("EXISTS", keys.meeting("m4")) == 1
