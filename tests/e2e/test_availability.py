"""Availability, time slots across zones and DST, and meeting counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import BadRequest
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, seed

EVERY_DAY = 0b1111111
TOKYO_MONDAY = "2030-03-11T12:00:00+09:00"  # New York moved its clocks on Sunday 2030-03-10


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    async with connect(server.url, token("root", admin=True)) as admin:
        await admin.call(
            "admin:upsertUsers", {"users": [{"id": "taro", "email": "Taro@Example.jp"}, {"id": "nina"}]}
        )
    return server


def pattern(start: str, end: str, repetition: int = EVERY_DAY, status: str = "Available") -> dict[str, Any]:
    return {
        "availability": {
            "status": status,
            "dates": [{"startDate": start, "endDate": end}],
            "repetition": repetition,
        },
        "localDate": start,
    }


async def slots(client: Client, **extra: Any) -> list[tuple[str, str]]:
    data = {"users": [{"roomful": "nina"}], "localDate": TOKYO_MONDAY, **extra}
    reply = await client.call("meeting:getTimeSlotsForMeeting", data)
    return [(s["startDate"], s["endDate"]) for s in reply["availableTimeSlots"]]


async def test_tokyo_and_new_york_find_their_overlap_across_new_yorks_clock_change(
    world: ServerHandle,
) -> None:
    async with (
        connect(world.url, token("taro", zoneinfo="Asia/Tokyo")) as taro,
        connect(world.url, token("nina", zoneinfo="America/New_York")) as nina,
    ):
        await taro.call(
            "meeting:setUserAvailability", pattern("2030-03-04T06:00:00+09:00", "2030-03-04T12:00:00+09:00")
        )
        await nina.call(
            "meeting:setUserAvailability", pattern("2030-03-04T08:00:00-05:00", "2030-03-04T20:00:00-05:00")
        )
        # Sunday in New York is already on -04:00: 08:00 there is 21:00 in Tokyo.
        assert await slots(taro) == [("2030-03-11T06:00:00+09:00", "2030-03-11T09:00:00+09:00")]
        by_email = await taro.call(
            "meeting:getTimeSlotsForMeeting",
            {
                "users": [{"email": "taro@example.JP"}, {"roomful": "ghost"}, {"email": "no@one"}],
                "localDate": TOKYO_MONDAY,
                "includeSelf": False,
            },
        )
        assert by_email["availableTimeSlots"] == [
            {"startDate": "2030-03-11T06:00:00+09:00", "endDate": "2030-03-11T12:00:00+09:00"}
        ]

        mid = (
            await nina.call(
                "meeting:createMeeting",
                meeting("2030-03-10T22:00:00Z", "2030-03-10T22:30:00Z", invited=["taro"]),
            )
        )["meeting"]["meetingId"]
        assert await slots(taro) == [
            ("2030-03-11T06:00:00+09:00", "2030-03-11T07:00:00+09:00"),
            ("2030-03-11T07:30:00+09:00", "2030-03-11T09:00:00+09:00"),
        ]
        assert await slots(taro, duration=61) == [("2030-03-11T07:30:00+09:00", "2030-03-11T09:00:00+09:00")]
        await taro.call("meeting:declineMeetingRequest", {"meetingId": mid})
        assert len(await slots(taro)) == 2  # still busy for nina, the organizer
        await nina.call("meeting:deleteMeeting", {"meetingId": mid})
        assert await slots(taro) == [("2030-03-11T06:00:00+09:00", "2030-03-11T09:00:00+09:00")]

        day_off = {
            "availability": {"status": "Available", "dates": []},
            "localDate": "2030-03-10T12:00:00-04:00",
        }
        await nina.call("meeting:setUserAvailability", day_off)
        assert await slots(taro) == []
        month = await taro.call(
            "meeting:getMeetingTimeSlotsForMonth", {"users": [{"roomful": "nina"}], "localDate": TOKYO_MONDAY}
        )
        spans = month["availableTimeSlots"]
        assert spans[0] == {
            "startDate": "2030-03-01T06:00:00+09:00",
            "endDate": "2030-03-01T10:00:00+09:00",
        }  # -05:00 still
        assert {"startDate": "2030-03-11T06:00:00+09:00", "endDate": "2030-03-11T09:00:00+09:00"} not in spans
        assert len(spans) == 30  # every day of March but the day off


async def test_reads_show_the_users_own_days_in_their_zone(world: ServerHandle) -> None:
    async with connect(world.url, token("nina", zoneinfo="America/New_York")) as nina:
        await nina.call(
            "meeting:setUserAvailability",
            pattern("2030-03-04T08:00:00-05:00", "2030-03-04T20:00:00-05:00", repetition=0b0111110),
        )
        await nina.call(
            "meeting:setUserAvailability",
            {
                "availability": {
                    "status": "NotAvailable",
                    "dates": [
                        {"startDate": "2030-03-12T12:00:00-04:00", "endDate": "2030-03-12T13:00:00-04:00"}
                    ],
                },
                "localDate": "2030-03-12T09:00:00-04:00",
            },
        )
        day = (
            await nina.call("meeting:getUserAvailabilityForDay", {"localDate": "2030-03-12T09:00:00-04:00"})
        )["availability"]
        assert day == {
            "status": "Available",
            "dates": [
                {"startDate": "2030-03-12T00:00:00-04:00", "endDate": "2030-03-12T12:00:00-04:00"},
                {"startDate": "2030-03-12T13:00:00-04:00", "endDate": "2030-03-13T00:00:00-04:00"},
            ],
        }
        week = (
            await nina.call("meeting:getUserAvailabilityForWeek", {"localDate": "2030-03-12T09:00:00-04:00"})
        )["availability"]["dates"]
        assert week[-1] == {
            "startDate": "2030-03-16T00:00:00-04:00",
            "endDate": "2030-03-17T00:00:00-04:00",
        }  # Saturday
        weekly = (
            await nina.call("meeting:getUserAvailabilityPattern", {"localDate": "2030-03-12T09:00:00-04:00"})
        )["pattern"]["availabilities"]
        assert len(weekly) == 7
        assert weekly[0]["dates"] == [
            {"startDate": "2030-03-10T00:00:00-05:00", "endDate": "2030-03-11T00:00:00-04:00"}
        ]
        assert weekly[2]["dates"] == [
            {"startDate": "2030-03-12T08:00:00-04:00", "endDate": "2030-03-12T20:00:00-04:00"}
        ]
        month = (
            await nina.call("meeting:getUserAvailabilityForMonth", {"localDate": "2030-03-12T09:00:00-04:00"})
        )["availability"]["dates"]
        assert (
            month[0]["startDate"] == "2030-03-01T08:00:00-05:00"
            and month[-1]["endDate"] == "2030-04-01T00:00:00-04:00"
        )


async def test_the_request_zone_is_stored_and_a_bare_offset_is_a_fallback(world: ServerHandle) -> None:
    async with connect(world.url, token("taro")) as taro:
        by_offset = await taro.call(
            "meeting:getUserAvailabilityForDay", {"localDate": "2030-07-01T10:00:00+02:00"}
        )
        assert by_offset["availability"]["dates"][0]["startDate"] == "2030-07-01T00:00:00+02:00"
        await taro.call(
            "meeting:getUserAvailabilityForDay",
            {"localDate": "2030-07-01T10:00:00+02:00", "timeZone": "Asia/Tokyo"},
        )
        stored = await taro.call("meeting:getUserAvailabilityForDay", {"localDate": 1909000000000})
        assert stored["availability"]["dates"][0]["startDate"].endswith("+09:00")


async def test_a_roomful_name_that_no_id_can_have_matches_no_one(world: ServerHandle) -> None:
    # "nina:meetings" names nina's meeting index under the users' keys: it must be ignored
    # like any unknown user, not read as a user's profile (that was a 500 telling whether
    # the key exists).
    async with connect(world.url, token("taro")) as taro, connect(world.url, token("nina")) as nina:
        await nina.call("meeting:createMeeting", meeting(invited=[]))
        for endpoint in ("meeting:getTimeSlotsForMeeting", "meeting:getMeetingTimeSlotsForMonth"):
            asked = {"localDate": TOKYO_MONDAY, "timeZone": "Asia/Tokyo"}
            alone = await taro.call(endpoint, {"users": [], **asked})
            for name in ("nina:meetings", "nina:events", "nina\n", " nina"):
                assert await taro.call(endpoint, {"users": [{"roomful": name}], **asked}) == alone


async def test_meeting_counts_per_local_day(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        made = []
        for start, end in [
            ("2030-03-10T04:00:00Z", "2030-03-10T06:00:00Z"),
            ("2030-03-10T15:00:00Z", "2030-03-10T16:00:00Z"),
            ("2030-03-12T10:00:00Z", "2030-03-12T11:00:00Z"),
            ("2030-03-14T10:00:00Z", "2030-03-14T11:00:00Z"),
        ]:
            made.append(
                (await alice.call("meeting:createMeeting", meeting(start, end)))["meeting"]["meetingId"]
            )
        await bob.call("meeting:declineMeetingRequest", {"meetingId": made[2]})
        query = {"localDateNow": "2030-03-10T09:00:00-04:00", "timeZone": "America/New_York"}
        counts = (await bob.call("meeting:listUserMeetingCounts", query))["meetingCounts"]
        assert counts == [  # the first meeting straddles midnight in New York: it counts on the 10th too
            {"count": 2, "startDate": "2030-03-10T00:00:00-05:00", "endDate": "2030-03-11T00:00:00-04:00"},
            {"count": 1, "startDate": "2030-03-14T00:00:00-04:00", "endDate": "2030-03-15T00:00:00-04:00"},
        ]
        paged = (await alice.call("meeting:listUserMeetingCounts", {**query, "offset": 1, "size": 1}))[
            "meetingCounts"
        ]
        assert [c["startDate"] for c in paged] == ["2030-03-12T00:00:00-04:00"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"availability": {"status": "Maybe", "dates": []}, "localDate": TOKYO_MONDAY}, "status"),
        (
            {
                "availability": {"status": "Available", "dates": [], "repetition": 128},
                "localDate": TOKYO_MONDAY,
            },
            "repetition",
        ),
        (
            {
                "availability": {
                    "status": "Available",
                    "dates": [{"startDate": "2030-03-11T10:00:00Z", "endDate": "2030-03-11T09:00:00Z"}],
                },
                "localDate": TOKYO_MONDAY,
            },
            "dates[0].endDate",
        ),
        (
            {
                "availability": {"status": "Available", "dates": []},
                "localDate": TOKYO_MONDAY,
                "timeZone": "Mars/Olympus",
            },
            "Mars/Olympus",
        ),
        ({"availability": {"status": "Available", "dates": []}, "localDate": "yesterday"}, "localDate"),
    ],
)
async def test_bad_availability_requests_get_400_and_change_nothing(
    world: ServerHandle, data: dict[str, Any], needle: str
) -> None:
    async with connect(world.url, token("taro", zoneinfo="Asia/Tokyo")) as taro:
        before = await taro.call("meeting:getUserAvailabilityForWeek", {"localDate": TOKYO_MONDAY})
        with pytest.raises(BadRequest, match=needle.replace("[", r"\[").replace("]", r"\]")):
            await taro.call("meeting:setUserAvailability", data)
        assert await taro.call("meeting:getUserAvailabilityForWeek", {"localDate": TOKYO_MONDAY}) == before


async def test_slot_search_names_at_most_the_configured_number_of_users(start_server: StartServer) -> None:
    server = await start_server(max_slot_users=3)
    async with connect(server.url, token("taro")) as taro:
        for endpoint in ("meeting:getTimeSlotsForMeeting", "meeting:getMeetingTimeSlotsForMonth"):
            with pytest.raises(BadRequest, match="at most 3"):
                await taro.call(
                    endpoint,
                    {
                        "users": [{"roomful": f"u{i}"} for i in range(4)],
                        "localDate": "2030-07-01T10:00:00+02:00",
                        "timeZone": "Asia/Tokyo",
                    },
                )
        # A refused request changes nothing: not even the zone that it named.
        day = await taro.call("meeting:getUserAvailabilityForDay", {"localDate": "2030-07-01T10:00:00+02:00"})
        assert day["availability"]["dates"][0]["startDate"] == "2030-07-01T00:00:00+02:00"
        with pytest.raises(BadRequest, match="duration"):
            await taro.call(
                "meeting:getTimeSlotsForMeeting", {"users": [], "localDate": TOKYO_MONDAY, "duration": 0}
            )


async def test_a_search_sees_availability_changed_through_another_instance(start_server: StartServer) -> None:
    # Each instance caches bitmaps and busy indexes by versions that every change in Redis moves on.
    a, b = await start_server(), await start_server()
    await seed(a)
    async with connect(a.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [{"id": "taro"}, {"id": "nina"}]})
        async with (
            connect(a.url, token("taro", zoneinfo="Asia/Tokyo")) as taro,
            connect(b.url, token("nina", zoneinfo="America/New_York")) as nina,
        ):
            morning = pattern("2030-03-04T06:00:00+09:00", "2030-03-04T12:00:00+09:00")
            await taro.call("meeting:setUserAvailability", morning)
            await nina.call(
                "meeting:setUserAvailability",
                pattern("2030-03-04T08:00:00-05:00", "2030-03-04T20:00:00-05:00"),
            )
            assert await slots(taro) == [("2030-03-11T06:00:00+09:00", "2030-03-11T09:00:00+09:00")]
            await nina.call(
                "meeting:setUserAvailability",
                pattern("2030-03-04T18:00:00-05:00", "2030-03-04T20:00:00-05:00"),
            )
            assert await slots(taro) == [("2030-03-11T07:00:00+09:00", "2030-03-11T09:00:00+09:00")]
            # her new meeting, made through the other instance, is busy time here at once
            await nina.call(
                "meeting:createMeeting", meeting("2030-03-10T22:30:00Z", "2030-03-10T23:00:00Z", invited=[])
            )
            assert await slots(taro) == [
                ("2030-03-11T07:00:00+09:00", "2030-03-11T07:30:00+09:00"),
                ("2030-03-11T08:00:00+09:00", "2030-03-11T09:00:00+09:00"),
            ]
            # a zone change alone moves her hours too
            await admin.call("admin:upsertUsers", {"users": [{"id": "nina", "timeZone": "Europe/London"}]})
            assert await slots(taro) == []
        # deleted and re-created: none of her old hours may come back from a cache
        await admin.call("admin:deleteUser", {"userId": "nina"})
        await admin.call("admin:upsertUsers", {"users": [{"id": "nina"}]})
        async with connect(a.url, token("taro", zoneinfo="Asia/Tokyo")) as taro:
            assert await slots(taro) == [("2030-03-11T06:00:00+09:00", "2030-03-11T12:00:00+09:00")]


async def test_the_day_after_a_clock_change_is_shown_with_its_own_offset(world: ServerHandle) -> None:
    # London moved its clocks on Sunday 2031-03-30; Monday was once shown at +02:00.
    async with connect(world.url, token("nina", zoneinfo="Europe/London")) as nina:
        reply = await nina.call("meeting:getUserAvailabilityForDay", {"localDate": "2031-03-31T12:00:00Z"})
        assert reply["availability"]["dates"] == [
            {"startDate": "2031-03-31T00:00:00+01:00", "endDate": "2031-04-01T00:00:00+01:00"}
        ]
        month = await nina.call("meeting:getUserAvailabilityForMonth", {"localDate": "2032-11-15T12:00:00Z"})
        assert month["availability"]["dates"] == [
            {"startDate": "2032-11-01T00:00:00+00:00", "endDate": "2032-12-01T00:00:00+00:00"}
        ]


def nine_to_five(offset: str) -> dict[str, Any]:
    return pattern(f"2031-01-06T09:00:00{offset}", f"2031-01-06T17:00:00{offset}")


def spans_of(dates: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(d["startDate"], d["endDate"]) for d in dates]


async def test_the_caller_is_read_in_the_zone_of_the_request_from_its_first_read(world: ServerHandle) -> None:
    # Contract 4: the request's timeZone is the caller's zone (stored once answered), and
    # contract 5: the caller's pattern is wall-clock time there. The first read of a new
    # zone, its repeat and the pattern read agree (the first had taken the stored zone).
    nine_to_five_london = [("2031-01-08T09:00:00+00:00", "2031-01-08T17:00:00+00:00")]
    async with connect(world.url, token("taro", zoneinfo="Asia/Tokyo")) as taro:
        await taro.call("meeting:setUserAvailability", nine_to_five("+09:00"))  # every day
        day = {"localDate": "2031-01-08T12:00:00Z", "timeZone": "Europe/London"}  # a Wednesday
        slots = {"users": [], **day}
        first_day = await taro.call("meeting:getUserAvailabilityForDay", day)
        first_slots = await taro.call("meeting:getTimeSlotsForMeeting", slots)
        assert spans_of(first_day["availability"]["dates"]) == nine_to_five_london
        assert spans_of(first_slots["availableTimeSlots"]) == nine_to_five_london
        assert await taro.call("meeting:getUserAvailabilityForDay", day) == first_day
        week = (await taro.call("meeting:getUserAvailabilityPattern", day))["pattern"]["availabilities"]
        assert spans_of(week[3]["dates"]) == nine_to_five_london


async def test_a_caller_without_a_zone_is_read_at_the_offset_of_the_request(world: ServerHandle) -> None:
    async with connect(world.url, token("nina")) as nina:
        await nina.call("meeting:setUserAvailability", nine_to_five("+01:00"))  # an offset, no zone
        day = {"localDate": "2031-06-11T12:00:00+02:00"}  # a Wednesday, the client now on +02:00
        week = (await nina.call("meeting:getUserAvailabilityPattern", day))["pattern"]["availabilities"]
        read = await nina.call("meeting:getUserAvailabilityForDay", day)
        assert spans_of(read["availability"]["dates"]) == spans_of(week[3]["dates"])
        assert spans_of(week[3]["dates"]) == [("2031-06-11T09:00:00+02:00", "2031-06-11T17:00:00+02:00")]


KATHMANDU_WEDNESDAY = "2031-01-08T12:00:00+05:45"


def day_setting(start: str, end: str, local: str) -> dict[str, Any]:
    return {
        "availability": {"status": "Available", "dates": [{"startDate": start, "endDate": end}]},
        "localDate": local,
    }


async def test_a_user_whose_id_is_not_ascii_can_set_a_day_and_be_searched(world: ServerHandle) -> None:
    # Ids are 1-128 characters without ':', white space or control characters: "josé" is one,
    # and his day settings are read back as his (the stored key is bytes, not characters).
    async with (
        connect(world.url, token("josé", zoneinfo="Asia/Kathmandu")) as jose,
        connect(world.url, token("bob", zoneinfo="Pacific/Chatham")) as bob,
    ):
        await jose.call(
            "meeting:setUserAvailability",
            day_setting("2031-01-08T09:00:00+05:45", "2031-01-08T17:00:00+05:45", KATHMANDU_WEDNESDAY),
        )
        own = await jose.call("meeting:getUserAvailabilityForDay", {"localDate": KATHMANDU_WEDNESDAY})
        assert own["availability"]["dates"] == [
            {"startDate": "2031-01-08T09:00:00+05:45", "endDate": "2031-01-08T17:00:00+05:45"}
        ]
        found = await bob.call(
            "meeting:getTimeSlotsForMeeting",
            {
                "users": [{"roomful": "josé"}],
                "localDate": KATHMANDU_WEDNESDAY,
                "timeZone": "Asia/Kathmandu",
                "includeSelf": False,
            },
        )
        assert found["availableTimeSlots"] == own["availability"]["dates"]
        # the same read sits under findMeetingTimes and rejectConflicts
        await bob.call(
            "meeting:createMeeting",
            meeting("2031-01-08T04:00:00Z", "2031-01-08T04:30:00Z", invited=["josé"], rejectConflicts=True),
        )


@pytest.mark.parametrize(
    "endpoint",
    [
        "meeting:getUserAvailabilityForDay",
        "meeting:getUserAvailabilityForWeek",
        "meeting:getUserAvailabilityForMonth",
        "meeting:getUserAvailabilityPattern",
    ],
)
async def test_a_user_erased_while_connected_reads_their_availability_without_a_500(
    world: ServerHandle, endpoint: str
) -> None:
    # admin:deleteUser erases the profile and availability (contract 7); the open connection
    # goes on, and its reads answer: with nothing stored the user is available all day
    # (contract 5).
    async with connect(world.url, token("alice", zoneinfo="Asia/Kathmandu")) as alice:
        async with connect(world.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteUser", {"userId": "alice"})
        reply = await alice.call(endpoint, {"localDate": KATHMANDU_WEDNESDAY})
        assert reply


async def test_a_user_erased_while_connected_has_the_meetings_they_make_meanwhile_counted(
    world: ServerHandle,
) -> None:
    # The erased user's open connection goes on (docs/protocol.md) and makes a meeting: it
    # is listed, so it is counted (contract 5) and blocks their own slot search; with no
    # settings stored the rest of the day is free.
    async with connect(world.url, token("alice", zoneinfo="UTC")) as alice:
        async with connect(world.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteUser", {"userId": "alice"})
        await alice.call("meeting:createMeeting", meeting(invited=["bob"]))
        counts = await alice.call("meeting:listUserMeetingCounts", {"localDateNow": "2030-03-01T00:00:00Z"})
        assert counts["meetingCounts"] == [
            {"count": 1, "startDate": "2030-03-04T00:00:00+00:00", "endDate": "2030-03-05T00:00:00+00:00"}
        ]
        slots = await alice.call(
            "meeting:getTimeSlotsForMeeting", {"users": [], "localDate": "2030-03-04T12:00:00Z"}
        )
        assert slots["availableTimeSlots"] == [
            {"startDate": "2030-03-04T00:00:00+00:00", "endDate": "2030-03-04T10:00:00+00:00"},
            {"startDate": "2030-03-04T11:00:00+00:00", "endDate": "2030-03-05T00:00:00+00:00"},
        ]


async def test_a_day_whose_clocks_fall_back_across_midnight_is_readable(world: ServerHandle) -> None:
    """St. John's (and Moncton, Goose Bay) ended DST at 00:01 until 2011: on 2010-11-07
    the clocks went from 00:01 NDT back to 23:01 NST of the 6th. That day is in the
    accepted range (contract 4) and must read and be set like any other, not answer 500."""
    async with connect(world.url, token("sam", zoneinfo="America/St_Johns")) as sam:
        await sam.call(
            "meeting:setUserAvailability", pattern("2010-10-04T09:00:00-02:30", "2010-10-04T17:00:00-02:30")
        )
        day = await sam.request(
            "meeting:getUserAvailabilityForDay", {"localDate": "2010-11-07T12:00:00-03:30"}
        )
        assert not day.error.status, day.error
        assert day.data["availability"]["dates"] == [
            {"startDate": "2010-11-07T09:00:00-03:30", "endDate": "2010-11-07T17:00:00-03:30"}
        ]
        setting = await sam.request(
            "meeting:setUserAvailability",
            {
                "localDate": "2010-11-07T12:00:00-03:30",
                "availability": {
                    "status": "Available",
                    "dates": [
                        {"startDate": "2010-11-07T10:00:00-03:30", "endDate": "2010-11-07T11:00:00-03:30"}
                    ],
                },
            },
        )
        assert not setting.error.status, setting.error


def midday_zone(now: datetime) -> str:
    """An IANA zone in which it is about noon now (far from the local day's edges)."""
    offset = 12 - now.hour  # -11..12
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc/GMT signs are inverted


async def test_a_time_slot_never_starts_before_now(server: ServerHandle) -> None:
    """Contract 5: "Slots never start before now." Times are kept to the minute, so the
    first slot of today may start at the next whole minute, not at the minute already
    under way (which began up to 59 s before the request)."""
    await seed(server)
    if datetime.now(UTC).second == 0:
        await trio.sleep(1.1)  # now is inside a minute, not on its first second
    before = datetime.now(UTC)
    zone = midday_zone(before)
    async with connect(server.url, token("alice", zoneinfo=zone)) as alice:
        for endpoint in ("meeting:getTimeSlotsForMeeting", "meeting:getMeetingTimeSlotsForMonth"):
            reply = await alice.call(endpoint, {"users": [], "localDate": before.isoformat()})
            starts = [datetime.fromisoformat(s["startDate"]) for s in reply["availableTimeSlots"]]
            assert starts, reply
            # Observed: the first slot starts at the current minute floored (e.g. 12:37:00
            # for a request at 12:37:42), i.e. before now.
            assert min(starts) >= before, (endpoint, starts[0], before)
