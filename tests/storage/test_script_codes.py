"""Every output code a Lua script's header declares, produced by a real call and mapped to
its wire error (issue 13: create_meeting's 409 had no error class and surfaced as a 500).

Each (script, code) pair read from the headers needs a scenario below: a header that gains a
code fails here until a scenario produces it. The last call of a scenario goes through stores
that hold that one script only, so the code cannot come from another script.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import pytest

from roomful_meetings.domain.meetings import Source
from roomful_meetings.errors import ApiError, BadRequest, Conflict, Forbidden, InternalError, NotFound
from roomful_meetings.protocol.models import DEFAULT_COLOR
from roomful_meetings.protocol.payloads import GroupIn, PropIn, RoomIn, SessionIn, UserIn
from roomful_meetings.storage.availability import AvailabilityStore, ZoneRecord
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields, MeetingStore
from roomful_meetings.storage.redis import Redis, Script, load_scripts, open_redis
from roomful_meetings.storage.redis.scripts import LIBRARY_NAME, lua_dir

WIRE_ERRORS: dict[int, type[ApiError]] = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict}
SCRIPTS = load_scripts()
LOBBY = Source("room", "lobby", "lobby")
START, END = 29_000_000, 29_000_060  # epoch minutes, in 2025


def header(name: str) -> str:
    text = (lua_dir() / f"{name}.lua").read_text()
    match = re.match(r"--\[\[(.*?)\]\]", text, re.DOTALL)
    assert match, f"{name}.lua has no header block"
    return match[1]


def declared_codes(name: str) -> set[int]:
    """The codes of `Returns: {0, ...} | {403|404, message}`: each leading number in braces."""
    returns = header(name).partition("Returns:")[2]
    assert returns, f"{name}.lua: the header names no Returns"
    return {
        int(code)
        for group in re.findall(r"\{\s*(\d+(?:\s*\|\s*\d+)*)\s*,", returns)
        for code in group.split("|")
    }


def produced_codes(name: str) -> set[int]:
    """The codes the script's body can fail with."""
    body = (lua_dir() / f"{name}.lua").read_text().partition("]]")[2]
    return {int(code) for code in re.findall(r"\bfail\((\d+)", body)}


