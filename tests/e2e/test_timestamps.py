"""Every timestamp field of every endpoint, at the ends of the accepted range (issue 13).

The last accepted instant must work end to end (stored, formatted, turned into local days
in the zones furthest from UTC); the first refused ones must be a 400 naming the field,
never a 500.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from trio_websocket import WebSocketConnection

from roomful_meetings.domain.meetings import Source
from roomful_meetings.domain.time import END_MS
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingStore
from roomful_meetings.storage.redis import load_scripts
from tests.conftest import ServerHandle, token
from tests.e2e.world import redis_of, seed
from tests.storage.world import fields as stored_fields
from tests.wsraw import open_ws

LATE = "9998-12-31T23:59:00Z"  # the last accepted minute
EARLIER = "9998-12-31T21:00:00Z"
# 9998-12-31T22:59Z, written the two ways: the wall clock of the zone furthest ahead of UTC,
# and milliseconds.
ACCEPTED: list[Any] = ["9999-01-01T12:59:00+14:00", END_MS - 3_600_000 - 1]
REFUSED: list[Any] = [
    "9999-12-31T23:00:00-23:59",  # the issue's: year 10000 in UTC
    "9999-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "1969-12-31T23:59:59Z",
    END_MS,
    -1,
    10**30,
    -(10**30),
]
FAR_AHEAD = {"timeZone": "Pacific/Kiritimati"}  # +14:00: local days run into the next year
FAR_BEHIND = {"timeZone": "Etc/GMT+12"}  # -12:00

REQUEST_IDS = itertools.count()
MEETING = "__meeting__"  # replaced by the id of the meeting each test creates first

Build = Callable[[Any], dict[str, Any]]


def room_meeting(start: Any, end: Any) -> dict[str, Any]:
    return {"sourceType": "room", "sourceIds": ["lobby"], "subject": "s", "startDate": start, "endDate": end}


def legacy_meeting(start: Any, end: Any) -> dict[str, Any]:
    return {"meeting": {"startDate": start, "endDate": end, "subject": "s", "roomId": "lobby"}}


def availability(v: Any, repetition: int = 0, **zone: str) -> dict[str, Any]:
    """A setting whose localDate is `v`, over a valid interval."""
    dates = [{"startDate": EARLIER, "endDate": LATE}]
    return {
        "availability": {"status": "Available", "dates": dates, "repetition": repetition},
        "localDate": v,
        **zone,
    }


CASES: list[tuple[str, str, Build]] = [
    ("meeting:createMeeting", "data.startDate", lambda v: room_meeting(v, LATE)),
    ("meeting:createMeeting", "data.endDate", lambda v: room_meeting(EARLIER, v)),
    ("meeting:updateMeeting", "data.startDate", lambda v: {"meetingId": MEETING, "startDate": v}),
    (
        "meeting:updateMeeting",
        "data.endDate",
        lambda v: {"meetingId": MEETING, "startDate": EARLIER, "endDate": v},
    ),
    (
        "meeting:update",
        "data.meeting.startDate",
        lambda v: {"meetingId": MEETING, "meeting": {"startDate": v}},
    ),
    (
        "meeting:update",
        "data.meeting.endDate",
        lambda v: {"meetingId": MEETING, "meeting": {"startDate": EARLIER, "endDate": v}},
    ),
    ("meeting:listUserMeetings", "data.startDate", lambda v: {"startDate": v, "endDate": LATE}),
    ("meeting:listUserMeetings", "data.endDate", lambda v: {"startDate": EARLIER, "endDate": v}),
    ("meeting:create", "data.meeting.startDate", lambda v: legacy_meeting(v, LATE)),
    ("meeting:create", "data.meeting.endDate", lambda v: legacy_meeting(EARLIER, v)),
    ("meeting:listUserMeetingsInDateRange", "data.startDate", lambda v: {"startDate": v, "endDate": LATE}),
    ("meeting:listUserMeetingsInDateRange", "data.endDate", lambda v: {"startDate": EARLIER, "endDate": v}),
    (
        "meeting:setUserAvailability",
        "data.availability.dates[0].startDate",
        lambda v: {
            "availability": {"status": "Available", "dates": [{"startDate": v, "endDate": LATE}]},
            "localDate": LATE,
        },
    ),
    ("meeting:setUserAvailability", "data.localDate", lambda v: availability(v, 0, **FAR_AHEAD)),
    ("meeting:setUserAvailability", "data.localDate", lambda v: availability(v, 127, **FAR_BEHIND)),
    ("meeting:getUserAvailabilityForDay", "data.localDate", lambda v: {"localDate": v, **FAR_AHEAD}),
    ("meeting:getUserAvailabilityForWeek", "data.localDate", lambda v: {"localDate": v, **FAR_AHEAD}),
    ("meeting:getUserAvailabilityForMonth", "data.localDate", lambda v: {"localDate": v, **FAR_AHEAD}),
    ("meeting:getUserAvailabilityForMonth", "data.localDate", lambda v: {"localDate": v, **FAR_BEHIND}),
    ("meeting:getUserAvailabilityPattern", "data.localDate", lambda v: {"localDate": v, **FAR_AHEAD}),
    (
        "meeting:getTimeSlotsForMeeting",
        "data.localDate",
        lambda v: {"users": [], "localDate": v, **FAR_AHEAD},
    ),
    (
        "meeting:getMeetingTimeSlotsForMonth",
        "data.localDate",
        lambda v: {"users": [], "localDate": v, **FAR_AHEAD},
    ),
    ("meeting:listUserMeetingCounts", "data.localDateNow", lambda v: {"localDateNow": v, **FAR_AHEAD}),
    ("meeting:listUserMeetingCounts", "data.localDateNow", lambda v: {"localDateNow": v, **FAR_BEHIND}),
    (
        "admin:upsertSocialSessions",
        "data.sessions[0].startDate",
        lambda v: {"sessions": [{"id": "s1", "roomId": "lobby", "startDate": v}]},
    ),
    (
        "admin:upsertSocialSessions",
        "data.sessions[0].endDate",
        lambda v: {"sessions": [{"id": "s1", "roomId": "lobby", "endDate": v}]},
    ),
    (
        "admin:upsertSocialSessions",
        "data.sessions[0].startDate",
        lambda v: {"sessions": [{"id": "s1", "roomId": "lobby", "startDate": v, "endDate": LATE}]},
    ),
]


async def ask(ws: WebSocketConnection, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
    """The response to this request; the events that changes push meanwhile are skipped."""
    request_id = f"c-{next(REQUEST_IDS)}"
    await ws.send_message(json.dumps({"endpoint": endpoint, "data": data, "event": {"id": request_id}}))
    while True:
        reply: dict[str, Any] = json.loads(await ws.get_message())
        if reply["event"] == {"id": request_id}:
            return reply


@pytest.mark.parametrize(("endpoint", "field", "build_with"), CASES, ids=[f"{e}-{f}" for e, f, _ in CASES])
async def test_the_last_accepted_instant_works_and_the_first_refused_are_a_400(
    server: ServerHandle, endpoint: str, field: str, build_with: Build
) -> None:
    await seed(server)
    headers = [(b"authorization", f"Bearer {token('alice', admin=True)}".encode())]
    async with open_ws(server.url, headers) as ws:
        await ws.get_message()
        # A meeting at the very end, so that counts and slots have local days to compute there.
        created = await ask(ws, "meeting:createMeeting", room_meeting(EARLIER, LATE))
        meeting_id = created["data"]["meeting"]["meetingId"]

        def build(value: Any) -> dict[str, Any]:
            data = json.dumps(build_with(value)).replace(MEETING, meeting_id)
            return dict(json.loads(data))

        for value in ACCEPTED:
            reply = await ask(ws, endpoint, build(value))
            assert reply["error"]["code"] == 0, (value, reply)
        for value in REFUSED:
            reply = await ask(ws, endpoint, build(value))
            assert reply["error"]["code"] == 400, (value, reply)
            assert f"`{field}`" in reply["error"]["message"], (value, reply)


async def test_a_refused_local_date_leaves_the_stored_zone_alone(server: ServerHandle) -> None:
    headers = [(b"authorization", f"Bearer {token('alice')}".encode())]
    async with open_ws(server.url, headers) as ws:
        await ws.get_message()
        refused = {"localDate": "9999-12-31T23:00:00-23:59", "timeZone": "Asia/Tokyo"}
        assert (await ask(ws, "meeting:getUserAvailabilityForDay", refused))["error"]["code"] == 400
        counts = {"localDateNow": END_MS, "timeZone": "Asia/Tokyo"}
        assert (await ask(ws, "meeting:listUserMeetingCounts", counts))["error"]["code"] == 400
        day = await ask(ws, "meeting:getUserAvailabilityForDay", {"localDate": "2030-03-04T12:00:00Z"})
        # No stored zone: the day is the UTC day that the request's own offset gives.
        assert day["data"]["availability"]["dates"][0]["startDate"] == "2030-03-04T00:00:00+00:00"


async def test_counts_survive_meetings_stored_beyond_the_range_by_an_earlier_version(
    server: ServerHandle,
) -> None:
    """Before the range was bounded, meetings up to the end of 9999 were accepted; counts
    over them, in a zone ahead of UTC, ran into year 10000 (a 500)."""
    await seed(server)
    async with redis_of(server) as redis:
        keys = Keys(server.settings.key_prefix)
        meetings = MeetingStore(redis, load_scripts(), keys)
        last = END_MS // 60_000
        for meeting_id, start, end in [
            ("across", last - 120, last + 240),
            ("after", last + 500_000, last + 500_060),
        ]:
            source = Source("room", "lobby", "lobby")
            fields = stored_fields(meeting_id)
            await meetings.create(
                meeting_id, "alice", source, keys.room("lobby"), start, end, ["alice"], fields
            )
    headers = [(b"authorization", f"Bearer {token('alice')}".encode())]
    async with open_ws(server.url, headers) as ws:
        await ws.get_message()
        reply = await ask(ws, "meeting:listUserMeetingCounts", {"localDateNow": EARLIER, **FAR_AHEAD})
        assert reply["error"]["code"] == 0, reply
        # The meeting across the end counts on the local day it starts (9999-01-01 there),
        # up to the end of the range; the one after it is left out.
        assert [(c["count"], c["startDate"]) for c in reply["data"]["meetingCounts"]] == [
            (1, "9999-01-01T00:00:00+14:00")
        ]


async def test_a_time_a_hair_before_the_minute_stays_in_that_minute(server: ServerHandle) -> None:
    """Contract 4: seconds and below are dropped. A .NET client writes 7 fraction digits, and
    its "end of the day" is 23:59:59.9999999: rounded to the microsecond it would be the
    next day's 00:00. The meeting ends at 23:59, and the day asked for is that day."""
    await seed(server)
    headers = [(b"authorization", f"Bearer {token('alice')}".encode())]
    async with open_ws(server.url, headers) as ws:
        await ws.get_message()
        created = await ask(
            ws, "meeting:createMeeting", room_meeting("2030-03-04T09:00:00Z", "2030-03-04T23:59:59.9999999Z")
        )
        assert created["data"]["meeting"]["endDate"] == "2030-03-04T23:59:00Z"
        day = await ask(
            ws, "meeting:getUserAvailabilityForDay", {"localDate": "2030-03-04T23:59:59.9999999+00:00"}
        )
        assert day["data"]["availability"]["dates"][0]["startDate"] == "2030-03-04T00:00:00+00:00"
