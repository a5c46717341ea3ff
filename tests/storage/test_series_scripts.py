"""Every output code of the series scripts (lua/get_series, read_series_busy,
read_series_states, change_instance,
update_series, split_series, and update_meeting's 300), called through storage/series.py on
the suite's Redis, plus the NOSCRIPT path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from roomful_meetings.client import connect
from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.errors import ApiError
from roomful_meetings.storage.base import SeriesRedirect, StaleVersion
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields, MeetingStore
from roomful_meetings.storage.redis.scripts import load_scripts
from roomful_meetings.storage.series import SeriesStore
from tests.conftest import ServerHandle, token
from tests.e2e.world import meeting, redis_of, seed

WEEKLY = meeting(
    "2027-03-01T09:00:00Z",
    "2027-03-01T09:15:00Z",
    invited=["bob"],
    recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO", "timeZone": "UTC"},
)
MONDAY = 30_074_940  # 2027-03-08T09:00Z, the second instance, in epoch minutes


@asynccontextmanager
async def stores(server: ServerHandle) -> AsyncIterator[tuple[SeriesStore, MeetingStore, str, str]]:
    """A series (alice organizes, bob invited) and a single meeting, and the stores."""
    await seed(server)
    async with connect(server.url, token("alice")) as alice, redis_of(server) as redis:
        sid = (await alice.call("meeting:createMeeting", WEEKLY))["meeting"]["meetingId"]
        single = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        keys, scripts = Keys(server.settings.key_prefix), load_scripts()
        yield SeriesStore(redis, scripts, keys), MeetingStore(redis, scripts, keys), sid, single


def code_of(error: pytest.ExceptionInfo[ApiError]) -> int:
    return error.value.code


async def expect(code: int, call: Any) -> None:
    with pytest.raises(ApiError) as error:
        await call
    assert code_of(error) == code


async def test_get_series_codes(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, single):
        obj, state = await series.get(sid, "bob")
        assert obj["meetingId"] == sid and state.series.length == 15
        await expect(404, series.get(sid, "carol"))  # not a participant
        await expect(404, series.get(single, "alice"))  # not a series
        await expect(404, series.get("nope", "alice"))


async def test_read_series_busy_code(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, _single):
        by_user, states = await series.busy_states(["bob", "carol"], MONDAY - 60, MONDAY + 60)
        assert by_user == {"bob": [sid], "carol": []} and set(states) == {sid}
        by_user, _ = await series.busy_states(["bob"], 0, 30_000_000)  # before the first start
        assert by_user == {"bob": []}
        (states,) = await series.run("read_series_states", [], [sid, "nope"])  # {0, states}
        assert [state[0].decode() for state in states] == [sid]


async def rsvp(series: SeriesStore, state: SeriesState, caller: str, status: str) -> bool:
    return await series.change_instance(
        state, caller, status, MONDAY, f"x_{MONDAY}", event_json=b"{}", bounds=(state.series.start, None)
    )


async def test_change_instance_codes(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, _single):
        _, before = await series.get(sid, "bob")
        assert await rsvp(series, before, "bob", "declined") is True  # {0, 1}
        _, state = await series.get(sid, "bob")
        assert await rsvp(series, state, "bob", "declined") is False  # {0, 0}: nothing changed
        await expect(403, rsvp(series, state, "alice", "accepted"))  # the organizer
        await expect(403, series.change_instance(state, "bob", "cancel", MONDAY, "x", bounds=(0, None)))
        await expect(404, rsvp(series, state, "carol", "accepted"))
        with pytest.raises(StaleVersion):  # {299}: bob's first RSVP moved the version on
            await rsvp(series, before, "bob", "accepted")
        await expect(404, rsvp(series, replace(state, sid="nope"), "bob", "accepted"))  # no such series


async def test_update_series_codes(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, _single):
        _, state = await series.get(sid, "alice")
        changed = await series.update(
            sid, "alice", state.version, participants=None, reset=False, values={"j:subject": "New"}
        )
        assert b'"subject":"New"' in bytes(changed)
        await expect(403, series.update(sid, "bob", "", participants=None, reset=False, values={}))
        await expect(404, series.update(sid, "carol", "", participants=None, reset=False, values={}))
        await expect(404, series.update("nope", "alice", "", participants=None, reset=False, values={}))
        _, state = await series.get(sid, "alice")
        await expect(
            404,
            series.update(
                sid, "alice", state.version, participants=["alice", "ghost"], reset=False, values={}
            ),
        )
        with pytest.raises(StaleVersion):
            await series.update(sid, "alice", "1", participants=None, reset=False, values={})


async def split(series: SeriesStore, state: SeriesState, caller: str, new_id: str, **extra: Any) -> Any:
    args: dict[str, Any] = {
        "old_values": {"rule": "FREQ=WEEKLY;UNTIL=20270308T085900Z;BYDAY=MO", "hi": MONDAY - 1 + 15},
        "dropped": [],
        "participants": None,
        "reset": False,
        "moved": {},
        "new_values": {"lo": MONDAY, "hi": "inf", "start": MONDAY, "end": MONDAY + 15, "j:meetingId": new_id},
    }
    args.update(extra)
    return await series.split(state, caller, new_id, **args)


async def test_split_series_codes(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, single):
        _, state = await series.get(sid, "alice")
        await expect(403, split(series, state, "bob", "n1"))
        await expect(404, split(series, state, "carol", "n1"))
        await expect(409, split(series, state, "alice", single))  # the new id is taken
        await expect(404, split(series, state, "alice", "n1", participants=["alice", "ghost"]))
        made = await split(series, state, "alice", "n1")  # {0, new series JSON}
        assert made is not None and b'"meetingId":"n1"' in bytes(made)
        with pytest.raises(StaleVersion):
            await split(series, state, "alice", "n2")
        _, state = await series.get("n1", "alice")
        assert await split(series, state, "alice", "") is None  # {0, ""}: only ended


async def test_update_meeting_answers_300_for_a_series(server: ServerHandle) -> None:
    async with stores(server) as (_, meetings, sid, _single):
        with pytest.raises(SeriesRedirect):
            await meetings.update(
                sid, "alice", start=None, end=None, participants=None, fields=MeetingFields({})
            )


async def test_series_scripts_survive_a_script_flush(server: ServerHandle) -> None:
    async with stores(server) as (series, _, sid, _single):
        await series.redis.execute("SCRIPT", "FLUSH")
        _, state = await series.get(sid, "bob")  # NOSCRIPT, loaded, run again
        assert await rsvp(series, state, "bob", "accepted") is True
