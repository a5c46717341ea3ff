"""An instance's own answers and its `updated` (contracts 5 and 9): what was set on one
instance alone stays through series answers, and `updated` shows the last change the
instance shows, its own or its series', in replies and in calendar feeds (SEQUENCE)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import trio

from roomful_meetings.client import Client, connect, open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.models import RGBA
from roomful_meetings.storage.embedded import free_port
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.test_feed_e2e import http_get
from tests.e2e.test_series import STANDUP
from tests.e2e.world import seed


@pytest.fixture
async def world(start_server: StartServer) -> ServerHandle:
    server: ServerHandle = await start_server()
    await seed(server)
    return server


async def listed(client: Client, start: str, end: str) -> list[dict[str, Any]]:
    reply = await client.call("meeting:listUserMeetings", {"startDate": start, "endDate": end})
    meetings: list[dict[str, Any]] = reply["meetings"]
    return meetings


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_instance_accepted_on_its_own_stays_accepted_when_the_series_is_declined(
    world: ServerHandle,
) -> None:
    """Bob accepts the whole stand-up, then says "yes" again to Wednesday's on its own
    (he must be there that day), then declines the series. Contract 9: "with the series
    id, ... accept and decline act on the whole series (instances keep what was set on
    them alone)" and "an RSVP [with an instance id] sets the caller's status for it"."""
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        wednesday = f"{sid}_20270303T0900Z"
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": sid})
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": wednesday})
        await bob.call("meeting:declineMeetingRequest", {"meetingId": sid})
        week = await listed(bob, "2027-03-01T00:00:00Z", "2027-03-04T00:00:00Z")
        assert [(m["meetingId"], m["status"]) for m in week] == [
            (f"{sid}_20270301T0900Z", "declined"),
            (wednesday, "accepted"),
        ]
        got = (await bob.call("meeting:getMeeting", {"meetingId": wednesday}))["meeting"]
        assert got["participants"][1] == {"userId": "bob", "status": "accepted"}


async def test_an_instance_shows_when_a_series_change_last_changed_it(world: ServerHandle) -> None:
    """Alice gives Wednesday's stand-up its own agenda, then renames the whole series: the
    Wednesday instance now shows the new subject, so its `updated` ("time of the last
    change", docs/protocol.md; the deprecated API's `updated` likewise) is that rename,
    not the older agenda edit."""
    async with connect(world.url, token("alice")) as alice:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        wednesday = f"{sid}_20270303T0900Z"
        await alice.call("meeting:updateMeeting", {"meetingId": wednesday, "description": "demo day"})
        await trio.sleep(0.05)
        renamed = (await alice.call("meeting:updateMeeting", {"meetingId": sid, "subject": "Daily"}))[
            "meeting"
        ]
        got = (await alice.call("meeting:getMeeting", {"meetingId": wednesday}))["meeting"]
        assert (got["subject"], got["description"]) == ("Daily", "demo day")
        assert stamp(got["updated"]) >= stamp(renamed["updated"]), (got["updated"], renamed["updated"])


async def test_an_instance_taken_over_by_a_split_is_not_updated_before_its_series_was_created(
    world: ServerHandle,
) -> None:
    """Alice renames Wednesday 10 March, then splits the stand-up from Monday 8 March on.
    The new series is created now; its Wednesday instance cannot have been last changed
    before it existed (`updated` < `created`)."""
    async with connect(world.url, token("alice")) as alice:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        await alice.call("meeting:updateMeeting", {"meetingId": f"{sid}_20270310T0900Z", "subject": "Demo"})
        await trio.sleep(0.05)
        split = await alice.call(
            "meeting:updateMeeting",
            {"meetingId": f"{sid}_20270308T0900Z", "scope": "following", "description": "new room"},
        )
        new_id = split["meeting"]["meetingId"]
        got = (await alice.call("meeting:getMeeting", {"meetingId": f"{new_id}_20270310T0900Z"}))["meeting"]
        assert (got["subject"], got["description"]) == ("Demo", "new room")
        assert stamp(got["updated"]) >= stamp(got["created"]), (got["created"], got["updated"])


async def test_an_rsvp_on_one_instance_moves_its_updated_as_on_a_single_meeting(world: ServerHandle) -> None:
    """An accept moves a single meeting's `updated` (and a series'), and one instance's
    when given for that instance."""
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        wednesday = f"{sid}_20270303T0900Z"
        before = (await bob.call("meeting:getMeeting", {"meetingId": wednesday}))["meeting"]["updated"]
        await trio.sleep(0.05)
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": wednesday})
        after = (await bob.call("meeting:getMeeting", {"meetingId": wednesday}))["meeting"]
        assert after["participants"][1]["status"] == "accepted"
        assert stamp(after["updated"]) > stamp(before), (before, after["updated"])


