"""Answers that grow with the data (listings, exports) are bounded: one larger than
--max-answer-bytes is refused with 400, and a connection builds one such answer at a time,
so that listings asked for in flight cost the server about one answer, not one each, and
the others are served meanwhile.

The world: three daily series of alice's, each with 99 invitees who have the profiles an
old client is shown (names, avatar, company). One instance is ~6 kB as listUserMeetings
shows it and ~35 kB in the deprecated shape (every invitee's profile, in every meeting):
a year of them, 1000 instances, was a 35 MB answer, and 32 of them in flight on one
connection took ~2 GB of the server's memory and held another user's getMeeting for
seconds."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import BadRequest
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.test_greedy_clients import rss
from tests.e2e.world import meeting, seed

LIMIT = 4 << 20  # --max-answer-bytes in these tests: 4 MiB
PEOPLE = [f"user{i:03d}" for i in range(99)]
YEAR = {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-12-31T00:00:00Z"}
# 300 instances: ~1.9 MB as listUserMeetings shows them, ~10 MB in the deprecated shape.
HUNDRED_DAYS = {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-04-11T00:00:00Z"}
MONTH = {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-01-31T00:00:00Z"}
TOO_LARGE = f"larger than {LIMIT} bytes"


def profile(user: str) -> dict[str, Any]:
    return {
        "id": user,
        "email": f"{user}@example.com",
        "firstName": user.title(),
        "lastName": "Somebody-Longname",
        "avatar": f"https://cdn.example.com/avatars/{user}.png",
        "avatar3D": {"assetId": f"asset-{user}", "avatarUrl": f"https://rpm.example/{user}.glb"},
        "companyName": "Example Corporation Ltd",
        "companyTitle": "Senior Engineer",
    }


async def busy_world(server: ServerHandle) -> str:
    """Alice's three daily series with 99 invitees each; the id of a meeting of carol's."""
    await seed(server)
    async with connect(server.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [profile(u) for u in PEOPLE]})
    async with connect(server.url, token("alice")) as alice:
        for hour in ("09", "12", "15"):
            daily = meeting(
                f"2030-01-01T{hour}:00:00Z",
                f"2030-01-01T{hour}:30:00Z",
                invited=PEOPLE,
                recurrence={"rule": "FREQ=DAILY", "timeZone": "UTC"},
            )
            await alice.call("meeting:createMeeting", daily)
    async with connect(server.url, token("carol")) as carol:
        mine = await carol.call("meeting:createMeeting", meeting(invited=[]))
    return str(mine["meeting"]["meetingId"])


@pytest.fixture
async def limited(start_server: StartServer) -> ServerHandle:
    return await start_server(max_answer_bytes=LIMIT)


async def refused(client: Client, endpoint: str, data: dict[str, Any]) -> str:
    with pytest.raises(BadRequest) as refusal:
        await client.call(endpoint, data)
    return refusal.value.message


async def test_a_listing_larger_than_the_answer_limit_is_refused_and_a_shorter_range_answered(
    limited: ServerHandle,
) -> None:
    await busy_world(limited)
    async with connect(limited.url, token("alice")) as alice:
        # The year is too much in either shape (its 1000 instances are ~6 MB as listed).
        for endpoint in ("meeting:listUserMeetings", "meeting:listUserMeetingsInDateRange"):
            message = await refused(alice, endpoint, YEAR)
            assert TOO_LARGE in message and "shorter range" in message, message
        # 100 days fit as listUserMeetings shows them, not in the deprecated shape.
        listed = await alice.call("meeting:listUserMeetings", HUNDRED_DAYS)
        assert len(listed["meetings"]) == 300 and listed["hasMore"] is False
        message = await refused(alice, "meeting:listUserMeetingsInDateRange", HUNDRED_DAYS)
        assert TOO_LARGE in message, message
        # A month fits in both.
        old = await alice.call("meeting:listUserMeetingsInDateRange", MONTH)
        assert len(old["meetings"]) == 90
        assert [u["user"]["companyName"] for u in old["meetings"][0]["invitedUsers"]] == [
            "Example Corporation Ltd"
        ] * 99


async def test_listings_in_flight_on_one_connection_cost_about_one_answer_and_others_are_served(
    limited: ServerHandle,
) -> None:
    """32 deprecated listings of 100 days (each ~10 MB before it is refused) in flight on
    one connection: the server holds about one answer's worth for them, and carol's
    getMeeting is answered again and again while they are under way."""
    carols = await busy_world(limited)
    async with connect(limited.url, token("alice")) as alice, connect(limited.url, token("carol")) as carol:
        await alice.call("meeting:listUserMeetingsInDateRange", MONTH)  # warm: caches, imports
        before = peak = rss()
        answers: list[str] = []
        served_meanwhile = 0

        async def ask() -> None:
            frame = await alice.request("meeting:listUserMeetingsInDateRange", HUNDRED_DAYS)
            answers.append(frame.error.message)

        async def watch() -> None:
            nonlocal peak
            while True:
                peak = max(peak, rss())
                await trio.sleep(0.01)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            async with trio.open_nursery() as asking:
                for _ in range(32):
                    asking.start_soon(ask)
                await trio.sleep(0.05)  # they are read and under way
                while len(answers) < 32:
                    got = await carol.call("meeting:getMeeting", {"meetingId": carols})
                    assert got["meeting"]["meetingId"] == carols
                    if len(answers) < 32:
                        served_meanwhile += 1
                    await trio.sleep(0.02)  # carol asks now and then (within her rate)
            nursery.cancel_scope.cancel()
    assert len(answers) == 32 and all(TOO_LARGE in message for message in answers), answers[:1]
    assert served_meanwhile >= 3, f"carol was answered {served_meanwhile} times while alice's listings ran"
    # About 2 x LIMIT measured (one answer being built, one queued); built side by side they
    # held 33 to 105 MiB, and before the limit ~600 MiB.
    held = peak - before
    assert held < 6 * LIMIT, f"32 listings in flight held {held / 2**20:.0f} MiB"


async def test_single_meetings_past_the_limit_are_refused_unless_earlier_instances_fill_the_page(
    start_server: StartServer,
) -> None:
    """Single meetings are cut in Redis once they pass the limit, before they are all read:
    the listing is refused when they would be in the answer, and answered (hasMore) when
    the 1000 meetings of the page come before them."""
    server = await start_server(max_answer_bytes=1 << 20)
    await seed(server)
    notes = "n" * 10_000  # a 10 kB description: 120 of them are more than 1 MiB
    async with connect(server.url, token("alice")) as alice:
        for day in range(1, 31):
            for hour in ("08", "10", "12", "14"):
                await alice.call(
                    "meeting:createMeeting",
                    meeting(
                        f"2033-06-{day:02d}T{hour}:00:00Z",
                        f"2033-06-{day:02d}T{hour}:30:00Z",
                        description=notes,
                    ),
                )
        june = {"startDate": "2033-06-01T00:00:00Z", "endDate": "2033-07-01T00:00:00Z"}
        message = await refused(alice, "meeting:listUserMeetings", june)
        assert "larger than 1048576 bytes" in message, message
        week = {"startDate": "2033-06-01T00:00:00Z", "endDate": "2033-06-08T00:00:00Z"}
        assert len((await alice.call("meeting:listUserMeetings", week))["meetings"]) == 28
        # Three daily series before June, 1005 instances in all: a page of 1000 ends before it.
        for start, end in (("07:00", "07:15"), ("07:20", "07:35"), ("07:40", "07:55")):
            await alice.call(
                "meeting:createMeeting",
                meeting(
                    f"2032-07-01T{start}:00Z",
                    f"2032-07-01T{end}:00Z",
                    invited=[],
                    recurrence={"rule": "FREQ=DAILY;COUNT=335", "timeZone": "UTC"},
                ),
            )
        year = {"startDate": "2032-07-01T00:00:00Z", "endDate": "2033-07-01T00:00:00Z"}
        page = await alice.call("meeting:listUserMeetings", year)
        assert len(page["meetings"]) == 1000 and page["hasMore"] is True
        assert all("seriesId" in m for m in page["meetings"])
        # Four days later: 993 instances and the first 7 of June's meetings (~99 were read).
        page = await alice.call("meeting:listUserMeetings", {**year, "startDate": "2032-07-05T00:00:00Z"})
        assert len(page["meetings"]) == 1000 and page["hasMore"] is True
        assert ["seriesId" in m for m in page["meetings"]] == [True] * 993 + [False] * 7
        # Two months later the page would hold 181 of them: more than the limit.
        message = await refused(
            alice, "meeting:listUserMeetings", {**year, "startDate": "2032-09-01T00:00:00Z"}
        )
        assert "larger than 1048576 bytes" in message, message


async def test_an_export_larger_than_the_answer_limit_is_refused(start_server: StartServer) -> None:
    """Every read's answer is bounded, not only the listings'."""
    server = await start_server(max_answer_bytes=8 << 10)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        small = await alice.call("meeting:createMeeting", meeting())
        large = await alice.call("meeting:createMeeting", meeting(description="d" * 10_000))
        ics = await alice.call("meeting:exportMeeting", {"meetingId": small["meeting"]["meetingId"]})
        assert "BEGIN:VEVENT" in ics["ics"]
        message = await refused(alice, "meeting:exportMeeting", {"meetingId": large["meeting"]["meetingId"]})
        assert "larger than 8192 bytes" in message, message