class Recorded(dict[str, Script]):
    """The scripts a store may run, noting which ones it looked up to run."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        super().__init__(scripts)
        self.used: set[str] = set()

    def __getitem__(self, name: str) -> Script:
        self.used.add(name)
        return super().__getitem__(name)


@dataclass
class Stores:
    catalog: CatalogStore
    meetings: MeetingStore
    availability: AvailabilityStore


def stores(redis: Redis, keys: Keys, scripts: dict[str, Script]) -> Stores:
    return Stores(
        CatalogStore(redis, scripts, keys),
        MeetingStore(redis, scripts, keys),
        AvailabilityStore(redis, scripts, keys),
    )


Scenario = Callable[[Stores, Stores], Awaitable[object]]  # (all scripts, the one under test)


async def seed(s: Stores) -> None:
    await s.catalog.upsert_users([UserIn(id=u) for u in ("alice", "bob", "carol")])
    await s.catalog.upsert_rooms([RoomIn(id="lobby", networkId="net")])
    await s.catalog.upsert_props([PropIn(roomId="lobby", id="table")])
    await s.catalog.upsert_groups([GroupIn(id="team", memberIds=["alice", "bob"])])


def fields(meeting_id: str) -> MeetingFields:
    stamp = "2025-02-19T10:00:00Z"
    return MeetingFields(
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


async def create(
    s: Stores,
    meeting_id: str = "m1",
    source: Source = LOBBY,
    *,
    organizer: str = "alice",
) -> object:
    key = {"room": s.meetings.keys.room("lobby"), "group": s.meetings.keys.group("team")}[source.type]
    return await s.meetings.create(
        meeting_id, organizer, source, key, START, END, [organizer, "bob"], fields(meeting_id)
    )


async def update(s: Stores, caller: str = "alice", *, meeting_id: str = "m1", end: int = END + 30) -> object:
    return await s.meetings.update(
        meeting_id, caller, start=None, end=end, participants=None, fields=MeetingFields({})
    )


async def missing_room(s: Stores, only: Stores) -> object:
    await s.catalog.delete_room("lobby")
    return await create(only)


async def setup_then(s: Stores, call: Callable[[], Awaitable[object]]) -> object:
    await create(s)
    return await call()


SCENARIOS: dict[tuple[str, int], Scenario] = {
    ("create_meeting", 0): lambda s, only: create(only),
    ("create_meeting", 403): lambda s, only: create(
        only, source=Source("group", "team", ""), organizer="carol"
    ),
    ("create_meeting", 404): missing_room,
    ("create_meeting", 409): lambda s, only: setup_then(s, lambda: create(only)),
    ("update_meeting", 0): lambda s, only: setup_then(s, lambda: update(only)),
    ("update_meeting", 400): lambda s, only: setup_then(s, lambda: update(only, end=START)),
    ("update_meeting", 403): lambda s, only: setup_then(s, lambda: update(only, "bob")),
    ("update_meeting", 404): lambda s, only: update(only, meeting_id="nope"),
    ("delete_meeting", 0): lambda s, only: setup_then(s, lambda: only.meetings.delete("m1", "alice")),
    ("delete_meeting", 403): lambda s, only: setup_then(s, lambda: only.meetings.delete("m1", "bob")),
    ("delete_meeting", 404): lambda s, only: setup_then(s, lambda: only.meetings.delete("m1", "carol")),
    ("get_meeting", 0): lambda s, only: setup_then(s, lambda: only.meetings.get("m1", "bob")),
    ("get_meeting", 404): lambda s, only: setup_then(s, lambda: only.meetings.get("m1", "carol")),
    ("set_rsvp", 0): lambda s, only: setup_then(s, lambda: only.meetings.set_rsvp("m1", "bob", "accepted")),
    ("set_rsvp", 403): lambda s, only: setup_then(
        s, lambda: only.meetings.set_rsvp("m1", "alice", "accepted")
    ),
    ("set_rsvp", 404): lambda s, only: only.meetings.set_rsvp("nope", "bob", "accepted"),
    ("list_user_meetings", 0): lambda s, only: setup_then(
        s, lambda: only.meetings.list_for_user("bob", START, END)
    ),
    ("upsert_users", 0): lambda s, only: only.catalog.upsert_users([UserIn(id="dave")]),
    ("upsert_rooms", 0): lambda s, only: only.catalog.upsert_rooms([RoomIn(id="hall")]),
    ("upsert_props", 0): lambda s, only: only.catalog.upsert_props([PropIn(roomId="lobby", id="stage")]),
    ("upsert_props", 404): lambda s, only: only.catalog.upsert_props([PropIn(roomId="nowhere", id="stage")]),
    ("upsert_groups", 0): lambda s, only: only.catalog.upsert_groups([GroupIn(id="crew", memberIds=["bob"])]),
    ("upsert_social_sessions", 0): lambda s, only: only.catalog.upsert_sessions(
        [SessionIn(id="s1", roomId="lobby")]
    ),
    ("delete_room", 0): lambda s, only: setup_then(s, lambda: only.catalog.delete_room("lobby")),
    ("delete_prop", 0): lambda s, only: only.catalog.delete_prop("lobby", "table"),
    ("delete_group", 0): lambda s, only: only.catalog.delete_group("team"),
    ("delete_social_session", 0): lambda s, only: only.catalog.delete_session("nope"),
    ("delete_user", 0): lambda s, only: setup_then(s, lambda: only.catalog.delete_user("bob")),
    ("set_availability", 0): lambda s, only: only.availability.set_day(
        "bob",
        ZoneRecord(time_zone="", offset_zone="+00:00"),
        date(2025, 2, 19),
        START,
        START + 1440,
        b"\xff" * 180,
    ),
    ("issue_calendar_feed", 0): lambda s, only: only.meetings.feeds.issue("bob", "n1", "h1"),
    ("reset_calendar_feed", 0): lambda s, only: only.meetings.feeds.reset("bob", "n2", "h2"),
    ("read_availability", 0): lambda s, only: only.availability.inputs(
        ["bob"], START, END, default_zone="+00:00"
    ),
}


SCRIPT_NAMES = sorted(path.stem for path in lua_dir().glob("*.lua") if path.name != LIBRARY_NAME)
DECLARED = [(name, code) for name in SCRIPT_NAMES for code in sorted(declared_codes(name))]


@pytest.fixture
async def redis(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    async with open_redis(redis_server.address) as connection:
        await connection.wait_connected()
        yield connection


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_header_declares_success_and_every_code_its_body_fails_with(name: str) -> None:
    declared = declared_codes(name)
    assert 0 in declared
    assert produced_codes(name) <= declared, f"{name}.lua fails with codes its header does not declare"
    assert declared - {0} <= set(WIRE_ERRORS), f"{name}.lua declares a code with no wire error here"


@pytest.mark.parametrize(("name", "code"), DECLARED, ids=[f"{n}-{c}" for n, c in DECLARED])
async def test_each_declared_code_comes_from_a_real_call_as_its_wire_error(
    redis: Redis, prefix: str, name: str, code: int
) -> None:
    scenario = SCENARIOS.get((name, code))
    assert scenario is not None, f"no scenario produces {code} from {name}.lua: add one to SCENARIOS"
    keys = Keys(prefix)
    everything = stores(redis, keys, SCRIPTS)
    await seed(everything)
    script = Recorded({name: SCRIPTS[name]})
    only = stores(redis, keys, script)
    if code == 0:
        await scenario(everything, only)
        assert script.used == {name}
        return
    with pytest.raises(ApiError) as raised:
        await scenario(everything, only)
    assert script.used == {name}
    assert not isinstance(raised.value, InternalError)
    assert type(raised.value) is WIRE_ERRORS[code] and raised.value.code == code
