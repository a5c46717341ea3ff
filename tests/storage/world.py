"""A small seeded world for storage tests: stores over the suite's Redis, the catalog they
need, a single meeting and a weekly series, built with the stores themselves (no server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from roomful_meetings.domain.instances import SeriesState
from roomful_meetings.domain.meetings import Source
from roomful_meetings.domain.recurrence import Series
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.protocol.models import DEFAULT_COLOR
from roomful_meetings.protocol.payloads import GroupIn, PropIn, RoomIn, UserIn
from roomful_meetings.service.series import series_fields
from roomful_meetings.storage.availability import AvailabilityStore
from roomful_meetings.storage.catalog import CatalogStore
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.meetings import MeetingFields, MeetingStore
from roomful_meetings.storage.redis import Redis, Script
from roomful_meetings.storage.series import SeriesStore

LOBBY = Source("room", "lobby", "lobby")
START, END = 29_000_000, 29_000_060  # the single meeting, epoch minutes, in 2025
SERIES = "s1"  # weekly on Mondays 09:00-09:15 UTC from 2027-03-01, alice organizes, bob invited
FIRST = 30_064_860  # 2027-03-01T09:00Z
MONDAY = FIRST + 7 * 1440  # 2027-03-08T09:00Z, the second instance


@dataclass
class Stores:
    catalog: CatalogStore
    meetings: MeetingStore
    availability: AvailabilityStore
    series: SeriesStore


def stores(redis: Redis, keys: Keys, scripts: dict[str, Script]) -> Stores:
    return Stores(
        CatalogStore(redis, scripts, keys),
        MeetingStore(redis, scripts, keys),
        AvailabilityStore(redis, scripts, keys),
        SeriesStore(redis, scripts, keys),
    )


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
) -> msgspec.Raw:
    key = {"room": s.meetings.keys.room("lobby"), "group": s.meetings.keys.group("team")}[source.type]
    return await s.meetings.create(
        meeting_id, organizer, source, key, START, END, [organizer, "bob"], fields(meeting_id)
    )


async def create_series(s: Stores) -> SeriesState:
    """The weekly SERIES, and its state as alice reads it."""
    weekly = Series(parse_rule("FREQ=WEEKLY;BYDAY=MO"), "UTC", FIRST, 15)
    await s.meetings.create(
        SERIES,
        "alice",
        LOBBY,
        s.meetings.keys.room("lobby"),
        FIRST,
        FIRST + 15,
        ["alice", "bob"],
        fields(SERIES),
        series_fields(weekly),
    )
    return (await s.series.get(SERIES, "alice"))[1]


async def rsvp(series: SeriesStore, state: SeriesState, caller: str, status: str) -> bool:
    """The caller's own status for the MONDAY instance (lua/change_instance.lua)."""
    return await series.change_instance(
        state, caller, status, MONDAY, f"{state.sid}_{MONDAY}", event_json=b"{}", bounds=(FIRST, None)
    )


async def split(
    series: SeriesStore, state: SeriesState, caller: str, new_id: str, **extra: Any
) -> msgspec.Raw | None:
    """End the series before MONDAY and start `new_id` there ("" only ends it)."""
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
