"""meeting:findMeetingTimes (contract 10): states, ranking, buffers, limits and reasons."""

from __future__ import annotations

from typing import Any

import pytest

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import BadRequest
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, redis_of, seed

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


def words(suggestion: dict[str, Any]) -> dict[str, str]:
    return {a["userId"]: a["availability"] for a in suggestion["attendees"]}


async def find(client: Client, data: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = await client.call("meeting:findMeetingTimes", data)
    return reply


async def test_states_order_and_confidence(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob")) as bob,
        connect(world.url, token("carol")) as carol,
    ):
        # bob accepted 09:00-10:00 (busy), carol received 10:00-11:00 (tentative)
        mid = (
            await alice.call(
                "meeting:createMeeting", meeting(f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", invited=["bob"])
            )
        )["meeting"]["meetingId"]
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": mid})
        await bob.call(
            "meeting:createMeeting", meeting(f"{DAY}T10:00:00Z", f"{DAY}T11:00:00Z", invited=["carol"])
        )
        reply = await find(
            carol,
            ask([{"roomful": "bob", "type": "optional"}, {"email": "ALICE@example.com", "type": "optional"}]),
        )
        assert reply["emptySuggestionsReason"] == ""
        # 09:00: bob busy (accepted), alice busy (organizes): 1 of 3 free is under 50 %;
        # 09:30-10:30: carol, the organizer, only tentative; 11:00: everyone free
        assert [(s["startDate"], s["confidence"], words(s)) for s in reply["suggestions"]] == [
            ("2030-03-04T11:00:00+00:00", 100, {"carol": "free", "bob": "free", "alice": "free"}),
        ]
        reply = await find(carol, ask([{"roomful": "bob", "type": "optional"}], minimumAttendeePercentage=0))
        assert [(s["startDate"], s["confidence"], words(s)) for s in reply["suggestions"]] == [
            ("2030-03-04T11:00:00+00:00", 100, {"carol": "free", "bob": "free"}),
            ("2030-03-04T09:00:00+00:00", 50, {"carol": "free", "bob": "busy"}),
        ]
        # alice asks with carol optional: carol tentative at 10:00 counts half
        reply = await find(
            alice, ask([{"roomful": "carol", "type": "optional"}], minimumAttendeePercentage=0, step=60)
        )
        assert [(s["startDate"], s["confidence"], words(s)) for s in reply["suggestions"]] == [
            ("2030-03-04T11:00:00+00:00", 100, {"alice": "free", "carol": "free"}),
            ("2030-03-04T10:00:00+00:00", 75, {"alice": "free", "carol": "tentative"}),
        ]


async def test_buffers_widen_the_check(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        await bob.call("meeting:createMeeting", meeting(f"{DAY}T10:00:00Z", f"{DAY}T10:30:00Z", invited=[]))
        plain = await find(alice, ask([{"roomful": "bob"}], duration=30))
        assert [s["startDate"][11:16] for s in plain["suggestions"]] == [
            "09:00",
            "09:30",
            "10:30",
            "11:00",
            "11:30",
        ]
        buffered = await find(alice, ask([{"roomful": "bob"}], duration=30, bufferBefore=15, bufferAfter=1))
        assert [s["startDate"][11:16] for s in buffered["suggestions"]] == ["09:00", "11:00", "11:30"]


async def test_unavailable_in_their_own_zone(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob", zoneinfo="Asia/Tokyo")) as bob,
    ):
        # bob works 19:00-20:30 Tokyo = 10:00-11:30 UTC, every day
        await bob.call(
            "meeting:setUserAvailability",
            {
                "availability": {
                    "status": "Available",
                    "dates": [{"startDate": f"{DAY}T19:00:00+09:00", "endDate": f"{DAY}T20:30:00+09:00"}],
                    "repetition": 0b1111111,
                },
                "localDate": f"{DAY}T19:00:00+09:00",
            },
        )
        reply = await find(alice, ask([{"roomful": "bob", "type": "optional"}], minimumAttendeePercentage=0))
        got = [(s["startDate"][11:16], words(s)["bob"]) for s in reply["suggestions"]]
        assert got == [
            ("10:00", "free"),
            ("10:30", "free"),
            ("09:00", "unavailable"),
            ("09:30", "unavailable"),
            ("11:00", "unavailable"),
        ]


async def test_reasons(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        # bob:busy is a key of bob's, not a user: no one (it was read as a profile: a 500)
        await bob.call("meeting:createMeeting", meeting(f"{DAY}T13:00:00Z", f"{DAY}T14:00:00Z", invited=[]))
        unknown = [{"roomful": "ghost"}, {"email": "no@one"}, {"roomful": "bob:busy"}]
        assert await find(alice, ask(unknown)) == {
            "suggestions": [],
            "emptySuggestionsReason": "attendeesNotFound",
        }
        await alice.call("meeting:createMeeting", meeting(f"{DAY}T09:00:00Z", f"{DAY}T12:00:00Z", invited=[]))
        reply = await find(alice, ask([{"roomful": "bob"}]))
        assert reply == {"suggestions": [], "emptySuggestionsReason": "organizerUnavailable"}
        reply = await find(bob, ask([{"roomful": "alice"}]))
        assert reply == {"suggestions": [], "emptySuggestionsReason": "attendeesUnavailable"}
        # the organizer optional: bob alone qualifies; alice is busy and not counted
        reply = await find(alice, ask([{"roomful": "bob"}], isOrganizerOptional=True, maxCandidates=2))
        assert [(s["startDate"][11:16], words(s)) for s in reply["suggestions"]] == [
            ("09:00", {"bob": "free"}),
            ("09:30", {"bob": "free"}),
        ]


async def test_dst_day_candidates_follow_elapsed_time(world: ServerHandle) -> None:
    async with connect(world.url, token("alice", zoneinfo="Europe/London")) as alice:
        # 2031-03-30 is 23 hours long in London: midnight +00:00, then 02:00+01:00 at 01:00Z
        reply = await find(
            alice,
            {
                "attendees": [],
                "startDate": "2031-03-30T00:00:00+00:00",
                "endDate": "2031-03-30T03:00:00+01:00",
                "duration": 60,
                "step": 60,
            },
        )
        assert [s["startDate"] for s in reply["suggestions"]] == [
            "2031-03-30T00:00:00+00:00",
            "2031-03-30T02:00:00+01:00",
        ]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"duration": 4}, "duration"),
        ({"duration": 1441}, "duration"),
        ({"step": 0}, "step"),
        ({"step": 1441}, "step"),
        ({"minimumAttendeePercentage": 101}, "minimumAttendeePercentage"),
        ({"bufferBefore": 241}, "bufferBefore"),
        ({"bufferAfter": -1}, "bufferAfter"),
        ({"minimumNotice": 43201}, "minimumNotice"),
        ({"maxCandidates": 0}, "maxCandidates"),
        ({"maxCandidates": 101}, "maxCandidates"),
        ({"endDate": "2030-05-06T09:00:01Z"}, "endDate"),
        ({"endDate": f"{DAY}T09:00:00Z"}, "endDate"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"attendees": [{"roomful": "bob", "type": "maybe"}]}, "attendees"),
    ],
)
async def test_out_of_range_is_400_naming_the_field(
    world: ServerHandle, extra: dict[str, Any], field: str
) -> None:
    async with connect(world.url, token("alice")) as alice:
        with pytest.raises(BadRequest, match=field):
            await find(alice, {**ask([{"roomful": "bob"}]), **extra})


