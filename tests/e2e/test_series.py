"""Recurring meetings end to end (contract 9), on two server instances."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, MeetingsClient, connect, open_client
from roomful_meetings.domain.recurrence import instance_id
from roomful_meetings.domain.time import format_utc, to_minute
from roomful_meetings.errors import BadRequest, Forbidden, NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.models import Recurrence
from roomful_meetings.service import series_changes
from roomful_meetings.storage import directory
from roomful_meetings.storage.consistency import check_invariants
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import hold_first_call, meeting, ready, redis_of, seed

STANDUP = meeting(
    "2027-03-01T09:00:00Z",
    "2027-03-01T09:15:00Z",
    invited=["bob", "carol"],
    subject="Stand-up",
    recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "timeZone": "Europe/London"},
)


def event_order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def listed(client: Client, start: str, end: str) -> list[dict[str, Any]]:
    reply = await client.call("meeting:listUserMeetings", {"startDate": start, "endDate": end})
    meetings: list[dict[str, Any]] = reply["meetings"]
    return meetings


def slots_of(reply: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["startDate"], s["endDate"]) for s in reply["availableTimeSlots"]]


async def day_slots(client: Client, day: str, users: list[str]) -> list[tuple[str, str]]:
    query = {
        "users": [{"roomful": u} for u in users],
        "localDate": f"{day}T12:00:00Z",
        "timeZone": "Europe/London",
    }
    return slots_of(await client.call("meeting:getTimeSlotsForMeeting", query))


async def test_the_weekly_standup_story_on_two_instances(start_server: StartServer) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with (
        connect(a.url, token("alice")) as alice,
        connect(b.url, token("bob")) as bob,
        connect(b.url, token("carol")) as carol,
        redis_of(a) as redis,
    ):
        for client in (alice, bob, carol):
            await ready(client)
        created = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]
        sid = created["meetingId"]
        assert created["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=MO,WE", "timeZone": "Europe/London"}
        for client in (alice, bob, carol):
            push = await client.next_push("meeting:onMeetingCreated")
            assert push.data["meeting"]["meetingId"] == sid

        # 09:00 London on both sides of both clock changes.
        march = await listed(bob, "2027-03-22T00:00:00Z", "2027-04-01T00:00:00Z")
        assert [m["startDate"] for m in march] == [
            "2027-03-22T09:00:00Z",
            "2027-03-24T09:00:00Z",
            "2027-03-29T08:00:00Z",
            "2027-03-31T08:00:00Z",
        ]
        assert all(m["seriesId"] == sid and m["userId"] == "bob" and m["status"] == "received" for m in march)
        assert march[0]["meetingId"] == f"{sid}_20270322T0900Z"
        assert march[0]["originalStartDate"] == "2027-03-22T09:00:00Z"
        assert "recurrence" not in march[0]
        october = await listed(carol, "2027-10-25T00:00:00Z", "2027-11-02T00:00:00Z")
        assert [m["startDate"] for m in october] == [
            "2027-10-25T08:00:00Z",
            "2027-10-27T08:00:00Z",
            "2027-11-01T09:00:00Z",
        ]

        # Bob declines one Monday: that instance only.
        monday = f"{sid}_20270322T0900Z"
        await bob.call("meeting:declineMeetingRequest", {"meetingId": monday})
        for client in (alice, bob, carol):
            push = await client.next_push("meeting:onMeetingUpdated")
            assert push.data["meeting"]["meetingId"] == monday
            assert push.data["meeting"]["participants"][1] == {"userId": "bob", "status": "declined"}
        statuses = [m["status"] for m in await listed(bob, "2027-03-22T00:00:00Z", "2027-03-25T00:00:00Z")]
        assert statuses == ["declined", "received"]

        # Alice moves one Wednesday to 10:00 (it keeps its id).
        wednesday = f"{sid}_20270324T0900Z"
        moved = await alice.call(
            "meeting:updateMeeting",
            {"meetingId": wednesday, "startDate": "2027-03-24T10:00:00Z", "endDate": "2027-03-24T10:15:00Z"},
        )
        assert moved["meeting"]["meetingId"] == wednesday
        assert moved["meeting"]["startDate"] == "2027-03-24T10:00:00Z"
        for client in (alice, bob, carol):
            push = await client.next_push("meeting:onMeetingUpdated")
            assert push.data["meeting"]["startDate"] == "2027-03-24T10:00:00Z"
        got = await bob.call("meeting:getMeeting", {"meetingId": wednesday})
        assert got["meeting"]["startDate"] == "2027-03-24T10:00:00Z"
        assert got["meeting"]["originalStartDate"] == "2027-03-24T09:00:00Z"

        # The slot search sees the moved instance where it now is, and a Monday in 2035.
        wednesday_slots = await day_slots(bob, "2027-03-24", ["alice"])
        assert ("2027-03-24T00:00:00+00:00", "2027-03-24T10:00:00+00:00") in wednesday_slots
        assert wednesday_slots[1][0] == "2027-03-24T10:15:00+00:00"
        far = await day_slots(bob, "2035-03-05", ["alice"])
        assert far[0][1] == "2035-03-05T09:00:00+00:00" and far[1][0] == "2035-03-05T09:15:00+00:00"
        # Bob declined that Monday: a search for him alone is free then.
        assert await day_slots(bob, "2027-03-22", []) == [
            ("2027-03-22T00:00:00+00:00", "2027-03-23T00:00:00+00:00")
        ]

        # From next month on, Tuesdays: a split at the first instance in April.
        april = f"{sid}_20270405T0800Z"
        split = await alice.call(
            "meeting:updateMeeting",
            {
                "meetingId": april,
                "scope": "following",
                "startDate": "2027-04-06T08:00:00Z",
                "endDate": "2027-04-06T08:15:00Z",
                "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=TU"},
            },
        )
        new_id = split["meeting"]["meetingId"]
        assert new_id != sid
        assert split["meeting"]["recurrence"] == {"rule": "FREQ=WEEKLY;BYDAY=TU", "timeZone": "Europe/London"}
        for client in (alice, bob, carol):
            old = await client.next_push("meeting:onMeetingUpdated")
            assert old.data["meeting"]["meetingId"] == sid
            assert (
                old.data["meeting"]["recurrence"]["rule"] == "FREQ=WEEKLY;UNTIL=20270405T075900Z;BYDAY=MO,WE"
            )
            new = await client.next_push("meeting:onMeetingCreated")
            assert new.data["meeting"]["meetingId"] == new_id
            assert old.event is not None and new.event is not None
            assert event_order(old.event.id) < event_order(new.event.id)
        spring = await listed(carol, "2027-03-29T00:00:00Z", "2027-04-15T00:00:00Z")
        assert [(m["seriesId"], m["startDate"]) for m in spring] == [
            (sid, "2027-03-29T08:00:00Z"),
            (sid, "2027-03-31T08:00:00Z"),
            (new_id, "2027-04-06T08:00:00Z"),
            (new_id, "2027-04-13T08:00:00Z"),
        ]
        with pytest.raises(NotFound):
            await bob.call("meeting:getMeeting", {"meetingId": april})
        tuesday_slots = await day_slots(bob, "2027-04-13", ["alice"])
        assert tuesday_slots[0][1] == "2027-04-13T09:00:00+01:00"
        assert await day_slots(bob, "2027-04-12", ["alice"]) == [
            ("2027-04-12T00:00:00+01:00", "2027-04-13T00:00:00+01:00")
        ]
        assert await check_invariants(redis, Keys(a.settings.key_prefix)) == 2


@pytest.fixture
async def world(start_server: StartServer) -> ServerHandle:
    server: ServerHandle = await start_server()
    await seed(server)
    return server


async def test_instance_ids_the_rule_does_not_produce_are_404(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("dave")) as dave:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        for bad in (
            f"{sid}_20270323T0900Z",
            f"{sid}_20270322T0901Z",
            f"{sid}_20270222T0900Z",
            "nope_20270322T0900Z",
        ):
            with pytest.raises(NotFound):
                await alice.call("meeting:getMeeting", {"meetingId": bad})
        with pytest.raises(NotFound):  # not a participant
            await dave.call("meeting:getMeeting", {"meetingId": f"{sid}_20270322T0900Z"})
        with pytest.raises(NotFound):
            await dave.call("meeting:declineMeetingRequest", {"meetingId": f"{sid}_20270322T0900Z"})
        series = await alice.call("meeting:getMeeting", {"meetingId": sid})
        assert series["meeting"]["recurrence"]["timeZone"] == "Europe/London"
        assert "seriesId" not in series["meeting"]


async def test_cancel_an_instance_then_it_is_gone(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        await ready(bob)
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        await bob.next_push("meeting:onMeetingCreated")
        iid = f"{sid}_20270303T0900Z"
        with pytest.raises(Forbidden):
            await bob.call("meeting:deleteMeeting", {"meetingId": iid})
        with pytest.raises(Forbidden):
            await alice.call("meeting:acceptMeetingRequest", {"meetingId": iid})
        await alice.call("meeting:deleteMeeting", {"meetingId": iid})
        assert (await bob.next_push("meeting:onMeetingDeleted")).data == {"meetingId": iid}
        with pytest.raises(NotFound):
            await bob.call("meeting:getMeeting", {"meetingId": iid})
        starts = [m["startDate"] for m in await listed(bob, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")]
        assert starts == ["2027-03-01T09:00:00Z"]
        await alice.call("meeting:deleteMeeting", {"meetingId": sid})
        assert (await bob.next_push("meeting:onMeetingDeleted")).data == {"meetingId": sid}
        assert await listed(bob, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z") == []


async def test_series_wide_changes_and_rsvp(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        first = f"{sid}_20270301T0900Z"
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": sid})
        await bob.call("meeting:declineMeetingRequest", {"meetingId": first})
        await alice.call("meeting:updateMeeting", {"meetingId": f"{sid}_20270303T0900Z", "subject": "Demo"})
        week = await listed(bob, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")
        assert [(m["status"], m["subject"]) for m in week] == [("declined", "Stand-up"), ("accepted", "Demo")]
        # A subject change of the series keeps what instances have of their own.
        await alice.call("meeting:updateMeeting", {"meetingId": sid, "subject": "Daily"})
        week = await listed(bob, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")
        assert [(m["status"], m["subject"]) for m in week] == [("declined", "Daily"), ("accepted", "Demo")]
        # A time change of the series discards them and resets everyone.
        await alice.call(
            "meeting:updateMeeting",
            {"meetingId": sid, "startDate": "2027-03-01T09:30:00Z", "endDate": "2027-03-01T09:45:00Z"},
        )
        week = await listed(bob, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")
        assert [(m["status"], m["subject"], m["startDate"]) for m in week] == [
            ("received", "Daily", "2027-03-01T09:30:00Z"),
            ("received", "Daily", "2027-03-03T09:30:00Z"),
        ]
        with pytest.raises(BadRequest, match="startDate"):  # Tuesday is not an occurrence
            await alice.call("meeting:updateMeeting", {"meetingId": sid, "startDate": "2027-03-02T09:30:00Z"})
        with pytest.raises(Forbidden):
            await bob.call("meeting:updateMeeting", {"meetingId": sid, "subject": "Mine"})


async def test_counts_and_the_deprecated_api_show_instances(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        counts = await bob.call(
            "meeting:listUserMeetingCounts",
            {"localDateNow": "2030-01-01T12:00:00Z", "size": 3, "offset": 1, "timeZone": "Europe/London"},
        )
        assert [c["startDate"] for c in counts["meetingCounts"]] == [
            "2030-01-07T00:00:00+00:00",
            "2030-01-09T00:00:00+00:00",
            "2030-01-14T00:00:00+00:00",
        ]
        assert [c["count"] for c in counts["meetingCounts"]] == [1, 1, 1]
        old = await bob.call(
            "meeting:listUserMeetingsInDateRange",
            {"startDate": "2027-03-01T00:00:00Z", "endDate": "2027-03-04T00:00:00Z"},
        )
        assert [m["id"] for m in old["meetings"]] == [f"{sid}_20270301T0900Z", f"{sid}_20270303T0900Z"]
        got = await bob.call("meeting:get", {"meetingId": f"{sid}_20270301T0900Z"})
        assert got["meeting"]["startDate"] == "2027-03-01T09:00:00Z"
        legacy = {
            "startDate": "2027-03-01T09:00:00Z",
            "endDate": "2027-03-01T10:00:00Z",
            "subject": "x",
            "roomId": "lobby",
        }
        with pytest.raises(BadRequest, match="recurrence"):
            await alice.call("meeting:create", {"meeting": {**legacy, "recurrence": {"rule": "FREQ=DAILY"}}})
        with pytest.raises(BadRequest, match="recurrence"):
            await alice.call(
                "meeting:update", {"meetingId": sid, "meeting": {"recurrence": {"rule": "FREQ=DAILY"}}}
            )


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"recurrence": {"rule": "FREQ=HOURLY"}}, "data.recurrence.rule"),
        ({"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO;BYHOUR=3"}}, "BYHOUR"),
        ({"recurrence": {"rule": "FREQ=WEEKLY;BYDAY=TU"}}, "data.startDate"),
        ({"recurrence": {"rule": "FREQ=WEEKLY", "timeZone": "Mars/Olympus"}}, "data.recurrence.timeZone"),
        ({"recurrence": {"rule": ""}}, "rule"),
        ({"recurrence": {"rule": "FREQ=WEEKLY", "extra": 1}}, "extra"),
        ({"recurrence": "FREQ=WEEKLY"}, "recurrence"),
    ],
)
async def test_bad_series_are_400_and_change_nothing(
    world: ServerHandle, change: dict[str, Any], path: str
) -> None:
    async with connect(world.url, token("alice")) as alice:
        with pytest.raises(BadRequest, match=path):
            await alice.call("meeting:createMeeting", {**STANDUP, **change})
        assert await listed(alice, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z") == []


async def test_a_single_meeting_can_become_a_series(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, redis_of(world) as redis:
        mid = (
            await alice.call("meeting:createMeeting", meeting("2027-03-01T09:00:00Z", "2027-03-01T09:15:00Z"))
        )["meeting"]["meetingId"]
        changed = await alice.call(
            "meeting:updateMeeting", {"meetingId": mid, "recurrence": {"rule": "FREQ=DAILY;COUNT=3"}}
        )
        assert changed["meeting"]["recurrence"] == {"rule": "FREQ=DAILY;COUNT=3", "timeZone": "UTC"}
        starts = [m["startDate"] for m in await listed(alice, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")]
        assert starts == ["2027-03-01T09:00:00Z", "2027-03-02T09:00:00Z", "2027-03-03T09:00:00Z"]
        assert await check_invariants(redis, Keys(world.settings.key_prefix)) == 1


async def test_racing_rsvps_and_a_split_racing_an_instance_edit_keep_the_invariants(
    start_server: StartServer,
) -> None:
    servers = [await start_server(rate_per_second=10_000, rate_burst=10_000) for _ in range(2)]
    await seed(servers[0])
    async with (
        connect(servers[0].url, token("alice")) as alice,
        connect(servers[1].url, token("alice")) as alice2,
        connect(servers[0].url, token("bob")) as bob,
        connect(servers[1].url, token("bob")) as bob2,
        redis_of(servers[0]) as redis,
    ):
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        monday = f"{sid}_20270308T0900Z"

        async def flip(client: Client, target: str, rounds: int) -> None:
            for i in range(rounds):
                endpoint = "meeting:acceptMeetingRequest" if i % 2 else "meeting:declineMeetingRequest"
                await client.call(endpoint, {"meetingId": target})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flip, bob, sid, 20)
            nursery.start_soon(flip, bob2, monday, 21)
        week = await listed(bob, "2027-03-08T00:00:00Z", "2027-03-11T00:00:00Z")
        assert [m["status"] for m in week] == ["declined", "accepted"]  # the instance's own, the series'

        later = f"{sid}_20270322T0900Z"
        results: dict[str, Any] = {}

        async def edit() -> None:
            try:
                results["edit"] = await alice2.call(
                    "meeting:updateMeeting", {"meetingId": later, "subject": "Moved"}
                )
            except NotFound:  # the split came first: the instance now belongs to the new series
                results["edit"] = None

        async def split() -> None:
            results["split"] = await alice.call(
                "meeting:updateMeeting",
                {"meetingId": f"{sid}_20270315T0900Z", "scope": "following", "subject": "New"},
            )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(edit)
            nursery.start_soon(split)
        new_id = results["split"]["meeting"]["meetingId"]
        after = await listed(alice, "2027-03-22T00:00:00Z", "2027-03-23T00:00:00Z")
        # Whichever ran first, the series that now owns the instance shows the outcome.
        expected = "New" if results["edit"] is None else "Moved"
        assert [(m["seriesId"], m["subject"]) for m in after] == [(new_id, expected)]
        assert await check_invariants(redis, Keys(servers[0].settings.key_prefix)) == 2


async def test_deleting_a_user_removes_them_from_series(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as root,
        redis_of(world) as redis,
    ):
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        async with connect(world.url, token("bob")) as bob:
            await bob.call("meeting:declineMeetingRequest", {"meetingId": f"{sid}_20270301T0900Z"})
            await bob.call("meeting:createMeeting", {**STANDUP, "invitedUserIds": ["alice"]})
        await root.call("admin:deleteUser", {"userId": "bob"})
        got = await alice.call("meeting:getMeeting", {"meetingId": sid})
        assert got["meeting"]["participantIds"] == ["alice", "carol"]
        assert [
            m["meetingId"][:32] for m in await listed(alice, "2027-03-01T00:00:00Z", "2027-03-02T00:00:00Z")
        ] == [sid]
        assert await check_invariants(redis, Keys(world.settings.key_prefix)) == 1


async def test_deleting_the_other_user_of_a_direct_series_is_one_update(world: ServerHandle) -> None:
    # Removed and invalid in one step, as for a single direct meeting: one event, not a
    # removal still valid and then an invalidation.
    direct = {**STANDUP, "sourceType": "direct", "sourceIds": ["carol"], "invitedUserIds": ["bob"]}
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as root,
    ):
        await ready(alice)
        sid = (await alice.call("meeting:createMeeting", direct))["meeting"]["meetingId"]
        await alice.next_push("meeting:onMeetingCreated")
        await root.call("admin:deleteUser", {"userId": "carol"})
        marker = await alice.call("meeting:createMeeting", meeting(subject="marker", invited=[]))
        shown = []
        with trio.fail_after(5):
            while (push := await alice.next_push()).endpoint != "meeting:onMeetingCreated":
                got = push.data["meeting"]
                shown.append((push.endpoint, got["meetingId"], got["isValid"], got["participantIds"]))
        assert push.data["meeting"] == marker["meeting"]
        assert shown == [("meeting:onMeetingUpdated", sid, False, ["alice", "bob"])]


async def test_repeated_series_changes_get_the_first_answer(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        cancel = {"meetingId": f"{sid}_20270303T0900Z"}
        first = await alice.request("meeting:deleteMeeting", cancel, event_id="cancel-1")
        again = await alice.request("meeting:deleteMeeting", cancel, event_id="cancel-1")
        assert (first.error.status, again.error.status) == (False, False)
        assert (await alice.request("meeting:deleteMeeting", cancel, event_id="cancel-2")).error.code == 404
        split = {"meetingId": f"{sid}_20270308T0900Z", "scope": "following", "subject": "Later"}
        first = await alice.request("meeting:updateMeeting", split, event_id="split-1")
        again = await alice.request("meeting:updateMeeting", split, event_id="split-1")
        assert first.data == again.data and first.data["meeting"]["meetingId"] != sid
        moved = {
            "meetingId": f"{sid}_20270301T0900Z",
            "startDate": "2027-03-01T10:00:00Z",
            "endDate": "2027-03-01T10:15:00Z",
        }
        first = await alice.request("meeting:updateMeeting", moved, event_id="move-1")
        again = await alice.request("meeting:updateMeeting", moved, event_id="move-1")
        assert first.data == again.data and first.data["meeting"]["startDate"] == "2027-03-01T10:00:00Z"
        rsvp = {"meetingId": f"{sid}_20270301T0900Z"}
        assert (
            await bob.request("meeting:declineMeetingRequest", rsvp, event_id="no-1")
        ).error.status is False
        assert (
            await bob.request("meeting:declineMeetingRequest", rsvp, event_id="no-1")
        ).error.status is False


async def test_the_typed_client_speaks_series(world: ServerHandle) -> None:

    first = datetime(2027, 3, 1, 9, tzinfo=UTC)
    async with open_client(world.url, token("alice"), events=False) as alice:
        series = await alice.create_series(
            p.CreateMeeting(
                "room",
                ["lobby"],
                "Stand-up",
                first,
                datetime(2027, 3, 1, 9, 15, tzinfo=UTC),
                invitedUserIds=["bob"],
            ),
            "FREQ=WEEKLY;BYDAY=MO",
            "Europe/London",
        )
        assert isinstance(series.recurrence, Recurrence) and series.recurrence.timeZone == "Europe/London"
        week = p.ListUserMeetings(first, datetime(2027, 3, 15, tzinfo=UTC))
        instances = await alice.list_instances(week)
        assert [m.meetingId for m in instances] == [
            MeetingsClient.instance_id(series.meetingId, first),
            MeetingsClient.instance_id(series.meetingId, datetime(2027, 3, 8, 9, tzinfo=UTC)),
        ]
        assert (
            instances[0].seriesId == series.meetingId
            and instances[0].originalStartDate == "2027-03-01T09:00:00Z"
        )
        await alice.cancel_instance(instances[0].meetingId)
        later = await alice.split_series(p.UpdateMeeting(instances[1].meetingId, subject="Later"))
        assert later.meetingId != series.meetingId and later.subject == "Later"
        await alice.delete_meeting(
            MeetingsClient.instance_id(later.meetingId, datetime(2027, 3, 15, 9, tzinfo=UTC)),
            scope="following",
        )
        left = await alice.list_instances(p.ListUserMeetings(first, datetime(2027, 4, 1, tzinfo=UTC)))
        assert [(m.seriesId, m.startDate, m.subject) for m in left] == [
            (later.meetingId, "2027-03-08T09:00:00Z", "Later")
        ]


async def test_limits_and_has_more_count_instances(world: ServerHandle) -> None:
    daily = {**STANDUP, "invitedUserIds": [], "recurrence": {"rule": "FREQ=DAILY", "timeZone": "UTC"}}
    async with connect(world.url, token("alice")) as alice:
        for _ in range(3):  # 3 x 366 daily instances in a 366-day range
            await alice.call("meeting:createMeeting", daily)
        await alice.call(
            "meeting:createMeeting", meeting("2027-03-01T08:00:00Z", "2027-03-01T08:30:00Z", invited=[])
        )
        reply = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2027-03-01T00:00:00Z", "endDate": "2028-03-01T00:00:00Z"},
        )
        assert len(reply["meetings"]) == 1000 and reply["hasMore"] is True
        starts = [(m["startDate"], m["meetingId"]) for m in reply["meetings"]]
        assert starts == sorted(starts)
        assert "seriesId" not in reply["meetings"][0]  # the single meeting at 08:00 comes first
        week = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2027-03-01T00:00:00Z", "endDate": "2027-03-08T00:00:00Z"},
        )
        assert len(week["meetings"]) == 22 and week["hasMore"] is False


async def test_a_failed_series_change_changes_nothing(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, redis_of(world) as redis:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        keys = Keys(world.settings.key_prefix)
        before = [
            await redis.execute("HGETALL", key) for key in (keys.meeting(sid), keys.series_instances(sid))
        ]
        bad = [
            {
                "meetingId": sid,
                "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=TU"},
            },  # start no longer an occurrence
            {"meetingId": sid, "invitedUserIds": ["ghost"], "subject": "x"},  # unknown invitee
            {"meetingId": f"{sid}_20270301T0900Z", "invitedUserIds": ["bob"]},  # not on one instance
            {
                "meetingId": f"{sid}_20270301T0900Z",
                "endDate": "2027-03-01T08:00:00Z",
            },  # ends before it starts
            {
                "meetingId": f"{sid}_20270308T0900Z",
                "scope": "following",
                "recurrence": {"rule": "FREQ=YEARLY;COUNT=2000"},
            },
            {"meetingId": f"{sid}_20270308T0900Z", "scope": "sometimes"},
            {"meetingId": f"{sid}_20270309T0900Z", "subject": "not an instance"},
        ]
        for change in bad:
            frame = await alice.request("meeting:updateMeeting", change)
            assert frame.error.code in (400, 404), change
        after = [
            await redis.execute("HGETALL", key) for key in (keys.meeting(sid), keys.series_instances(sid))
        ]
        assert after == before


@pytest.mark.parametrize("scope", ["series", "following"])
async def test_an_invitee_naming_an_unknown_invitee_in_a_series_change_hears_404_before_403(
    world: ServerHandle, scope: str
) -> None:
    # Bob, invited to the stand-up, tries to re-invite someone who does not exist, for the
    # whole series or from one instance on. Contract 3: existence (404, naming the unknown
    # invitee) comes before permission (403), as for a single meeting.
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        change: dict[str, Any] = {"meetingId": sid, "invitedUserIds": ["ghost"]}
        if scope == "following":
            change |= {"meetingId": f"{sid}_20270308T0900Z", "scope": "following"}
        refused = (await bob.request("meeting:updateMeeting", change)).error
        assert (refused.code, "ghost" in refused.message) == (404, True), refused
        # naming only users who exist, he is told that only the organizer may change it
        change["invitedUserIds"] = ["carol"]
        assert (await bob.request("meeting:updateMeeting", change)).error.code == 403


async def test_a_split_that_drops_an_invitee_drops_their_instance_statuses(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob")) as bob,
        redis_of(world) as redis,
    ):
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        await bob.call("meeting:declineMeetingRequest", {"meetingId": f"{sid}_20270315T0900Z"})
        split = await alice.call(
            "meeting:updateMeeting",
            {"meetingId": f"{sid}_20270308T0900Z", "scope": "following", "invitedUserIds": ["carol"]},
        )
        new_id = split["meeting"]["meetingId"]
        assert split["meeting"]["participantIds"] == ["alice", "carol"]
        assert await check_invariants(redis, Keys(world.settings.key_prefix)) == 2
        week = await listed(alice, "2027-03-15T00:00:00Z", "2027-03-16T00:00:00Z")
        assert [(m["seriesId"], [p["userId"] for p in m["participants"]]) for m in week] == [
            (new_id, ["alice", "carol"])
        ]


class Model:
    """What the instances of one split-up series should look like, kept by hand."""

    def __init__(self, sid: str, origs: list[int]) -> None:
        self.owner = dict.fromkeys(origs, sid)  # original start -> the series holding it
        self.start = {o: o for o in origs}
        self.own_subject: dict[int, str] = {}
        self.own_status: dict[tuple[int, str], str] = {}
        self.subject = {sid: "Stand-up"}
        self.status: dict[str, dict[str, str]] = {sid: {}}

    def expected(self, uid: str) -> list[tuple[str, str, str, str]]:
        rows = []
        for orig, sid in self.owner.items():
            status = self.own_status.get((orig, uid)) or self.status[sid].get(uid) or "received"
            subject = self.own_subject.get(orig, self.subject[sid])
            rows.append((format_utc(self.start[orig]), instance_id(sid, orig), subject, status))
        return sorted(rows)


@pytest.mark.parametrize("seed", [14, 15, 16])
async def test_random_series_changes_match_a_model(world: ServerHandle, seed: int) -> None:
    rng = random.Random(seed)
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob")) as bob,
        connect(world.url, token("carol")) as carol,
        redis_of(world) as redis,
    ):
        series = {
            **STANDUP,
            "recurrence": {"rule": "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=12", "timeZone": "Europe/London"},
        }
        sid = (await alice.call("meeting:createMeeting", series))["meeting"]["meetingId"]
        rows = await listed(alice, "2027-02-25T00:00:00Z", "2027-04-20T00:00:00Z")
        model = Model(sid, [to_minute(datetime.fromisoformat(m["startDate"]), "x") for m in rows])
        invitees = {"bob": bob, "carol": carol}
        for step in range(50):
            orig = rng.choice(sorted(model.owner))
            iid, owner = instance_id(model.owner[orig], orig), model.owner[orig]
            kind = rng.choice(["rsvp", "series_rsvp", "subject", "move", "cancel", "split", "series_subject"])
            who = rng.choice(sorted(invitees))
            status = rng.choice(["accepted", "declined"])
            endpoint = (
                "meeting:acceptMeetingRequest" if status == "accepted" else "meeting:declineMeetingRequest"
            )
            if kind == "rsvp":
                await invitees[who].call(endpoint, {"meetingId": iid})
                model.own_status[(orig, who)] = status
            elif kind == "series_rsvp":
                await invitees[who].call(endpoint, {"meetingId": owner})
                model.status[owner][who] = status
            elif kind == "subject":
                await alice.call("meeting:updateMeeting", {"meetingId": iid, "subject": f"own {step}"})
                model.own_subject[orig] = f"own {step}"
            elif kind == "move":
                start = model.start[orig] + 30
                change = {"meetingId": iid, "startDate": format_utc(start), "endDate": format_utc(start + 15)}
                await alice.call("meeting:updateMeeting", change)
                model.start[orig] = start
                model.own_status.update({(orig, u): "received" for u in invitees})
            elif kind == "cancel":
                await alice.call("meeting:deleteMeeting", {"meetingId": iid})
                del model.owner[orig]
            elif kind == "split" and orig != min(o for o, s in model.owner.items() if s == owner):
                change = {"meetingId": iid, "scope": "following", "subject": f"split {step}"}
                new = (await alice.call("meeting:updateMeeting", change))["meeting"]["meetingId"]
                model.subject[new], model.status[new] = f"split {step}", dict(model.status[owner])
                model.owner.update({o: new for o, s in model.owner.items() if s == owner and o >= orig})
            elif kind == "series_subject":
                await alice.call("meeting:updateMeeting", {"meetingId": owner, "subject": f"series {step}"})
                model.subject[owner] = f"series {step}"
            got = await listed(bob, "2027-02-25T00:00:00Z", "2027-04-20T00:00:00Z")
            assert [
                (m["startDate"], m["meetingId"], m["subject"], m["status"]) for m in got
            ] == model.expected("bob"), (step, kind)
        assert await check_invariants(redis, Keys(world.settings.key_prefix)) == len(model.subject)


async def test_legacy_connections_see_instances_as_meetings(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("bob"), legacy="1") as old,
    ):
        await ready(old)
        sid = (await alice.call("meeting:createMeeting", STANDUP))["meeting"]["meetingId"]
        assert (await old.next_push("meeting:meetingUpdated")).data["meeting"]["id"] == sid
        iid = f"{sid}_20270303T0900Z"
        await alice.call("meeting:updateMeeting", {"meetingId": iid, "subject": "Moved"})
        pushed = (await old.next_push("meeting:meetingUpdated")).data["meeting"]
        assert (pushed["id"], pushed["subject"], pushed["startDate"]) == (
            iid,
            "Moved",
            "2027-03-03T09:00:00Z",
        )
        await alice.call("meeting:deleteMeeting", {"meetingId": iid})
        assert (await old.next_push("meeting:meetingDeleted")).data == {"meetingId": iid}
        # The ids it shows are changeable through it (contract 5): an instance, then the series.
        monday = f"{sid}_20270308T0900Z"
        changed = await alice.call(
            "meeting:update",
            {"meetingId": monday, "meeting": {"subject": "Retro", "startDate": "2027-03-08T10:00:00Z",
                                              "endDate": "2027-03-08T10:30:00Z"}},
        )  # fmt: skip
        shown = (changed["meeting"]["id"], changed["meeting"]["subject"], changed["meeting"]["startDate"])
        assert shown == (monday, "Retro", "2027-03-08T10:00:00Z")
        pushed = (await old.next_push("meeting:meetingUpdated")).data["meeting"]
        assert (pushed["id"], pushed["subject"], pushed["endDate"]) == (
            monday,
            "Retro",
            "2027-03-08T10:30:00Z",
        )
        await alice.call("meeting:update", {"meetingId": sid, "meeting": {"subject": "Daily"}})
        assert (await old.next_push("meeting:meetingUpdated")).data["meeting"]["subject"] == "Daily"
        week = await listed(alice, "2027-03-01T00:00:00Z", "2027-03-11T00:00:00Z")
        assert [(m["startDate"], m["subject"]) for m in week] == [
            ("2027-03-01T09:00:00Z", "Daily"),
            ("2027-03-08T10:00:00Z", "Retro"),  # its own subject stays; 03-03 was cancelled
            ("2027-03-10T09:00:00Z", "Daily"),
        ]
        with pytest.raises(BadRequest, match=r"`data\.meeting\.endDate`"):  # its fields, by their names here
            await alice.call(
                "meeting:update", {"meetingId": monday, "meeting": {"endDate": "2027-03-08T09:00:00Z"}}
            )
        for target in (monday, sid):  # a series has no rule for moving one of its instances
            with pytest.raises(BadRequest, match="series"):
                await alice.call("meeting:update", {"meetingId": target, "meeting": {"roomId": "hall"}})


async def test_a_series_in_a_deleted_source_becomes_invalid_and_a_prop_with_one_is_busy(
    world: ServerHandle,
) -> None:
    on_prop = {**STANDUP, "sourceType": "prop", "sourceIds": ["lobby", "table"]}
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as root,
        redis_of(world) as redis,
    ):
        sid = (await alice.call("meeting:createMeeting", on_prop))["meeting"]["meetingId"]
        busy = await alice.call(
            "meeting:checkPropHasMeetingsOrSocialSessions", {"roomId": "lobby", "propId": "table"}
        )
        assert busy == {"hasMeetingsOrSocialSessions": True}  # a never-ending series ends after now
        await root.call("admin:deleteProp", {"roomId": "lobby", "propId": "table"})
        week = await listed(alice, "2027-03-01T00:00:00Z", "2027-03-08T00:00:00Z")
        assert [(m["seriesId"], m["isValid"]) for m in week] == [(sid, False), (sid, False)]
        assert await check_invariants(redis, Keys(world.settings.key_prefix)) == 1


@pytest.mark.parametrize("page", [directory.PROP_PAGE, 1])
async def test_a_prop_is_busy_only_while_an_instance_of_its_series_lies_ahead(
    world: ServerHandle, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A series' entry in the prop's index is a bound on its last end; the check looks at
    # the instances themselves (a cancelled one, or none before UNTIL, makes no meeting).
    # (With a page of one id, each id is a page of the index read: the server runs here.)
    monkeypatch.setattr(directory, "PROP_PAGE", page)
    now = int(time.time()) // 60
    check = {"roomId": "lobby", "propId": "table"}

    def on_prop(start: int, rule: str) -> dict[str, Any]:
        recurrence = {"rule": rule, "timeZone": "UTC"}
        return meeting(format_utc(start), format_utc(start + 60), ("prop", ["lobby", "table"]),
                       invited=[], recurrence=recurrence)  # fmt: skip

    async def busy(client: Client) -> bool:
        reply = await client.call("meeting:checkPropHasMeetingsOrSocialSessions", check)
        return bool(reply["hasMeetingsOrSocialSessions"])

    async with connect(world.url, token("alice")) as alice:
        # One instance three days ago; the next would be after UNTIL.
        until = datetime.fromtimestamp((now + 2 * 1440) * 60, UTC).strftime("%Y%m%dT%H%M00Z")
        await alice.call("meeting:createMeeting", on_prop(now - 3 * 1440, f"FREQ=WEEKLY;UNTIL={until}"))
        assert await busy(alice) is False
        # The first of two is over; the second, in three hours, is busy until cancelled.
        first = now - 21 * 60
        sid = (await alice.call("meeting:createMeeting", on_prop(first, "FREQ=DAILY;COUNT=2")))["meeting"]
        assert await busy(alice) is True
        await alice.call("meeting:deleteMeeting", {"meetingId": instance_id(sid["meetingId"], first + 1440)})
        assert await busy(alice) is False
        # A never-ending one always has an instance ahead.
        await alice.call("meeting:createMeeting", on_prop(now - 1440, "FREQ=DAILY"))
        assert await busy(alice) is True


async def test_an_acknowledged_time_change_is_not_lost_when_the_meeting_becomes_a_series_meanwhile(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (alice, tab 1): "repeat this meeting daily" (no dates: the series starts where
    the meeting is). B (tab 2): "move it to 12:00", answered in between. A single meeting
    has no version, so the conversion compares the times it read (update_series.lua): it
    is prepared again and the series starts at 12:00. The hook holds A between its read
    and its write."""
    await seed(server)
    a_read, b_done = hold_first_call(monkeypatch, series_changes, "rule_and_zone")
    async with connect(server.url, token("alice")) as a, connect(server.url, token("alice")) as b:
        created = await a.call(
            "meeting:createMeeting", meeting("2030-03-04T10:00:00Z", "2030-03-04T11:00:00Z")
        )
        mid = created["meeting"]["meetingId"]
        answers: dict[str, Any] = {}

        async def make_series() -> None:
            answers["series"] = await a.call(
                "meeting:updateMeeting",
                {"meetingId": mid, "recurrence": {"rule": "FREQ=DAILY;COUNT=3", "timeZone": "UTC"}},
            )

        async def move() -> None:
            await a_read.wait()
            try:
                answers["move"] = await b.call(
                    "meeting:updateMeeting",
                    {
                        "meetingId": mid,
                        "startDate": "2030-03-04T12:00:00Z",
                        "endDate": "2030-03-04T13:00:00Z",
                    },
                )
            finally:
                b_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(make_series)
            nursery.start_soon(move)
        assert answers["move"]["meeting"]["startDate"] == "2030-03-04T12:00:00Z"
        final = (await a.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        # The move was acknowledged; it must not silently disappear.
        assert (final["startDate"], final["endDate"]) == ("2030-03-04T12:00:00Z", "2030-03-04T13:00:00Z"), (
            final["startDate"],
            final.get("recurrence"),
            answers["series"]["meeting"]["startDate"],
        )
    async with redis_of(server) as redis:
        await check_invariants(redis, Keys(server.settings.key_prefix))


async def test_an_instance_change_racing_the_deletion_of_its_room_does_not_announce_it_valid_again(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An instance change prepared before its room is deleted: the deletion moves the
    series' version (invalidate.lua), so the change is prepared again and its event and
    answer show the instance invalid, as it ends (contract 5). The hook holds the change
    between its read and its write while the admin deletes the room."""
    await seed(server)
    read, deleted = hold_first_call(monkeypatch, series_changes, "instance_state")
    async with (
        connect(server.url, token("alice")) as alice,
        connect(server.url, token("bob")) as bob,
        connect(server.url, token("root", admin=True)) as admin,
    ):
        weekly = meeting(
            "2030-03-04T09:00:00Z",
            "2030-03-04T09:30:00Z",
            invited=["bob"],
            recurrence={"rule": "FREQ=WEEKLY;COUNT=4", "timeZone": "UTC"},
        )
        sid = (await alice.call("meeting:createMeeting", weekly))["meeting"]["meetingId"]
        instance = f"{sid}_20300311T0900Z"

        answered: dict[str, Any] = {}

        async def rename() -> None:
            answered.update(
                await alice.call("meeting:updateMeeting", {"meetingId": instance, "subject": "Moved agenda"})
            )

        async def delete_room() -> None:
            await read.wait()
            try:
                await admin.call("admin:deleteRoom", {"roomId": "lobby"})
            finally:
                deleted.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(rename)
            nursery.start_soon(delete_room)
        final = (await bob.call("meeting:getMeeting", {"meetingId": instance}))["meeting"]
        assert final["isValid"] is False
        assert final["subject"] == "Moved agenda"
        # bob's pushes about this series, in order: the last one about the instance must
        # agree with the final state.
        seen: list[tuple[str | None, Any, Any]] = []
        await alice.call(
            "meeting:createMeeting", meeting(subject="marker", invited=["bob"], source=("room", ["hall"]))
        )
        while True:
            push = await bob.next_push()
            if push.endpoint == "connection:ready":
                continue
            m = push.data.get("meeting", {})
            if m.get("subject") == "marker":
                break
            seen.append((push.endpoint, m.get("meetingId", push.data.get("meetingId")), m.get("isValid")))
        about_instance = [s for s in seen if s[1] == instance]
        assert about_instance, seen
        assert about_instance[-1][2] is False, (seen, answered["meeting"]["isValid"])


SERIES_ON_THE_LAST_DAY = [
    pytest.param(
        meeting(
            "9998-12-31T09:00:00Z",
            "9998-12-31T10:00:00Z",
            invited=[],
            recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=1,-1", "timeZone": "UTC"},
        ),
        None,
        id="create-weekly-bysetpos",
    ),
    pytest.param(
        meeting(
            "9998-12-31T09:00:00Z",
            "9998-12-31T10:00:00Z",
            invited=[],
            recurrence={"rule": "FREQ=DAILY;UNTIL=99991231T235959Z", "timeZone": "UTC"},
        ),
        {"subject": "renamed", "rejectConflicts": True},
        id="update-until-9999-rejectConflicts",
    ),
]


@pytest.mark.parametrize(("create", "update"), SERIES_ON_THE_LAST_DAY)
async def test_a_series_on_the_last_accepted_day_can_be_created_and_changed(
    server: ServerHandle, create: dict[str, Any], update: dict[str, Any] | None
) -> None:
    """Alice starts a series on 9998-12-31 (an accepted timestamp): a weekly rule that
    picks the first and last day of each week, or a daily one until the end of 9999. She
    can create it and change it with rejectConflicts, like any series."""
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        created = await alice.call("meeting:createMeeting", create)
        if update is not None:
            await alice.call(
                "meeting:updateMeeting", {"meetingId": created["meeting"]["meetingId"], **update}
            )


async def test_counts_of_a_sparse_series_answer_at_once_and_others_are_not_kept_waiting(
    server: ServerHandle,
) -> None:
    """Alice's series meets on every 29 February that is a Monday (every 28 years or so).
    Her meeting counts for the next 366 days with meetings list the one such day in the ten
    years they look at, at once; Bob, asking something on the same instance meanwhile, is
    not kept waiting (an instance is one thread: the rule used to be expanded to 9999)."""
    await seed(server)
    minute = random.randrange(60)  # a series no earlier test expanded (expansions are cached)
    start, end = f"2044-02-29T10:{minute:02d}:00Z", f"2044-02-29T11:{minute:02d}:00Z"
    rule = {"rule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO", "timeZone": "UTC"}
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        await alice.call("meeting:createMeeting", meeting(start, end, invited=[], recurrence=rule))
        took: dict[str, float] = {}

        async def counts() -> None:
            began = time.perf_counter()
            query = {"localDateNow": "2036-12-07T10:00:00Z", "size": 366, "timeZone": "UTC"}
            reply = await alice.call("meeting:listUserMeetingCounts", query)
            took["counts"] = time.perf_counter() - began
            assert reply["meetingCounts"] == [
                {"count": 1, "startDate": "2044-02-29T00:00:00+00:00", "endDate": "2044-03-01T00:00:00+00:00"}
            ]

        async def bystander() -> None:
            # The test shares the server's trio loop: how late Bob's answer comes after he
            # meant to ask is how long that loop (the server instance) was blocked.
            meant = time.perf_counter() + 0.05
            await trio.sleep(0.05)
            with pytest.raises(NotFound):
                await bob.call("meeting:getMeeting", {"meetingId": "nothing"})
            took["bob"] = time.perf_counter() - meant

        async with trio.open_nursery() as nursery:
            nursery.start_soon(counts)
            nursery.start_soon(bystander)
    assert took["counts"] < 1.0 and took["bob"] < 1.0, took


async def test_meeting_counts_look_ten_years_ahead(server: ServerHandle) -> None:
    """Alice has a daily stand-up, and one meeting in 2045. Her meeting counts page through
    the 3653 local days from today's on (ten years), each with its stand-up, then show only
    the single meeting: answered at once even at the largest offset."""
    await seed(server)
    minute = random.randrange(60)
    daily = {"rule": "FREQ=DAILY", "timeZone": "Europe/London"}
    created = meeting(f"2030-03-04T09:{minute:02d}:00Z", f"2030-03-04T10:{minute:02d}:00Z", invited=[])
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        await alice.call("meeting:createMeeting", {**created, "recurrence": daily})
        await alice.call("meeting:createMeeting", meeting("2045-06-01T09:00:00Z", "2045-06-01T10:00:00Z"))
        query = {"localDateNow": "2030-03-04T12:00:00Z", "timeZone": "UTC", "size": 366}
        last = await alice.call("meeting:listUserMeetingCounts", {**query, "offset": 3651})
        assert [(c["count"], c["startDate"]) for c in last["meetingCounts"]] == [
            (1, "2040-03-02T00:00:00+00:00"),
            (1, "2040-03-03T00:00:00+00:00"),
            (1, "2045-06-01T00:00:00+00:00"),
        ]
        began = time.perf_counter()
        beyond = await alice.call("meeting:listUserMeetingCounts", {**query, "offset": 3653})
        assert [c["startDate"] for c in beyond["meetingCounts"]] == ["2045-06-01T00:00:00+00:00"]
        beyond = await alice.call("meeting:listUserMeetingCounts", {**query, "offset": 100_000})
        assert beyond["meetingCounts"] == [] and time.perf_counter() - began < 1.0


async def test_an_invitation_ending_in_year_9999_leaves_the_invitees_counts_readable(
    server: ServerHandle,
) -> None:
    """Mallory invites Bob to a yearly, month-long meeting from 9998-11-30 (timestamps run
    to 9999-01-01). Bob's meeting counts near the end of the calendar show its days up to
    the last accepted one, never a 500 (its next instance ends on 9999-12-31, whose next
    local day is no date)."""
    await seed(server)
    async with connect(server.url, token("alice")) as mallory, connect(server.url, token("bob")) as bob:
        await ready(bob)
        yearly = {"rule": "FREQ=YEARLY", "timeZone": "UTC"}
        invitation = meeting(
            "9998-11-30T12:00:00Z", "9998-12-31T12:00:00Z", invited=["bob"], recurrence=yearly
        )
        await mallory.call("meeting:createMeeting", invitation)
        query = {"localDateNow": "9998-12-01T10:00:00Z", "timeZone": "UTC", "size": 366}
        counts = (await bob.call("meeting:listUserMeetingCounts", query))["meetingCounts"]
        assert len(counts) == 31 and {c["count"] for c in counts} == {1}
        assert counts[-1]["startDate"] == "9998-12-31T00:00:00+00:00"
        today = await bob.call("meeting:listUserMeetingCounts", {"localDateNow": "2026-12-07T10:00:00Z"})
        assert today["meetingCounts"] == []


async def test_a_calendar_full_of_series_is_listed_at_once(start_server: StartServer) -> None:
    """Mallory invites Bob to 2000 daily stand-ups (no consent is needed to invite). Bob's
    year still lists at once: the first 1000 meetings in order (his own 09:00 meeting,
    then the stand-ups' first day by id), with hasMore."""
    server = await start_server(rate_per_second=100_000.0, rate_burst=100_000)  # to set up fast
    await seed(server)
    async with connect(server.url, token("alice")) as mallory, connect(server.url, token("bob")) as bob:
        await ready(bob)
        daily = {"rule": "FREQ=DAILY", "timeZone": "Europe/London"}
        standup = meeting("2030-03-04T10:00:00Z", "2030-03-04T10:30:00Z", invited=["bob"], recurrence=daily)
        for _ in range(2000):
            await mallory.call("meeting:createMeeting", standup)
        own = await bob.call(
            "meeting:createMeeting", meeting("2030-03-04T09:00:00Z", "2030-03-04T09:30:00Z", invited=[])
        )
        year = {"startDate": "2030-03-04T00:00:00Z", "endDate": "2031-03-04T00:00:00Z"}
        began = time.perf_counter()
        reply = await bob.call("meeting:listUserMeetings", year)
        took = time.perf_counter() - began
        listed = reply["meetings"]
        assert len(listed) == 1000 and reply["hasMore"] and took < 1.0, took
        assert listed[0]["meetingId"] == own["meeting"]["meetingId"]
        assert {m["startDate"] for m in listed[1:]} == {"2030-03-04T10:00:00Z"}
        ids = [m["meetingId"] for m in listed[1:]]
        assert ids == sorted(ids) and all(m["status"] == "received" for m in listed[1:])


@pytest.mark.parametrize("rule", ["FREQ=DAILY", "FREQ=DAILY;COUNT=8"])
async def test_renaming_from_the_night_the_clocks_go_forward_on_keeps_the_later_meetings_where_they_are(
    world: ServerHandle, rule: str
) -> None:
    """A 01:30 London daily check (contract 9: "a 09:00 meeting stays at 09:00 local
    across clock changes"; "a wall time that does not exist that day moves forward by the
    length of the gap", so 28 March 2027's is at 02:30 BST = 01:30Z). Alice cancels the
    30th, then renames "this and following" from the 28th. Only the subject changes: the
    later checks stay at 01:30 local (00:30Z), the 30th stays cancelled (the new series
    takes over "cancellations"), and a COUNT=8 series still has 8 instances."""
    daily = meeting(
        "2027-03-26T01:30:00Z",
        "2027-03-26T02:00:00Z",
        invited=["bob"],
        subject="Night check",
        recurrence={"rule": rule, "timeZone": "Europe/London"},
    )
    window = ("2027-03-25T00:00:00Z", "2027-04-10T00:00:00Z")
    async with connect(world.url, token("alice")) as alice:
        sid = (await alice.call("meeting:createMeeting", daily))["meeting"]["meetingId"]
        await alice.call("meeting:deleteMeeting", {"meetingId": f"{sid}_20270330T0030Z"})
        before = [m["startDate"] for m in await listed(alice, *window)]
        assert before[:5] == [
            "2027-03-26T01:30:00Z",
            "2027-03-27T01:30:00Z",
            "2027-03-28T01:30:00Z",  # 01:30 GMT does not exist that night: 02:30 BST
            "2027-03-29T00:30:00Z",  # 01:30 BST
            "2027-03-31T00:30:00Z",  # the 30th is cancelled
        ]
        split = await alice.call(
            "meeting:updateMeeting",
            {"meetingId": f"{sid}_20270328T0130Z", "scope": "following", "subject": "Night ops"},
        )
        after = await listed(alice, *window)
        assert [m["startDate"] for m in after] == before
        assert [m["subject"] for m in after][2:] == ["Night ops"] * (len(before) - 2)
        # and the new series, changed as a whole, still runs at 01:30 local
        new_id = split["meeting"]["meetingId"]
        await alice.call("meeting:updateMeeting", {"meetingId": new_id, "description": "rota"})
        assert [m["startDate"] for m in await listed(alice, *window)] == before


# --- What one series' own changes cost (found by the security hunt) -------------------------


@asynccontextmanager
async def _daily_with_bob(server: ServerHandle) -> AsyncIterator[tuple[Any, Client, Client, str]]:
    """The server's Redis, alice and bob connected, and the id of alice's daily series from
    2030-03-04 10:00 UTC to which bob is invited."""
    async with (
        redis_of(server) as redis,
        connect(server.url, token("alice")) as alice,
        connect(server.url, token("bob")) as bob,
    ):
        await ready(alice)
        await ready(bob)
        daily = {"rule": "FREQ=DAILY", "timeZone": "UTC"}
        created = await alice.call(
            "meeting:createMeeting",
            meeting("2030-03-04T10:00:00Z", "2030-03-04T10:30:00Z", invited=["bob"], recurrence=daily),
        )
        yield redis, alice, bob, created["meeting"]["meetingId"]


async def _sent_by_redis(redis: Any) -> int:
    """Bytes Redis has written to its clients (INFO stats total_net_output_bytes)."""
    info = (await redis.execute("INFO", "stats")).decode()
    for line in info.splitlines():
        if line.startswith("total_net_output_bytes:"):
            return int(line.split(":")[1])
    raise AssertionError("no total_net_output_bytes in INFO stats")


async def test_a_one_day_read_of_a_series_does_not_read_every_instance_change_it_ever_had(
    start_server: StartServer,
) -> None:
    """Non-negotiables: "bound every input (... EXDATE lists)" and "a slow or hostile client
    never hurts the others" (hunt: one instance's getMeeting and accept read the series'
    whole instance hash). After 60 overrides a year ahead, each with a 10,000-character
    description (~600 KB in m:<id>:x), bob's getMeeting, exportMeeting and answer of one
    instance make Redis send about what they did before, and so does his listing of that
    day: only that instance's fields, or the day's, are sent (lua/includes/series.lua
    series_state)."""
    server = await start_server(rate_per_second=100_000.0, rate_burst=100_000)  # to set up fast
    await seed(server)
    day = "2030-03-04"
    async with _daily_with_bob(server) as (redis, alice, bob, sid):
        one = {"meetingId": f"{sid}_20300304T1000Z"}

        async def costs(answer: str) -> list[int]:
            out = []
            for name, data in [
                ("meeting:getMeeting", one),
                ("meeting:exportMeeting", one),
                (f"meeting:{answer}MeetingRequest", one),
            ]:
                before = await _sent_by_redis(redis)
                await bob.call(name, data)
                out.append(await _sent_by_redis(redis) - before)
            return out

        baseline = await costs("accept")
        first = to_minute(datetime(2031, 1, 1, 10, tzinfo=UTC), "start")
        for i in range(60):
            changed = await alice.request(
                "meeting:updateMeeting",
                {"meetingId": instance_id(sid, first + i * 1440), "description": "x" * 10_000},
            )
            assert changed.error.code == 0, changed
        after = await costs("decline")
        assert all(a < b + 20_000 for a, b in zip(after, baseline, strict=True)), (baseline, after)
        one_day = {"startDate": f"{day}T00:00:00Z", "endDate": "2030-03-05T00:00:00Z"}
        before = await _sent_by_redis(redis)
        listed = await bob.call("meeting:listUserMeetings", one_day)
        assert await _sent_by_redis(redis) - before < 20_000 and len(listed["meetings"]) == 1
        got = await bob.call("meeting:getMeeting", one)
        assert got["meeting"]["participants"][1] == {"userId": "bob", "status": "declined"}
        far = await bob.call("meeting:getMeeting", {"meetingId": instance_id(sid, first)})
        assert far["meeting"]["description"] == "x" * 10_000


async def test_a_change_that_would_pass_the_bound_on_a_series_own_changes_is_a_400(
    server: ServerHandle,
) -> None:
    """docs/protocol.md: a series' instance changes (overrides, cancellations, instance
    answers) hold at most 10,000 entries; a change that would add one past it is a 400 that
    says so, and changes nothing; changes that add nothing (an answer given again, an
    instance already changed) still go through."""
    await seed(server)
    async with _daily_with_bob(server) as (redis, alice, bob, sid):
        first = to_minute(datetime(2030, 3, 4, 10, tzinfo=UTC), "start")
        changed = instance_id(sid, first)
        await alice.call("meeting:updateMeeting", {"meetingId": changed, "subject": "moved on"})
        await bob.call("meeting:declineMeetingRequest", {"meetingId": changed})
        xkey = Keys(server.settings.key_prefix).series_instances(sid)
        filler: list[str | int] = []
        for i in range(10_000 - await redis.execute("HLEN", xkey)):
            filler += [f"c:{first + 1440 * (1000 + i)}", 1]
        await redis.execute("HSET", xkey, *filler)
        fresh = {"meetingId": instance_id(sid, first + 1440)}
        for name, data, by in [
            ("meeting:updateMeeting", {**fresh, "subject": "one more"}, alice),
            ("meeting:deleteMeeting", fresh, alice),
            ("meeting:acceptMeetingRequest", fresh, bob),
        ]:
            refused = await by.request(name, data)
            assert refused.error.code == 400, (name, refused)
            assert f"series {sid} holds 10000 changes of its instances" in refused.error.message
        assert await redis.execute("HLEN", xkey) == 10_000
        await alice.call("meeting:updateMeeting", {"meetingId": changed, "subject": "again"})
        await bob.call("meeting:declineMeetingRequest", {"meetingId": changed})
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": changed})
        assert (await bob.call("meeting:getMeeting", {"meetingId": changed}))["meeting"]["subject"] == "again"


async def test_at_most_1000_instances_of_a_series_have_content_of_their_own(server: ServerHandle) -> None:
    """docs/protocol.md: at most 1,000 instances of a series have a subject, description or
    color of their own (the series hash's `xo` counts them; a series stored without it is
    counted when next changed). One more is a 400 and changes nothing; moves, answers and
    changes to an instance that already has its own still go through."""
    await seed(server)
    async with _daily_with_bob(server) as (redis, alice, bob, sid):
        keys = Keys(server.settings.key_prefix)
        first = to_minute(datetime(2030, 3, 4, 10, tzinfo=UTC), "start")
        owned = instance_id(sid, first)
        await alice.call(
            "meeting:updateMeeting", {"meetingId": owned, "color": {"r": 1, "g": 0, "b": 0, "a": 1}}
        )
        moved = {"meetingId": instance_id(sid, first + 1440), "startDate": "2030-03-05T11:00:00Z"}
        await alice.call("meeting:updateMeeting", {**moved, "endDate": "2030-03-05T11:30:00Z"})
        await redis.execute("HDEL", keys.meeting(sid), "xo")  # as stored before it was kept
        await bob.call("meeting:declineMeetingRequest", {"meetingId": owned})
        assert await redis.execute("HGET", keys.meeting(sid), "xo") == b"1"
        await redis.execute("HSET", keys.meeting(sid), "xo", 1000)
        fresh = instance_id(sid, first + 2 * 1440)
        refused = await alice.request("meeting:updateMeeting", {"meetingId": fresh, "subject": "one more"})
        assert refused.error.code == 400, refused
        assert (
            f"series {sid} has 1000 instances with a subject, description or color" in refused.error.message
        )
        assert (await bob.call("meeting:getMeeting", {"meetingId": fresh}))["meeting"][
            "subject"
        ] != "one more"
        await alice.call("meeting:updateMeeting", {"meetingId": owned, "description": "again"})
        await alice.call("meeting:updateMeeting", {**moved, "endDate": "2030-03-05T12:00:00Z"})
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": fresh})
        await alice.call("meeting:deleteMeeting", {"meetingId": owned})
        assert await redis.execute("HGET", keys.meeting(sid), "xo") == b"999"
        await alice.call("meeting:updateMeeting", {"meetingId": fresh, "subject": "now it fits"})
        assert await redis.execute("HGET", keys.meeting(sid), "xo") == b"1000"
