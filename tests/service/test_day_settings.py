"""Day settings are wall-clock times of the user's zone, also on 23- and 25-hour days."""

from __future__ import annotations

from datetime import date, datetime

import msgspec
import pytest

from roomful_meetings.domain.bitmaps import span, to_bytes
from roomful_meetings.domain.zones import local_day
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import availability as handlers
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.availability import ZoneRecord
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services


async def day_read(services: Services, user: str, local_date: str) -> list[tuple[str, str]]:
    query = p.LocalDateQuery(localDate=datetime.fromisoformat(local_date))
    reply = msgspec.to_builtins(await handlers.availability_for_day(services, Caller(user), query))
    return [(span["startDate"], span["endDate"]) for span in reply["availability"]["dates"]]


async def set_day(services: Services, user: str, start: str, end: str, zone: str) -> None:
    interval = p.Interval(startDate=datetime.fromisoformat(start), endDate=datetime.fromisoformat(end))
    request = p.SetAvailability(
        availability=p.AvailabilityIn(status="Available", dates=[interval]),
        localDate=datetime.fromisoformat(start),
        timeZone=zone,
    )
    await handlers.set_availability(services, Caller(user), request)


@pytest.mark.parametrize(
    ("start", "end", "in_tokyo"),
    [
        # London's 2031-10-26 has 01:00-02:00 twice; this starts on the second pass
        # (read in Tokyo as 02:27-10:27 when it was kept in elapsed minutes).
        ("2031-10-26T01:27:00+00:00", "2031-10-26T09:27:00+00:00", ("01:27", "09:27")),
        # London's 2031-03-30 skips 01:00-02:00, and this runs across the gap (once 00:30-02:30).
        ("2031-03-30T00:30:00+00:00", "2031-03-30T03:30:00+01:00", ("00:30", "03:30")),
    ],
)
async def test_a_clock_change_day_setting_keeps_its_wall_clock_times_when_the_user_moves(
    redis_server: RedisProcess, prefix: str, start: str, end: str, in_tokyo: tuple[str, str]
) -> None:
    day = start[:10]
    async with open_services(redis_server, prefix) as services:
        await services.catalog.upsert_users([p.UserIn(id="ann")])
        await set_day(services, "ann", start, end, "Europe/London")
        assert await day_read(services, "ann", f"{day}T12:00:00Z") == [(start, end)]  # as set
        await services.catalog.upsert_users([p.UserIn(id="ann", timeZone="Asia/Tokyo")])
        assert await day_read(services, "ann", f"{day}T12:00:00+09:00") == [
            (f"{day}T{in_tokyo[0]}:00+09:00", f"{day}T{in_tokyo[1]}:00+09:00")
        ]


async def test_a_day_setting_stored_by_format_2_reads_as_it_did(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_services(redis_server, prefix) as services:
        await services.catalog.upsert_users([p.UserIn(id="ann", timeZone="Europe/London")])
        day = local_day("Europe/London", date(2031, 10, 26))
        elapsed = to_bytes(span(147, 627), day.length)  # elapsed minutes 02:27-10:27, 188 bytes
        await services.availability.set_day("ann", ZoneRecord("", ""), day.date, day.start, day.end, elapsed)
        assert await day_read(services, "ann", "2031-10-26T12:00:00Z") == [
            ("2031-10-26T01:27:00+00:00", "2031-10-26T09:27:00+00:00")
        ]


async def test_a_day_set_far_east_is_found_after_a_move_far_west(
    redis_server: RedisProcess, prefix: str
) -> None:
    async with open_services(redis_server, prefix) as services:
        await services.catalog.upsert_users(
            [p.UserIn(id="ann"), p.UserIn(id="bob", timeZone="Asia/Kathmandu")]
        )
        # Kiritimati's 2031-06-10 began 18 hours before New York's, where ann then moved.
        none = p.AvailabilityIn(status="Available", dates=[])  # available at no time
        here = datetime.fromisoformat("2031-06-10T12:00:00+14:00")
        await handlers.set_availability(
            services, Caller("ann"), p.SetAvailability(none, localDate=here, timeZone="Pacific/Kiritimati")
        )
        await services.catalog.upsert_users([p.UserIn(id="ann", timeZone="America/New_York")])
        query = p.SlotQuery(
            users=[p.SlotUser(roomful="ann")], localDate=datetime.fromisoformat("2031-06-11T12:00:00+05:45")
        )
        reply = msgspec.to_builtins(await handlers.slots_for_day(services, Caller("bob"), query))
        # bob's day begins at 2031-06-10T18:15Z, inside ann's (New York) 2031-06-10
        assert reply["availableTimeSlots"] == [
            {"startDate": "2031-06-11T09:45:00+05:45", "endDate": "2031-06-12T00:00:00+05:45"}
        ]
