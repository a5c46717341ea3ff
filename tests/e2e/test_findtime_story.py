"""The story of issue 15, as a new user tries it: five colleagues in Berlin, New York, Tokyo,
Kolkata and London (Tokyo optional) want an hour in the next two weeks; the times where the
four required are free come first, ranked by how many of the five can come; the first is
booked with rejectConflicts, and a second organizer racing for the same person and hour gets
409."""

from __future__ import annotations

from typing import Any

import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import Conflict
from tests.conftest import StartServer, token
from tests.e2e.world import meeting

PEOPLE = {
    "anna": "Europe/Berlin",  # the organizer
    "nick": "America/New_York",
    "taro": "Asia/Tokyo",
    "kiran": "Asia/Kolkata",
    "lucy": "Europe/London",
    "paul": "Europe/London",  # another organizer
}
# Working hours, local, every day (January 2030: no clock changes anywhere here).
HOURS = {
    "anna": ("2030-01-07T09:00:00+01:00", "2030-01-07T18:00:00+01:00"),
    "nick": ("2030-01-07T09:00:00-05:00", "2030-01-07T18:00:00-05:00"),
    "taro": ("2030-01-07T18:00:00+09:00", "2030-01-08T00:00:00+09:00"),  # evenings: 09:00-15:00 UTC
    "kiran": ("2030-01-07T09:00:00+05:30", "2030-01-07T21:00:00+05:30"),
    "lucy": ("2030-01-07T09:00:00+00:00", "2030-01-07T18:00:00+00:00"),
}


def working_hours(start: str, end: str) -> dict[str, Any]:
    return {
        "availability": {
            "status": "Available",
            "dates": [{"startDate": start, "endDate": end}],
            "repetition": 0b1111111,
        },
        "localDate": start,
    }


async def test_five_colleagues_find_an_hour_and_book_it_safely(start_server: StartServer) -> None:
    first, second = await start_server(), await start_server()
    async with connect(first.url, token("root", admin=True)) as admin:
        await admin.call(
            "admin:upsertUsers",
            {"users": [{"id": u, "email": f"{u}@corp.test", "timeZone": z} for u, z in PEOPLE.items()]},
        )
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby", "networkId": "net"}]})
    async with (
        connect(first.url, token("anna")) as anna,
        connect(second.url, token("paul")) as paul,
    ):
        for user, hours in HOURS.items():
            async with connect(first.url, token(user)) as client:
                await client.call("meeting:setUserAvailability", working_hours(*hours))
        async with connect(first.url, token("lucy")) as lucy:
            # Lucy is busy on the first Monday at the only hour that suits everyone
            await lucy.call(
                "meeting:createMeeting", meeting("2030-01-07T14:00:00Z", "2030-01-07T15:00:00Z", invited=[])
            )
        reply = await anna.call(
            "meeting:findMeetingTimes",
            {
                "attendees": [
                    {"roomful": "nick"},
                    {"email": "TARO@corp.test", "type": "optional"},
                    {"email": "kiran@corp.test"},
                    {"roomful": "lucy"},
                ],
                "startDate": "2030-01-07T00:00:00+01:00",
                "endDate": "2030-01-21T00:00:00+01:00",
                "duration": 60,
            },
        )
        suggestions = reply["suggestions"]
        assert reply["emptySuggestionsReason"] == "" and len(suggestions) == 20
        # Berlin 15:00 (14:00 UTC), every day but the first: all five free
        assert [s["startDate"] for s in suggestions[:13]] == [
            f"2030-01-{d:02}T15:00:00+01:00" for d in range(8, 21)
        ]
        assert {s["confidence"] for s in suggestions[:13]} == {100}
        # then 15:30, when Taro's evening is over: the four required only
        assert [s["startDate"] for s in suggestions[13:]] == [
            f"2030-01-{d:02}T15:30:00+01:00" for d in range(8, 15)
        ]
        assert suggestions[13]["confidence"] == 80
        assert [(a["userId"], a["availability"]) for a in suggestions[13]["attendees"]] == [
            ("anna", "free"),
            ("nick", "free"),
            ("taro", "unavailable"),
            ("kiran", "free"),
            ("lucy", "free"),
        ]
        best = suggestions[0]
        outcomes: dict[str, str] = {}

        async def book(name: str, client: Client, invited: list[str]) -> None:
            data = meeting(best["startDate"], best["endDate"], invited=invited, rejectConflicts=True)
            try:
                await client.call("meeting:createMeeting", data)
                outcomes[name] = "booked"
            except Conflict as exc:
                outcomes[name] = str(exc)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(book, "anna", anna, ["nick", "taro", "kiran", "lucy"])
            nursery.start_soon(book, "paul", paul, ["lucy"])
        assert sorted(outcomes.values())[0] == "booked"
        loser = "paul" if outcomes["anna"] == "booked" else "anna"
        assert outcomes[loser].endswith("busy at that time: lucy")
        # and the same search no longer offers that hour
        again = await anna.call(
            "meeting:findMeetingTimes",
            {
                "attendees": [{"roomful": "lucy"}],
                "startDate": best["startDate"],
                "endDate": best["endDate"],
                "duration": 60,
            },
        )
        assert again == {
            "suggestions": [],
            "emptySuggestionsReason": "organizerUnavailable" if loser == "paul" else "attendeesUnavailable",
        }
