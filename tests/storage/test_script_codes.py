"""Every output code a Lua script's header declares, produced by a real call and mapped to
what the storage layer turns it into (issue 13: create_meeting's 409 had no error class and
surfaced as a 500).

Each (script, code) pair read from the headers (`Header.codes`, the loader's own parser)
needs a scenario below: a header that gains a code fails here until a scenario produces it.
The last call of a scenario goes through stores that hold that one script only, so the
code cannot come from another script.

Codes 400-409 are wire errors (an ApiError the client gets). Codes 299 and 300 are internal
signals that never reach the wire: storage/base.py raises StaleVersion for 299 (the series
changed since it was read; storage/series.py prepares the change again) and SeriesRedirect
for 300 (update_meeting found a series; the service routes the change to update_series).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.domain.meetings import Source
from roomful_meetings.errors import ApiError, BadRequest, Conflict, Forbidden, InternalError, NotFound
from roomful_meetings.protocol.payloads import GroupIn, PropIn, RoomIn, SessionIn, UserIn
from roomful_meetings.storage.availability import ZoneRecord
from roomful_meetings.storage.base import SeriesRedirect, StaleVersion, Write
from roomful_meetings.storage.events import EventStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields
from roomful_meetings.storage.redis import Redis, Script, load_scripts
from roomful_meetings.storage.redis.scripts import Header, lua_dir
from roomful_meetings.storage.series import MAX_INSTANCE_ENTRIES
from tests.storage.world import (
    END,
    MONDAY,
    SERIES,
    START,
    Stores,
    create,
    create_series,
    rsvp,
    seed,
    split,
    stores,
)

TEAM = Source("group", "team", "")
WIRE_ERRORS: dict[int, type[ApiError]] = {400: BadRequest, 403: Forbidden, 404: NotFound, 409: Conflict}
# What storage/base.py must raise for the internal signal codes (see the module docstring).
SIGNALS: dict[int, type[Exception]] = {299: StaleVersion, 300: SeriesRedirect}
SCRIPTS = load_scripts()


def declared_codes(name: str) -> frozenset[int]:
    header = SCRIPTS[name].header
    assert header is not None, f"{name}.lua was loaded without its header"
    return header.codes


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


def events_of(only: Stores) -> EventStore:
    return EventStore(only.series.redis, only.series.scripts, only.series.keys)


async def replay(only: Stores, event_id: str) -> list[object]:
    key = only.series.keys.request("alice", event_id)
    return await only.series.run("replay_request", [key], [], write=Write(key))


async def replayed(s: Stores, only: Stores) -> None:
    """A change's stored result (any change script stores it) is answered again."""
    key = s.series.keys.request("alice", "sent-once")
    first = await s.series.run(
        "mark_outbox", [s.series.keys.outbox(), s.series.keys.released()], [], write=Write(key)
    )
    assert await replay(only, "sent-once") == first


Scenario = Callable[[Stores, Stores], Awaitable[object]]  # (all scripts, the one under test)
OnSeries = Callable[[SeriesState], Awaitable[object]]


async def update(s: Stores, caller: str = "alice", *, meeting_id: str = "m1", end: int = END + 30) -> object:
    return await s.meetings.update(
        meeting_id, caller, start=None, end=end, participants=None, fields=MeetingFields({}), max_invitees=100
    )


async def missing_room(s: Stores, only: Stores) -> object:
    await s.catalog.delete_room("lobby")
    return await create(only)


async def setup_then(s: Stores, call: Callable[[], Awaitable[object]]) -> object:
    await create(s)
    return await call()


async def session_ending_before_its_stored_start(s: Stores, only: Stores) -> object:
    at = datetime(2030, 1, 1, 10, tzinfo=UTC)
    await s.catalog.upsert_sessions(
        [SessionIn(id="s1", roomId="lobby", startDate=at, endDate=at + timedelta(hours=1))]
    )
    await only.catalog.upsert_sessions([SessionIn(id="s1", roomId="lobby", endDate=at - timedelta(hours=1))])
    return None