async def test_more_attendees_than_the_slot_limit(start_server: StartServer) -> None:
    server = await start_server(max_slot_users=2)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        with pytest.raises(BadRequest, match=r"data\.attendees"):
            await find(alice, ask([{"roomful": u} for u in ("bob", "carol", "dave")]))
        assert (await find(alice, ask([{"roomful": u} for u in ("bob", "carol")])))["suggestions"]


async def test_repeated_attendees_count_as_sent_and_cost_one_lookup(world: ServerHandle) -> None:
    # Contract 10: attendees "at most the slot-search user limit" (100), as the slot search
    # counts its `users`: 150 entries naming one person are 400 (and 10,000 of them made
    # Redis run 10,000 GETs), before any read.
    async with redis_of(world) as redis, connect(world.url, token("alice")) as alice:
        bob = {"email": "bob@example.com"}
        slots = await alice.request(
            "meeting:getTimeSlotsForMeeting", {"users": [bob] * 150, "localDate": f"{DAY}T00:00:00Z"}
        )
        assert slots.error.code == 400
        before = await commands_run(redis, "get")
        for entries in (150, 10_000):
            with pytest.raises(BadRequest, match=r"data\.attendees.* 100 entries"):
                await find(alice, ask([bob] * entries))
        assert await commands_run(redis, "get") == before
        # within the limit, an address asked again (in any case) is looked up once
        repeats = [bob, {"email": " BOB@example.com"}, {"email": "carol@example.com"}] * 33
        reply = await find(alice, ask(repeats, maxCandidates=1))
        assert [a["userId"] for a in reply["suggestions"][0]["attendees"]] == ["alice", "bob", "carol"]
        assert await commands_run(redis, "get") - before == 2


async def commands_run(redis: Any, command: str) -> int:
    """How many times Redis has run `command` (INFO commandstats)."""
    info = (await redis.execute("INFO", "commandstats")).decode()
    for line in info.splitlines():
        if line.startswith(f"cmdstat_{command}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_an_accept_turns_tentative_into_busy_on_the_next_search(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        mid = await alice.call(
            "meeting:createMeeting", meeting(f"{DAY}T09:00:00Z", f"{DAY}T10:00:00Z", invited=["bob"])
        )
        data = ask(
            [{"roomful": "bob", "type": "optional"}], isOrganizerOptional=True, minimumAttendeePercentage=0
        )
        first = await find(alice, {**data, "endDate": f"{DAY}T10:00:00Z"})
        assert words(first["suggestions"][0]) == {"bob": "tentative"}
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": mid["meeting"]["meetingId"]})
        again = await find(alice, {**data, "endDate": f"{DAY}T10:00:00Z"})
        assert words(again["suggestions"][0]) == {"bob": "busy"}


async def test_an_organizer_erased_while_connected_gets_404_not_500(world: ServerHandle) -> None:
    async with connect(world.url, token("dave")) as dave:
        await dave.next_push("connection:ready")
        async with connect(world.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteUser", {"userId": "dave"})
        reply = await dave.request("meeting:findMeetingTimes", ask([{"roomful": "bob"}]))
        assert reply.error.code == 404 and "dave is not in the directory" in reply.error.message
        optional = await dave.request(
            "meeting:findMeetingTimes", ask([{"roomful": "bob"}], isOrganizerOptional=True)
        )
        assert optional.error.code == 0  # not counted: bob's times


# Edges: the organizer among the attendees, the organizer's hours in the zone the request
# resolved, zone names stored by earlier releases.


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