async def feed(url: str) -> bytes:
    status, body = await http_get(url)
    assert status == 200, status
    return body


@pytest.fixture
async def feed_server(start_server: StartServer) -> ServerHandle:
    port = free_port()
    handle = await start_server(http_port=port, public_base_url=f"http://127.0.0.1:{port}")
    async with open_client(handle.url, token("root", admin=True)) as admin:
        await admin.upsert_users(
            [
                p.UserIn("alice", firstName="Alice", email="alice@x.test", timeZone="Europe/London"),
                p.UserIn("bob", firstName="Bob", timeZone="America/New_York"),
            ]
        )
        await admin.upsert_rooms([p.RoomIn("lobby", title="Lobby")])
    return handle


def instances_of(body: bytes, uid_prefix: str) -> dict[str | None, Any]:
    """The VEVENTs of one UID, by RECURRENCE-ID (None for the series' own)."""
    out: dict[str | None, Any] = {}
    for event in icalendar.Calendar.from_ical(body).walk("VEVENT"):
        if str(event["UID"]).startswith(uid_prefix + "@"):
            rid = event.get("RECURRENCE-ID")
            out[None if rid is None else rid.dt.astimezone(UTC).isoformat()] = event
    return out


def daily_with_bob(start: datetime) -> p.CreateMeeting:
    """Five daily hour-long meetings from `start`, London time, bob invited."""
    rule = p.RecurrenceIn("FREQ=DAILY;COUNT=5", "Europe/London")
    end = start + timedelta(hours=1)
    return p.CreateMeeting("room", ["lobby"], "Standup", start, end, invitedUserIds=["bob"], recurrence=rule)


def next_9am_london(days: int) -> datetime:
    day = (datetime.now(zoneinfo.ZoneInfo("Europe/London")) + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, 9, tzinfo=zoneinfo.ZoneInfo("Europe/London")).astimezone(
        UTC
    )


async def test_renaming_a_series_raises_the_sequence_of_its_moved_instance(feed_server: ServerHandle) -> None:
    """Contract 11: SEQUENCE "grows with each change of time, rule or subject". A moved
    instance's own VEVENT takes the series' new SUMMARY, and its SEQUENCE grows with it, or
    a calendar that compares SEQUENCE would keep the old subject for it."""
    start = next_9am_london(1)
    async with (
        open_client(feed_server.url, token("alice"), events=False) as alice,
        open_client(feed_server.url, token("bob"), events=False) as bob,
    ):
        series = await alice.create_meeting(daily_with_bob(start))
        moved = alice.instance_id(series.meetingId, start + timedelta(days=1))
        await alice.update_meeting(
            p.UpdateMeeting(
                moved,
                startDate=start + timedelta(days=1, hours=2),
                endDate=start + timedelta(days=1, hours=3),
            )
        )
        url = await bob.get_calendar_feed()
        rid = (start + timedelta(days=1)).isoformat()
        before = instances_of(await feed(url), series.meetingId)[rid]
        assert str(before["SUMMARY"]) == "Standup"
        await trio.sleep(1.2)
        await alice.update_meeting(p.UpdateMeeting(series.meetingId, subject="Daily sync"))
        after = instances_of(await feed(url), series.meetingId)[rid]
    assert str(after["SUMMARY"]) == "Daily sync"  # the subject shown for it changed...
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])  # ...so its SEQUENCE must grow


async def test_an_instance_getting_its_own_vevent_never_lowers_its_sequence(
    feed_server: ServerHandle,
) -> None:
    """An instance whose only own change is unseen in the feed (its colour) is shown by the
    series' VEVENT. After the series is renamed (series SEQUENCE S), the invitee declines
    that one instance: its VEVENT of its own has a SEQUENCE of at least S, never one
    computed from the older colour change."""
    start = next_9am_london(1)
    async with (
        open_client(feed_server.url, token("alice"), events=False) as alice,
        open_client(feed_server.url, token("bob"), events=False) as bob,
    ):
        series = await alice.create_meeting(daily_with_bob(start))
        one = alice.instance_id(series.meetingId, start + timedelta(days=2))
        await trio.sleep(1.2)
        await alice.update_meeting(p.UpdateMeeting(one, color=RGBA(r=1, g=0, b=0, a=1)))
        await trio.sleep(1.2)
        await alice.update_meeting(p.UpdateMeeting(series.meetingId, subject="Daily sync"))
        url = await bob.get_calendar_feed()
        shown = instances_of(await feed(url), series.meetingId)
        assert len(shown) == 1  # the colour is not shown: the series' VEVENT covers the instance
        seen = int(shown[None]["SEQUENCE"])
        await bob.decline_meeting_request(one)
        own = instances_of(await feed(url), series.meetingId)[(start + timedelta(days=2)).isoformat()]
    assert str(own["SUMMARY"]) == "Daily sync"
    assert int(own["SEQUENCE"]) >= seen