async def on_series(s: Stores, call: OnSeries) -> object:
    """`call` with the state of a new SERIES."""
    return await call(await create_series(s))


async def stale(s: Stores, call: OnSeries) -> object:
    """`call` with the SERIES' state as read before bob's RSVP moved its version on."""
    before = await create_series(s)
    await rsvp(s.series, before, "bob", "declined")
    return await call(before)


async def full_instance_hash(s: Stores, call: OnSeries) -> object:
    """`call` with the state of a SERIES whose instance hash already holds the most fields
    one may (storage/series.py MAX_INSTANCE_ENTRIES), none of them the MONDAY instance's."""
    state = await create_series(s)
    flat: list[str | int] = []
    for i in range(MAX_INSTANCE_ENTRIES):
        flat += [f"c:{MONDAY + 10_080 * (i + 1)}", 1]
    await s.series.redis.execute("HSET", s.series.keys.series_instances(SERIES), *flat)
    return await call(state)


async def read_series_busy(s: Stores, only: Stores) -> object:
    """The series' state is already parsed at its version (a first search), so a second
    search reads ids and versions only (read_series_busy.lua), no state."""
    await create_series(s)
    first = await s.series.busy_states(["bob"], MONDAY - 60, MONDAY + 60)
    again = await only.series.busy_states(["bob"], MONDAY - 60, MONDAY + 60)
    assert again == first and again[0] == {"bob": [SERIES]}
    return again


async def update_series(only: Stores, state: SeriesState, caller: str) -> object:
    values: dict[str, object] = {"j:subject": "New"}
    return await only.series.update(
        SERIES, caller, state.version, participants=None, reset=False, values=values
    )


SCENARIOS: dict[tuple[str, int], Scenario] = {
    ("create_meeting", 0): lambda s, only: create(only),
    ("create_meeting", 403): lambda s, only: create(
        only, source=Source("group", "team", ""), organizer="carol"
    ),
    ("create_meeting", 404): missing_room,
    ("create_meeting", 409): lambda s, only: setup_then(s, lambda: create(only)),
    ("check_change", 0): lambda s, only: only.meetings.check_change(
        "alice", ["bob"], TEAM, only.meetings.keys.group("team")
    ),
    ("check_change", 403): lambda s, only: only.meetings.check_change(
        "carol", ["bob"], TEAM, only.meetings.keys.group("team")
    ),
    ("check_change", 404): lambda s, only: only.meetings.check_change("alice", ["bob", "nobody"]),
    ("update_meeting", 0): lambda s, only: setup_then(s, lambda: update(only)),
    ("update_meeting", 400): lambda s, only: setup_then(s, lambda: update(only, end=START)),
    ("update_meeting", 403): lambda s, only: setup_then(s, lambda: update(only, "bob")),
    ("update_meeting", 404): lambda s, only: update(only, meeting_id="nope"),
    ("update_meeting", 300): lambda s, only: on_series(s, lambda _: update(only, meeting_id=SERIES)),
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
    ("upsert_social_sessions", 400): lambda s, only: session_ending_before_its_stored_start(s, only),
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
    # An open-ended window, as meeting counts read it: a bounded one also reads the users'
    # series alongside (read_series_busy.lua), since series are busy time too.
    ("read_availability", 0): lambda s, only: only.availability.inputs(
        ["bob"], START, None, default_zone="+00:00"
    ),
    ("get_series", 0): lambda s, only: on_series(s, lambda _: only.series.get(SERIES, "bob")),
    ("get_series", 404): lambda s, only: on_series(s, lambda _: only.series.get(SERIES, "carol")),
    ("read_series_busy", 0): read_series_busy,
    ("read_series_states", 0): lambda s, only: on_series(s, lambda _: only.series.states([SERIES, "nope"])),
    ("release_events", 0): lambda s, only: only.series.release("9999999999999-0"),
    ("read_events", 0): lambda s, only: setup_then(s, lambda: events_of(only).last_event_id("bob")),
    ("mark_outbox", 0): lambda s, only: only.series.run(
        "mark_outbox", [only.series.keys.outbox(), only.series.keys.released()], []
    ),
    ("replay_request", 0): lambda s, only: replayed(s, only),
    ("replay_request", 404): lambda s, only: replay(only, "never-sent"),
    ("change_instance", 0): lambda s, only: on_series(s, lambda st: rsvp(only.series, st, "bob", "declined")),
    ("change_instance", 403): lambda s, only: on_series(  # the organizer has no status to set
        s, lambda st: rsvp(only.series, st, "alice", "accepted")
    ),
    ("change_instance", 404): lambda s, only: on_series(
        s, lambda st: rsvp(only.series, st, "carol", "accepted")
    ),
    ("change_instance", 299): lambda s, only: stale(s, lambda st: rsvp(only.series, st, "bob", "accepted")),
    ("change_instance", 400): lambda s, only: full_instance_hash(
        s, lambda st: rsvp(only.series, st, "bob", "declined")
    ),
    ("update_series", 0): lambda s, only: on_series(s, lambda st: update_series(only, st, "alice")),
    ("update_series", 403): lambda s, only: on_series(s, lambda st: update_series(only, st, "bob")),
    ("update_series", 404): lambda s, only: on_series(s, lambda st: update_series(only, st, "carol")),
    ("update_series", 299): lambda s, only: stale(s, lambda st: update_series(only, st, "alice")),
    ("split_series", 0): lambda s, only: on_series(s, lambda st: split(only.series, st, "alice", "n1")),
    ("split_series", 403): lambda s, only: on_series(s, lambda st: split(only.series, st, "bob", "n1")),
    ("split_series", 404): lambda s, only: on_series(s, lambda st: split(only.series, st, "carol", "n1")),
    ("split_series", 409): lambda s, only: setup_then(  # the new series' id is taken
        s, lambda: on_series(s, lambda st: split(only.series, st, "alice", "m1"))
    ),
    ("split_series", 299): lambda s, only: stale(s, lambda st: split(only.series, st, "alice", "n1")),
}


