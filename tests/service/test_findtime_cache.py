"""findMeetingTimes' caches (service/findcache.py) never answer what a fresh instance would
not. Two instances share one Redis: one searches again and again while the other changes
calendars (meetings, daily series, RSVPs, weekly patterns, explicit days, profile zones,
deleted attendees); after every change the searching instance's reply equals, byte for
byte, that of an instance with nothing cached, and so does its next (cached) reply."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import msgspec
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomful_meetings.app import build_services
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import findtime
from roomful_meetings.service.availability import set_availability
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.findcache import Recent
from roomful_meetings.service.meetings import accept_meeting, create_meeting, decline_meeting
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services

PEOPLE = 4  # person 0 asks; 1..3 are attendees (3 optional)
DAY = datetime(2031, 5, 5, tzinfo=UTC)  # a Monday
ZONES = ["UTC", "Asia/Tokyo", "America/New_York"]

Op = tuple[str, int, int, int]  # kind, person, a, b
OPS = st.tuples(
    st.sampled_from(["meeting", "series", "accept", "decline", "pattern", "day", "zone", "delete"]),
    st.integers(0, PEOPLE - 1),
    st.integers(0, 40),
    st.integers(0, 40),
)


def at(quarter: int) -> datetime:
    """A time on DAY from 06:00 UTC in quarter hours."""
    return DAY + timedelta(hours=6, minutes=15 * quarter)


async def change(
    services: Services, ids: list[str], made: list[tuple[str, str, list[str]]], gone: set[str], op: Op
) -> None:
    """Apply one change through `services` (another instance than the searching one)."""
    kind, person, a, b = op
    uid = ids[person]
    if uid in gone:
        return
    if kind in ("meeting", "series"):
        invited = [ids[i] for i in range(PEOPLE) if i != person and (a + i) % 2 and ids[i] not in gone]
        request = p.CreateMeeting(
            sourceType="room",
            sourceIds=["room"],
            subject="s",
            startDate=at(a),
            endDate=at(a) + timedelta(minutes=15 * (1 + b % 8)),
            invitedUserIds=invited,
            recurrence=p.RecurrenceIn(rule="FREQ=DAILY;COUNT=3", timeZone="UTC")
            if kind == "series"
            else None,
        )
        reply = await create_meeting(services, Caller(uid), request)
        made.append((str(msgspec.json.decode(reply.meeting)["meetingId"]), uid, invited))
    elif kind in ("accept", "decline") and made:
        meeting_id, _, invited = made[a % len(made)]
        if uid in invited:
            answer = accept_meeting if kind == "accept" else decline_meeting
            await answer(services, Caller(uid), p.MeetingRef(meetingId=meeting_id))
    elif kind in ("pattern", "day"):
        hours = p.Interval(startDate=at(a), endDate=at(a) + timedelta(minutes=15 * (4 + b)))
        availability = (
            p.AvailabilityIn(status="Available", dates=[hours], repetition=0b1111111)
            if kind == "pattern"
            else p.AvailabilityIn(status="NotAvailable", dates=[hours])
        )
        await set_availability(services, Caller(uid), p.SetAvailability(availability, localDate=at(a)))
    elif kind == "zone":
        await services.catalog.upsert_users([p.UserIn(id=uid, timeZone=ZONES[a % len(ZONES)])])
    elif kind == "delete" and person:  # the asker stays
        await services.catalog.delete_user(uid)  # and the meetings they organized
        gone.add(uid)
        made[:] = [m for m in made if m[1] != uid]


_examples = itertools.count()


@settings(
    max_examples=max(25, settings().max_examples // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(OPS, max_size=10), st.sampled_from([(0, 0), (15, 10)]), st.sampled_from([0, 50]))
def test_a_cached_search_answers_what_a_fresh_instance_does(
    redis_server: RedisProcess, prefix: str, ops: list[Op], buffers: tuple[int, int], share: int
) -> None:
    run = next(_examples)
    ids = [f"c{i}-{run}" for i in range(PEOPLE)]
    ask = p.FindMeetingTimes(
        attendees=[
            p.Attendee(roomful=uid, type="optional" if i == PEOPLE - 1 else "required")
            for i, uid in enumerate(ids[1:], 1)
        ],
        startDate=DAY + timedelta(hours=8),
        endDate=DAY + timedelta(hours=18),
        duration=60,
        minimumAttendeePercentage=share,
        bufferBefore=buffers[0],
        bufferAfter=buffers[1],
        maxCandidates=100,
        timeZone="UTC",
    )

    async def check() -> None:
        async with open_services(redis_server, prefix) as searching:
            other = build_services(searching.settings, searching.availability.redis)
            await other.catalog.upsert_rooms([p.RoomIn(id="room")])
            await other.catalog.upsert_users([p.UserIn(id=uid, timeZone="UTC") for uid in ids])
            made: list[tuple[str, str, list[str]]] = []
            gone: set[str] = set()
            for op in [None, *ops]:
                if op is not None:
                    await change(other, ids, made, gone, op)
                fresh = build_services(searching.settings, searching.availability.redis)
                expected = msgspec.json.encode(await findtime.find_meeting_times(fresh, Caller(ids[0]), ask))
                for _ in range(2):  # the second from the reply cache
                    got = await findtime.find_meeting_times(searching, Caller(ids[0]), ask)
                    assert msgspec.json.encode(got) == expected, op
            assert len(searching.searches.replies) > 0  # the cache was in play

    trio.run(check)


def test_recent_keeps_the_most_recently_used_within_its_budget() -> None:
    cache: Recent[str, bytes] = Recent(10, len)
    cache.put("a", b"1234")
    cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # now b is the least recently used
    cache.put("c", b"1234")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (b"1234", None, b"1234")
    assert cache.used == 8
    cache.put("a", b"123456")  # replaced: its old size is given back
    assert cache.used == 10 and len(cache) == 2
    cache.put("huge", b"x" * 11)  # larger than the budget: not kept, nothing dropped for it
    assert cache.get("huge") is None and len(cache) == 2
