"""Contract 11: a feed's expansion over any window inside its range equals what
listUserMeetings lists for that window: the same instants, subjects and statuses.

Random series in zones with clock changes, starting on or near a change (nonexistent and
ambiguous wall times included), with cancelled, moved, renamed and declined instances and
splits ("following") after the change; the feed is expanded by `recurring-ical-events`, an
RRULE implementation independent of domain/recurrence.py. Bounded by the `ci` profile.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import msgspec
import recurring_ical_events
import trio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from roomful_meetings.errors import ApiError
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import feeds, meetings
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services
from tests.service.test_feeds import props

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Europe/Berlin"]
DAYS = [
    datetime(2031, 3, 8),
    datetime(2031, 3, 29),
    datetime(2031, 4, 5),
    datetime(2031, 10, 25),
    datetime(2031, 11, 1),
]
RULES = [
    "FREQ=DAILY;COUNT=12",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;COUNT=8",
    "FREQ=WEEKLY;BYDAY={wd},{wd2};UNTIL=20311220T000000Z",
    "FREQ=MONTHLY;COUNT=5",
]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
NOW = datetime(2031, 4, 1, tzinfo=UTC)  # the feed shows 2031-03-01 .. 2032-04-01
FEED_LOW, FEED_HIGH = NOW - timedelta(days=31), NOW + timedelta(days=366)
EXAMPLES = max(8, settings().max_examples // 4)
PHASES = (Phase.explicit, Phase.reuse, Phase.generate)  # no shrinking: see test_zone_oracle.py
_examples = itertools.count()

Change = tuple[str, int, int]  # (what, which instance of the listing, a number)


@st.composite
def series_drawn(draw: st.DrawFn) -> dict[str, Any]:
    zone = draw(st.sampled_from(ZONES))
    day = draw(st.sampled_from(DAYS)) + timedelta(days=draw(st.integers(-1, 1)))
    wall = day.replace(hour=draw(st.integers(0, 23)), minute=draw(st.sampled_from([0, 30])))
    start = wall.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    wd = start.astimezone(ZoneInfo(zone)).weekday()
    rule = draw(st.sampled_from(RULES)).format(wd=WEEKDAYS[wd], wd2=WEEKDAYS[(wd + 2) % 7])
    length = draw(st.sampled_from([30, 60, 90]))
    changes = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["cancel", "move", "rename", "decline", "accept", "split"]),
                st.integers(0, 30),
                st.integers(-180, 180),
            ),
            max_size=5,
        )
    )
    return {"zone": zone, "start": start, "rule": rule, "length": length, "changes": changes}


async def apply(services: Services, drawn: dict[str, Any], n: int) -> None:
    alice, bob = Caller(f"alice-{n}"), Caller(f"bob-{n}")
    await services.catalog.upsert_users([p.UserIn(id=alice.user_id), p.UserIn(id=bob.user_id)])
    start: datetime = drawn["start"]
    data = {
        "sourceType": "direct",
        "sourceIds": [bob.user_id],
        "subject": "Series",
        "startDate": start,
        "endDate": start + timedelta(minutes=drawn["length"]),
        "recurrence": {"rule": drawn["rule"], "timeZone": drawn["zone"]},
    }
    await meetings.create_meeting(services, alice, msgspec.convert(data, p.CreateMeeting))
    for what, which, number in drawn["changes"]:
        listing = await meetings.list_user_meetings(
            services, bob, p.ListUserMeetings(startDate=FEED_LOW, endDate=FEED_LOW + timedelta(days=366))
        )
        ids = [msgspec.json.decode(raw)["meetingId"] for raw in listing.meetings]
        if not ids:
            return
        mid = ids[which % len(ids)]
        # a change the contract refuses (a time outside the rule's order, say) changes nothing
        with contextlib.suppress(ApiError):
            await change(services, alice, bob, what, mid, number)


async def change(services: Services, alice: Caller, bob: Caller, what: str, mid: str, number: int) -> None:
    if what == "cancel":
        await meetings.delete_meeting(services, alice, p.DeleteMeeting(meetingId=mid))
    elif what == "decline":
        await meetings.decline_meeting(services, bob, p.MeetingRef(meetingId=mid))
    elif what == "accept":
        await meetings.accept_meeting(services, bob, p.MeetingRef(meetingId=mid))
    elif what == "rename":
        await meetings.update_meeting(
            services, alice, p.UpdateMeeting(meetingId=mid, subject=f"Renamed {number}")
        )
    elif what == "split":
        await meetings.update_meeting(
            services, alice, p.UpdateMeeting(meetingId=mid, subject=f"Split {number}", scope="following")
        )
    else:
        got = msgspec.json.decode(
            (await meetings.get_meeting(services, alice, p.MeetingRef(meetingId=mid))).meeting
        )
        moved = datetime.fromisoformat(got["startDate"]) + timedelta(minutes=number)
        length = datetime.fromisoformat(got["endDate"]) - datetime.fromisoformat(got["startDate"])
        await meetings.update_meeting(
            services, alice, p.UpdateMeeting(meetingId=mid, startDate=moved, endDate=moved + length)
        )


PARTSTATS = {"NEEDS-ACTION": "received", "ACCEPTED": "accepted", "DECLINED": "declined"}


def expand_with_status(
    body: bytes, start: datetime, end: datetime, uid: str
) -> list[tuple[datetime, datetime, str, str]]:
    out = []
    for component in recurring_ical_events.of(icalendar.Calendar.from_ical(body)).between(start, end):
        event = props(component)
        attendees = event.get("ATTENDEE", [])
        attendees = attendees if isinstance(attendees, list) else [attendees]
        (mine,) = [a for a in attendees if str(a) == f"urn:roomful:{uid}"]
        out.append(
            (
                event["DTSTART"].dt.astimezone(UTC),
                event["DTEND"].dt.astimezone(UTC),
                str(event["SUMMARY"]),
                PARTSTATS[mine.params["PARTSTAT"]],
            )
        )
    return sorted(out)


async def listed_with_status(
    services: Services, caller: Caller, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str, str]]:
    reply = await meetings.list_user_meetings(
        services, caller, p.ListUserMeetings(startDate=start, endDate=end)
    )
    out = []
    for raw in reply.meetings:
        m = msgspec.json.decode(raw)
        out.append(
            (
                datetime.fromisoformat(m["startDate"]),
                datetime.fromisoformat(m["endDate"]),
                m["subject"],
                m["status"],
            )
        )
    return sorted(out)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    series_drawn(),
    st.lists(st.tuples(st.integers(0, 396 * 24), st.integers(1, 366 * 24)), min_size=1, max_size=4),
)
def test_the_feed_expands_to_what_list_user_meetings_lists(
    redis_server: RedisProcess, prefix: str, drawn: dict[str, Any], windows: list[tuple[int, int]]
) -> None:
    n = next(_examples)

    async def check() -> None:
        async with open_services(redis_server, prefix) as opened:
            services = replace(
                opened, settings=replace(opened.settings, public_base_url="https://meet.example")
            )
            await apply(services, drawn, n)
            bob = Caller(f"bob-{n}")
            url = (await feeds.get_calendar_feed(services, bob, p.Empty())).url
            found = await feeds.render_feed(
                services, url.rsplit("/", 1)[1].removesuffix(".ics"), NOW.timestamp()
            )
            assert found is not None
            for offset, hours in windows:
                start = FEED_LOW + timedelta(hours=offset)
                end = min(start + timedelta(hours=hours), FEED_HIGH)
                if end <= start:
                    continue
                assert expand_with_status(found.body, start, end, bob.user_id) == await listed_with_status(
                    services, bob, start, end
                ), (start, end)

    trio.run(check)