def test_header_codes_are_the_leading_numbers_of_each_brace_spaces_or_not() -> None:
    source = """--[[
  Mode: read
  KEYS[1]: a key
  Returns: {0, has_more (0|1), {meeting JSON...}} | {403|404, message}
         | { 400 | 409 , message} | {299}: a signal
]]"""
    assert Header.parse(source).codes == {0, 299, 400, 403, 404, 409}


SCRIPT_NAMES = sorted(SCRIPTS)
DECLARED = [(name, code) for name in SCRIPT_NAMES for code in sorted(declared_codes(name))]


@pytest.mark.parametrize("name", SCRIPT_NAMES)
def test_a_header_declares_success_and_every_code_its_body_fails_with(name: str) -> None:
    declared = declared_codes(name)
    assert 0 in declared
    assert produced_codes(name) <= declared, f"{name}.lua fails with codes its header does not declare"
    unmapped = declared - {0} - set(WIRE_ERRORS) - set(SIGNALS)
    assert not unmapped, f"{name}.lua declares {sorted(unmapped)}, neither a wire error nor a signal here"


@pytest.mark.parametrize(("name", "code"), DECLARED, ids=[f"{n}-{c}" for n, c in DECLARED])
async def test_each_declared_code_comes_from_a_real_call_as_what_storage_makes_of_it(
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
    expected = WIRE_ERRORS.get(code) or SIGNALS.get(code)
    assert expected is not None, f"{name}.lua: code {code} maps to nothing here"
    with pytest.raises(Exception) as raised:
        await scenario(everything, only)
    assert script.used == {name}
    assert type(raised.value) is expected, f"{name}.lua's {code} became {raised.value!r}"
    if isinstance(raised.value, ApiError):  # a wire error carries its code to the client
        assert not isinstance(raised.value, InternalError) and raised.value.code == code
