"""Finding a time at its edges (contract 10): the organizer among the attendees, the
organizer's hours in the zone the request resolved, zone names stored by earlier releases."""

from __future__ import annotations

from typing import Any

import pytest

from roomful_meetings.client import Client, connect
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import redis_of, seed

DAY = "2030-03-04"  # a Monday, no clock change anywhere near


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    return server


def ask(attendees: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "attendees": attendees,
        "startDate": f"{DAY}T09:00:00Z",
        "endDate": f"{DAY}T12:00:00Z",
        "duration": 60,
        "timeZone": "UTC",
        **extra,
    }


async def find(client: Client, data: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("meeting:findMeetingTimes", data)
    return reply


async def pattern(client: Client, start: str, end: str, local: str, **extra: Any) -> None:
    await client.call(
        "meeting:setUserAvailability",
        {
            "availability": {
                "status": "Available",
                "dates": [{"startDate": start, "endDate": end}],
                "repetition": 0b1111111,
            },
            "localDate": local,
            **extra,
        },
    )


async def test_organizer_listing_themself_and_an_unknown_user_is_not_attendees_not_found(
    world: ServerHandle,
) -> None:
    # Contract 10: attendeesNotFound only "when attendees were given and none matched a
    # user". Here one entry (the organizer) matched; listing only themself already gives
    # their own free times (CHANGELOG), an extra unknown entry must not turn that into
    # "nobody found".
    async with connect(world.url, token("alice")) as alice:
        alone = await find(alice, ask([{"roomful": "alice"}], maxCandidates=1))
        assert alone["emptySuggestionsReason"] == "" and alone["suggestions"]
        reply = await find(alice, ask([{"roomful": "alice"}, {"roomful": "ghost"}], maxCandidates=1))
        assert reply["emptySuggestionsReason"] != "attendeesNotFound"
        assert reply["suggestions"] == alone["suggestions"]


async def test_the_organizer_in_attendees_does_not_count_against_the_user_limit(
    start_server: StartServer,
) -> None:
    # Contract 10: attendees "at most the slot-search user limit, the organizer not
    # included in it". bob and carol are 2 users besides the organizer: within a limit of 2.
    server = await start_server(max_slot_users=2)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        reply = await alice.request(
            "meeting:findMeetingTimes", ask([{"roomful": u} for u in ("alice", "bob", "carol")])
        )
        assert reply.error.code == 0, reply.error
        assert [a["userId"] for a in reply.data["suggestions"][0]["attendees"]] == ["alice", "bob", "carol"]


async def test_find_meeting_times_reads_the_organizers_hours_in_the_zone_the_slot_search_does(
    world: ServerHandle,
) -> None:
    # dave has no IANA zone (his token has none): his hours were set from +01:00. Asked
    # from +05:00, his own day read and his slot search show him available 09:00-17:00
    # +05:00 (the zone the request resolves, contract 4; CHANGELOG "read the caller's own
    # availability in the zone the request resolved"). findMeetingTimes from the same
    # offset must agree on when he is free; it read his hours at +01:00 instead.
    async with connect(world.url, token("dave")) as dave:
        await pattern(dave, f"{DAY}T09:00:00+01:00", f"{DAY}T17:00:00+01:00", f"{DAY}T09:00:00+01:00")
        day = await dave.call("meeting:getUserAvailabilityForDay", {"localDate": f"{DAY}T12:00:00+05:00"})
        assert day["availability"]["dates"] == [
            {"startDate": f"{DAY}T09:00:00+05:00", "endDate": f"{DAY}T17:00:00+05:00"}
        ]
        slots = await dave.call(
            "meeting:getTimeSlotsForMeeting", {"users": [], "localDate": f"{DAY}T12:00:00+05:00"}
        )
        assert slots["availableTimeSlots"] == [
            {"startDate": f"{DAY}T09:00:00+05:00", "endDate": f"{DAY}T17:00:00+05:00"}
        ]
        reply = await find(
            dave,
            {
                "attendees": [],
                "startDate": f"{DAY}T00:00:00+05:00",
                "endDate": "2030-03-05T00:00:00+05:00",
                "duration": 60,
                "step": 60,
                "maxCandidates": 100,
            },
        )
        assert [s["startDate"] for s in reply["suggestions"]] == [
            f"{DAY}T{h:02d}:00:00+05:00" for h in range(9, 17)
        ]


async def test_a_legacy_stored_zone_name_is_read_as_the_rest_of_the_product_reads_it(
    world: ServerHandle,
) -> None:
    # CHANGELOG: zone names stored before they were held to the zone database
    # ("localtime", "posixrules", ...) are read as no zone; bob's own reads do so. The slot
    # search and findMeetingTimes used the raw name ("posixrules" = New York), so others
    # see bob's 09:00-10:00 five hours off from what bob himself sees.
    async with connect(world.url, token("bob")) as bob:
        await pattern(bob, f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", f"{DAY}T09:00:00Z", timeZone="UTC")
    async with redis_of(world) as redis:  # a profile written by an earlier release
        await redis.execute("HSET", f"{world.settings.key_prefix}{{default}}:u:bob", "timeZone", "posixrules")
    async with connect(world.url, token("bob")) as bob:
        own = await bob.call("meeting:getUserAvailabilityForDay", {"localDate": f"{DAY}T12:00:00Z"})
        assert own["availability"]["dates"] == [
            {"startDate": f"{DAY}T09:00:00+00:00", "endDate": f"{DAY}T10:00:00+00:00"}
        ]
    async with connect(world.url, token("alice", zoneinfo="UTC")) as alice:
        slots = await alice.call(
            "meeting:getTimeSlotsForMeeting",
            {"users": [{"roomful": "bob"}], "localDate": f"{DAY}T12:00:00Z", "includeSelf": False},
        )
        assert slots["availableTimeSlots"] == [
            {"startDate": f"{DAY}T09:00:00+00:00", "endDate": f"{DAY}T10:00:00+00:00"}
        ]
        reply = await find(
            alice, ask([{"roomful": "bob"}], startDate=f"{DAY}T00:00:00Z", endDate="2030-03-05T00:00:00Z")
        )
        assert [s["startDate"] for s in reply["suggestions"]] == [f"{DAY}T09:00:00+00:00"]
