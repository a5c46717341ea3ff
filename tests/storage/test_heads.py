"""AvailabilityStore.heads: the first read of every slot search and findMeetingTimes. It
tells existence without EXISTS (from `id` and `availVersion`), so it must agree with EXISTS
for every way a user hash comes to be and goes; and its versions move with the changes
that the caches behind it are checked against."""

from __future__ import annotations

from roomful_meetings.domain.meetings import Source
from roomful_meetings.protocol.payloads import RoomIn, UserIn
from roomful_meetings.storage.availability import Head, ZoneRecord
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis, load_scripts
from tests.storage.world import fields, stores

SCRIPTS = load_scripts()
START = 29_000_000
WORKDAY = bytes(180)  # a 1440-bit pattern day, all unavailable


async def test_heads_agree_with_exists_and_move_with_changes(redis: Redis, prefix: str) -> None:
    keys = Keys(prefix)
    s = stores(redis, keys, SCRIPTS)
    await s.catalog.upsert_users([UserIn(id="plain"), UserIn(id="zoned", timeZone="Asia/Tokyo")])
    await s.catalog.upsert_rooms([RoomIn(id="lobby", networkId="net")])
    # a caller with a token but no directory entry who set availability: the hash has no `id`
    await s.availability.set_pattern("walk-in", ZoneRecord("", "+09:00"), {1: WORKDAY})
    await s.catalog.upsert_users([UserIn(id="gone")])
    await s.catalog.delete_user("gone")
    ids = ["plain", "zoned", "walk-in", "gone", "never"]

    async def agree() -> dict[str, Head]:
        heads = await s.availability.heads(ids)
        exists = {uid: await redis.execute("EXISTS", keys.user(uid)) for uid in ids}
        assert {uid for uid in ids if exists[uid]} == set(heads)
        return heads

    first = await agree()
    assert set(first) == {"plain", "zoned", "walk-in"}
    assert first["plain"] == Head("", b"0", b"0")
    assert first["zoned"].zone == "Asia/Tokyo"
    assert first["walk-in"].zone == "+09:00" and first["walk-in"].availability != b"0"

    await s.meetings.create(
        "m1", "plain", Source("room", "lobby", "lobby"), keys.room("lobby"), START, START + 60,
        ["plain", "zoned"], fields("m1"),
    )  # fmt: skip
    await s.availability.set_pattern("zoned", ZoneRecord("", ""), {2: WORKDAY})
    second = await agree()
    assert second["plain"].busy != first["plain"].busy and second["zoned"].busy != first["zoned"].busy
    assert second["plain"].availability == first["plain"].availability
    assert second["zoned"].availability != first["zoned"].availability
    assert second["walk-in"] == first["walk-in"]
