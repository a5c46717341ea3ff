"""The meeting object as the scripts write it (lua/includes/meeting_json.lua) and as the
server writes a new one (storage/meetings.py): ids quoted the way cjson quotes them, and the
same bytes from createMeeting as from a read, whatever the ids hold."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import msgspec
import pytest

from roomful_meetings.domain.recurrence import Series
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.errors import NotFound
from roomful_meetings.protocol.payloads import ID_PATTERN, RoomIn, UserIn
from roomful_meetings.service.series import series_fields
from roomful_meetings.storage.base import Store
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import json_id
from roomful_meetings.storage.redis import Redis, load_scripts
from roomful_meetings.storage.redis.scripts import assemble, lua_dir
from tests.storage.world import END, FIRST, LOBBY, SERIES, START, fields, seed, stores

# Each is kept as is by json_quote's fast path or handed to cjson: both must give cjson's bytes.
AWKWARD = ["plain", "a/b", 'say "hi"', "back\\slash", "tab\there", "nul\x00", "del\x7f", "é中🙂", ""]

QUOTE_PROBE = """--[[
  json_quote of each argument next to cjson.encode of it.

  Mode: read
  KEYS[1]: unused
  ARGV[1..]: strings
  Returns: {0, {json_quote(ARGV[i]), cjson.encode(ARGV[i]), ...}}
]]
--- @include "meeting_json"
local out = {}
for _, text in ipairs(ARGV) do
  out[#out + 1] = json_quote(text)
  out[#out + 1] = cjson.encode(text)
end
return {0, out}
"""


@pytest.fixture
def quote_store(tmp_path: Path, redis: Redis, prefix: str) -> Store:
    shutil.copytree(lua_dir() / "includes", tmp_path / "includes")
    (tmp_path / "probe.lua").write_text(QUOTE_PROBE)
    return Store(redis, {"probe": assemble(tmp_path / "probe.lua")}, Keys(prefix))


async def quoted_both_ways(store: Store, texts: list[str]) -> list[tuple[bytes, bytes]]:
    (pairs,) = await store.run("probe", [store.keys.scope + "unused"], [*texts])
    return list(zip(pairs[::2], pairs[1::2], strict=True))


async def test_json_quote_writes_what_cjson_writes_for_awkward_strings(quote_store: Store) -> None:
    for mine, cjsons in await quoted_both_ways(quote_store, AWKWARD):
        assert mine == cjsons


async def test_json_quote_writes_what_cjson_writes_for_any_ascii_and_some_more(quote_store: Store) -> None:
    pool = [chr(c) for c in range(128)] + ["é", "中", "🙂", "\u2028"]
    rng = random.Random(19)
    texts = ["".join(rng.choices(pool, k=rng.randint(1, 12))) for _ in range(400)]
    for text, (mine, cjsons) in zip(texts, await quoted_both_ways(quote_store, texts), strict=True):
        assert mine == cjsons
        if re.match(ID_PATTERN, text):  # what the server quotes itself for a new meeting
            assert json_id(text) == mine


async def test_a_created_meeting_reads_back_byte_for_byte_whatever_its_ids_hold(
    redis: Redis, prefix: str
) -> None:
    s = stores(redis, Keys(prefix), load_scripts())
    people = ["alice", "a/b", 'say "hi"', "back\\slash", "é中🙂"]
    await s.catalog.upsert_users([UserIn(id=u) for u in people])
    await s.catalog.upsert_rooms([RoomIn(id="lobby", networkId='net/"1"')])
    created = await s.meetings.create(
        "m1", "alice", LOBBY, s.meetings.keys.room("lobby"), START, END, people, fields("m1")
    )
    for reader in people:
        assert (await s.meetings.get("m1", reader)) == created
    meeting = msgspec.json.decode(created)
    assert meeting["participantIds"] == people
    assert meeting["networkId"] == 'net/"1"'
    assert [p["status"] for p in meeting["participants"]] == ["accepted"] + ["received"] * 4


async def test_invitees_without_a_profile_are_named_and_nothing_is_written(redis: Redis, prefix: str) -> None:
    s = stores(redis, Keys(prefix), load_scripts())
    await s.catalog.upsert_users([UserIn(id=u) for u in ("alice", "bob")])
    await s.catalog.upsert_rooms([RoomIn(id="lobby")])
    room = s.meetings.keys.room("lobby")
    with pytest.raises(NotFound, match=r"^invited users not found: ghost, spook$"):
        await s.meetings.create(
            "m1", "alice", LOBBY, room, START, END, ["alice", "ghost", "bob", "spook"], fields("m1")
        )
    assert await redis.execute("EXISTS", s.meetings.keys.meeting("m1")) == 0


async def test_a_created_series_is_the_series_read_back(redis: Redis, prefix: str) -> None:
    s = stores(redis, Keys(prefix), load_scripts())
    await seed(s)
    weekly = Series(parse_rule("FREQ=WEEKLY;BYDAY=MO"), "Europe/Berlin", FIRST, 15)
    room = s.meetings.keys.room("lobby")
    people = ["alice", "bob"]
    created = await s.meetings.create(
        SERIES, "alice", LOBBY, room, FIRST, FIRST + 15, people, fields(SERIES), series_fields(weekly)
    )
    read, _ = await s.series.get(SERIES, "bob")
    assert msgspec.json.decode(created) == read
    assert read["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=MO", "timeZone": "Europe/Berlin"}


async def test_the_organizer_must_come_first_among_the_participants(redis: Redis, prefix: str) -> None:
    s = stores(redis, Keys(prefix), load_scripts())
    room = s.meetings.keys.room("lobby")
    with pytest.raises(ValueError, match="organizer must come first"):
        await s.meetings.create("m1", "bob", LOBBY, room, START, END, ["alice", "bob"], fields("m1"))
    assert await redis.execute("EXISTS", s.meetings.keys.meeting("m1")) == 0
