"""Slots, availability reads and meeting counts, checked against the minute oracle.

Random people in random zones (30-minute DST, +13:45, negative DST, no DST at all), with
weekly patterns and day settings made on clock-change days, month ends and 29 February,
some of whom move to another zone afterwards, and meetings between them. The handlers run
against the suite's real Redis; their replies are compared as text with what the oracle
(tests/service/oracle.py, stdlib zoneinfo only) says, so a wrong offset fails like a wrong
instant. The `ci` hypothesis profile keeps the run short; HYPOTHESIS_PROFILE=long runs more.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import availability as handlers
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.meetings import create_meeting, decline_meeting
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services
from tests.service.oracle import (
    DaySet,
    Meeting,
    PatternSet,
    Person,
    Status,
    day_range,
    expected,
    local,
    month_of,
)

ZONES = [
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Africa/Casablanca",
    "Europe/Dublin",
    "America/St_Johns",
    "Europe/London",
    "Australia/Sydney",
    "America/New_York",
]
YEARS = (date(2031, 1, 1), date(2033, 12, 31))


def change_days(zone: str) -> list[date]:
    """The days (and their neighbours) on which `zone` changes its offset: where the offset
    at one noon differs from the next."""
    tz = ZoneInfo(zone)
    out: set[date] = set()
    day = YEARS[0]
    while day < YEARS[1]:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
        if noon.utcoffset() != (noon + timedelta(days=1)).utcoffset():
            out.update(day + timedelta(days=k) for k in (-1, 0, 1, 2))
        day += timedelta(days=1)
    return sorted(out)


CHANGES = {zone: change_days(zone) for zone in ZONES}
# the 23-, 25-, 23.5-hour... days themselves
CHANGE_DAYS = {zone: [d for d in days if len(day_range(zone, d)) != 1440] for zone, days in CHANGES.items()}
SPECIAL = [date(2032, 2, 29), date(2032, 3, 1), date(2031, 12, 31), date(2032, 1, 1), date(2031, 4, 30)]
STATUS: st.SearchStrategy[Status] = st.sampled_from(["Available", "NotAvailable"])


@st.composite
def near(draw: st.DrawFn, zone: str, focus: date) -> date:
    """A day that matters to a query on `focus`: a clock change of `zone` in its month or
    next to it, a month end, or any day within a few weeks."""
    first, last = month_of(focus)
    start, end = first - timedelta(days=7), last + timedelta(days=7)
    changes = [d for d in CHANGE_DAYS[zone] if start <= d < end]
    around = [d for d in CHANGES[zone] + SPECIAL if start <= d < end]
    offset = draw(st.integers(-7, 37))
    return draw(
        st.sampled_from(
            [*changes * 4, *around, focus, last - timedelta(days=1), focus + timedelta(days=offset)]
        )
    )


@st.composite
def intervals(draw: st.DrawFn, zone: str, day: date, longest: int) -> tuple[tuple[int, int], ...]:
    """Up to three intervals starting around `day`, some reaching over its ends."""
    start = day_range(zone, day).start
    out = []
    for _ in range(draw(st.integers(0, 3))):
        a = start + draw(st.integers(-120, 1560))
        out.append((a, a + draw(st.integers(1, longest))))
    return tuple(out)


@st.composite
def setting(draw: st.DrawFn, zone: str, focus: date) -> DaySet | PatternSet:
    day = draw(near(zone, focus))
    hours = day_range(zone, day)
    local_date = hours.start + draw(st.integers(0, len(hours) - 1))
    if draw(st.integers(0, 2)) > 0:
        return DaySet(zone, day, draw(STATUS), draw(intervals(zone, day, 900)), local_date)
    weekdays = draw(st.integers(1, 127))
    return PatternSet(zone, weekdays, draw(STATUS), draw(intervals(zone, day, 1440)), local_date)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Person], list[Meeting], int, int | None]:
    count = draw(st.integers(1, 3))
    # The zone whose clock changes the scenario is about: the query falls near them, and
    # most people set their availability in it, then are read in the zone they move to.
    clock = draw(st.sampled_from(ZONES))
    any_day = draw(st.integers(0, 3)) == 0
    focus = draw(st.dates(*YEARS) if any_day else st.sampled_from([*CHANGES[clock], *SPECIAL]))
    people = []
    for index in range(count):
        zone = draw(st.sampled_from(ZONES))
        set_zone = draw(st.sampled_from([clock, clock, clock, zone, draw(st.sampled_from(ZONES))]))
        settings_ = draw(st.lists(setting(set_zone, focus), min_size=1, max_size=3))
        people.append(Person(f"u{index}", zone, settings_))
    home = people[0].zone
    meetings = []
    window = day_range(home, month_of(focus)[0]).start
    for _ in range(draw(st.integers(0, 4))):
        organizer = draw(st.integers(0, count - 1))
        invited = draw(
            st.sets(
                st.sampled_from([i for i in range(count) if i != organizer]) if count > 1 else st.nothing()
            )
        )
        declined = draw(st.sets(st.sampled_from(sorted(invited)))) if invited else set()
        start = window + draw(st.integers(-2000, 32 * 1440))
        meetings.append(
            Meeting(
                organizer,
                tuple(sorted(invited)),
                tuple(sorted(declined)),
                start,
                start + draw(st.integers(15, 900)),
            )
        )
    query_day = day_range(home, focus)
    query = query_day.start + draw(st.integers(0, len(query_day) - 1))
    duration = draw(st.none() | st.integers(1, 240))
    return people, meetings, query, duration


def stamp(zone: str, minute: int) -> datetime:
    return local(zone, minute)


def utc(minute: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)


async def apply(services: Services, people: list[Person], meetings: list[Meeting], ids: list[str]) -> None:
    """Make the scenario through the handlers: settings, then each person's final zone,
    then the meetings."""
    await services.catalog.upsert_rooms([p.RoomIn(id="room")])
    await services.catalog.upsert_users([p.UserIn(id=uid) for uid in ids])
    for person, uid in zip(people, ids, strict=True):
        for made in person.settings:
            dates = [p.Interval(startDate=utc(a), endDate=utc(b)) for a, b in made.intervals]
            repetition = made.weekdays if isinstance(made, PatternSet) else None
            request = p.SetAvailability(
                availability=p.AvailabilityIn(status=made.status, dates=dates, repetition=repetition),
                localDate=stamp(made.zone, made.local_date),
                timeZone=made.zone,
            )
            await handlers.set_availability(services, Caller(uid), request)
        person.replay()
    await services.catalog.upsert_users(
        [p.UserIn(id=uid, timeZone=person.zone) for person, uid in zip(people, ids, strict=True)]
    )
    for meeting in meetings:
        created = await create_meeting(
            services,
            Caller(ids[meeting.organizer]),
            p.CreateMeeting(
                sourceType="room",
                sourceIds=["room"],
                subject="oracle",
                startDate=utc(meeting.start),
                endDate=utc(meeting.end),
                invitedUserIds=[ids[i] for i in meeting.invited],
            ),
        )
        meeting_id = msgspec.json.decode(created.meeting)["meetingId"]
        for i in meeting.declined:
            await decline_meeting(services, Caller(ids[i]), p.MeetingRef(meetingId=meeting_id))


async def answers(
    services: Services, ids: list[str], query: datetime, duration: int | None
) -> dict[str, Any]:
    caller = Caller(ids[0])
    day = p.LocalDateQuery(localDate=query)
    slots = p.SlotQuery(
        users=[p.SlotUser(roomful=uid) for uid in ids[1:]], localDate=query, duration=duration
    )
    replies = {
        "day": await handlers.availability_for_day(services, caller, day),
        "week": await handlers.availability_for_week(services, caller, day),
        "month": await handlers.availability_for_month(services, caller, day),
        "pattern": await handlers.availability_pattern(services, caller, day),
        "day_slots": await handlers.slots_for_day(services, caller, slots),
        "month_slots": await handlers.slots_for_month(services, caller, slots),
        "counts": await handlers.meeting_counts(
            services, caller, p.CountsQuery(localDateNow=query, size=366)
        ),
    }
    return {name: msgspec.to_builtins(reply) for name, reply in replies.items()}


_examples = itertools.count()
# Half the profile's examples: each walks up to three people over five weeks, minute by
# minute (ci: 30, 10-15 s on a loaded 2-core machine; long: 1000).
EXAMPLES = max(10, settings().max_examples // 2)
# No shrinking: an example costs a Redis round of a few hundred milliseconds, so shrinking
# would outlast the suite's 120 s timeout and hide the difference behind a timeout. The
# failing example is printed as drawn, and the assertion shows which answers differ.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenarios(), st.booleans())
def test_slots_availability_and_counts_agree_with_the_minute_oracle(
    redis_server: RedisProcess,
    prefix: str,
    scenario: tuple[list[Person], list[Meeting], int, int | None],
    query_in_utc: bool,
) -> None:
    people, meetings, query, duration = scenario
    ids = [f"{person.id}-{next(_examples)}" for person in people]
    asked = utc(query) if query_in_utc else stamp(people[0].zone, query)

    async def check() -> None:
        async with open_services(redis_server, prefix) as services:
            await apply(services, people, meetings, ids)
            got = await answers(services, ids, asked, duration)
        assert got == expected(people, meetings, query, duration)

    trio.run(check)
