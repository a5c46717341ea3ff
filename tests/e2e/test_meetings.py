"""Meetings: create, update, delete, get, list, accept, decline (contract section 5)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import BadRequest, Forbidden, NotFound
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import assert_no_other_push, meeting, ready, seed


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    return server


async def users(stack: AsyncExitStack, server: ServerHandle, *names: str) -> list[Client]:
    return [await ready(await stack.enter_async_context(connect(server.url, token(n)))) for n in names]


async def test_organizer_creates_a_room_meeting_and_everyone_is_told(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob, carol = await users(stack, world, "alice", "bob", "carol")
        reply = await alice.call(
            "meeting:createMeeting",
            meeting(invited=["bob", "alice", "bob"], color={"r": 1, "g": 0.5, "b": 0, "a": 1}),
        )
        m = reply["meeting"]
        assert m["organizerId"] == "alice"
        assert m["participantIds"] == ["alice", "bob"]
        assert m["participants"] == [
            {"userId": "alice", "status": "accepted"},
            {"userId": "bob", "status": "received"},
        ]
        assert (m["sourceType"], m["sourceString"], m["sourcePk"], m["networkId"]) == (
            "room",
            "room:lobby",
            "lobby",
            "net1",
        )
        assert (m["startDate"], m["endDate"], m["isValid"]) == (
            "2030-03-04T10:00:00Z",
            "2030-03-04T11:00:00Z",
            True,
        )
        assert m["color"] == {"r": 1.0, "g": 0.5, "b": 0.0, "a": 1.0}
        for client in (alice, bob):
            push = await client.next_push()
            assert push.endpoint == "meeting:onMeetingCreated"
            assert push.data["meeting"] == m
            assert push.event and push.event.id
        await assert_no_other_push(carol)
        stored = await bob.call("meeting:getMeeting", {"meetingId": m["meetingId"]})
        assert stored["meeting"] == m  # what creation showed is what was stored


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (("prop", ["lobby", "table"]), ("prop:lobby:table", "table", "net1")),
        (("group", ["team"]), ("group:team", "team", "net1")),
        (("direct", ["carol"]), ("direct:carol", "carol", "")),
        (("room", ["hall"]), ("room:hall", "hall", "net2")),
    ],
)
async def test_every_source_type_has_its_source_string_pk_and_network(
    world: ServerHandle, source: tuple[str, list[str]], expected: tuple[str, str, str]
) -> None:
    async with connect(world.url, token("alice")) as alice:
        m = (await alice.call("meeting:createMeeting", meeting(source=source, invited=["bob"])))["meeting"]
        assert (m["sourceString"], m["sourcePk"], m["networkId"]) == expected
        if source[0] == "direct":
            assert m["participantIds"] == ["alice", "carol", "bob"]


@pytest.mark.parametrize(
    ("change", "error", "needle"),
    [
        ({"sourceType": "planet"}, BadRequest, "sourceType"),
        ({"sourceType": "prop", "sourceIds": ["lobby"]}, BadRequest, "[roomId, propId]"),
        ({"sourceIds": []}, BadRequest, "sourceIds"),
        ({"endDate": "2030-03-04T10:00:30Z"}, BadRequest, "after"),
        ({"endDate": "2030-03-04T09:00:00Z"}, BadRequest, "after"),
        ({"startDate": "2030-03-04 10:00"}, BadRequest, "startDate"),
        ({"startDate": "2030-03-04T10:00:00"}, BadRequest, "startDate"),
        ({"endDate": "2030-05-04T09:00:00Z"}, BadRequest, "31 days"),
        ({"subject": "   "}, BadRequest, "subject"),
        ({"subject": "x" * 501}, BadRequest, "subject"),
        ({"color": {"r": 2, "g": 0, "b": 0, "a": 1}}, BadRequest, "color.r"),
        ({"invitedUserIds": [f"u{i}" for i in range(101)]}, BadRequest, "at most 100"),
        ({"sourceType": "direct", "sourceIds": ["alice"]}, BadRequest, "another user"),
        ({"sourceIds": ["nowhere"]}, NotFound, "room nowhere"),
        ({"sourceType": "prop", "sourceIds": ["lobby", "ghost"]}, NotFound, "prop lobby/ghost"),
        ({"sourceType": "direct", "sourceIds": ["nobody"]}, NotFound, "user nobody"),
        ({"invitedUserIds": ["bob", "ghost1", "ghost2"]}, NotFound, "ghost1, ghost2"),
    ],
)
async def test_bad_create_requests_get_the_contract_code_and_change_nothing(
    world: ServerHandle, change: dict[str, object], error: type[Exception], needle: str
) -> None:
    async with connect(world.url, token("alice")) as alice:
        await ready(alice)
        with pytest.raises(error) as caught:
            await alice.call("meeting:createMeeting", {**meeting(), **change})
        assert needle in str(caught.value)
        listed = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-12-31T00:00:00Z"},
        )
        assert listed["meetings"] == []
        await assert_no_other_push(alice)


async def test_only_group_members_create_group_meetings(world: ServerHandle) -> None:
    async with connect(world.url, token("carol")) as carol:
        with pytest.raises(Forbidden, match="team"):
            await carol.call("meeting:createMeeting", meeting(source=("group", ["team"])))


async def test_timestamps_with_offsets_and_epoch_ms_are_kept_to_the_minute(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        m = (
            await alice.call(
                "meeting:createMeeting", meeting(start="2030-03-04T11:00:59+01:00", end=1899539999999)
            )
        )["meeting"]
        assert (m["startDate"], m["endDate"]) == ("2030-03-04T10:00:00Z", "2030-03-12T09:59:00Z")


async def test_only_participants_can_get_a_meeting(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob, carol = await users(stack, world, "alice", "bob", "carol")
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        assert (await bob.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["meetingId"] == mid
        with pytest.raises(NotFound, match=mid):
            await carol.call("meeting:getMeeting", {"meetingId": mid})
        with pytest.raises(NotFound):
            await carol.call("meeting:getMeeting", {"meetingId": "no-such-meeting"})


async def test_invitee_can_accept_decline_and_change_their_mind(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob = await users(stack, world, "alice", "bob")
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        await alice.next_push()
        await bob.next_push()
        for endpoint, status in [
            ("meeting:acceptMeetingRequest", "accepted"),
            ("meeting:declineMeetingRequest", "declined"),
            ("meeting:acceptMeetingRequest", "accepted"),
        ]:
            assert await bob.call(endpoint, {"meetingId": mid}) == {}
            for client in (alice, bob):
                push = await client.next_push()
                assert push.endpoint == "meeting:onMeetingUpdated"
                assert push.data["meeting"]["participants"][1] == {"userId": "bob", "status": status}
        got = await alice.call("meeting:getMeeting", {"meetingId": mid})
        assert got["meeting"]["participants"][1]["status"] == "accepted"


async def test_organizer_cannot_rsvp_and_strangers_see_nothing(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, carol = await users(stack, world, "alice", "carol")
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        with pytest.raises(Forbidden):
            await alice.call("meeting:acceptMeetingRequest", {"meetingId": mid})
        with pytest.raises(NotFound):
            await carol.call("meeting:declineMeetingRequest", {"meetingId": mid})


async def test_partial_update_changes_only_given_fields(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        created = (await alice.call("meeting:createMeeting", meeting(description="agenda")))["meeting"]
        updated = (
            await alice.call(
                "meeting:updateMeeting", {"meetingId": created["meetingId"], "subject": "Renamed"}
            )
        )["meeting"]
        assert updated["subject"] == "Renamed"
        for same in ("description", "startDate", "endDate", "color", "participantIds", "created"):
            assert updated[same] == created[same]


async def test_moving_a_meeting_puts_invitees_back_to_received(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob, carol = await users(stack, world, "alice", "bob", "carol")
        mid = (await alice.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": mid})
        await carol.call("meeting:declineMeetingRequest", {"meetingId": mid})
        same_minute = await alice.call(
            "meeting:updateMeeting", {"meetingId": mid, "startDate": "2030-03-04T10:00:42Z"}
        )
        assert [p["status"] for p in same_minute["meeting"]["participants"]] == [
            "accepted",
            "accepted",
            "declined",
        ]
        moved = await alice.call(
            "meeting:updateMeeting", {"meetingId": mid, "startDate": "2030-03-04T10:30:00Z"}
        )
        assert [p["status"] for p in moved["meeting"]["participants"]] == ["accepted", "received", "received"]
        assert moved["meeting"]["endDate"] == "2030-03-04T11:00:00Z"
        with pytest.raises(BadRequest, match="after"):
            await alice.call("meeting:updateMeeting", {"meetingId": mid, "startDate": "2030-03-04T12:00:00Z"})


async def test_replacing_invitees_tells_added_removed_and_kept_users(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob, carol, dave = await users(stack, world, "alice", "bob", "carol", "dave")
        mid = (await alice.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        for client in (alice, bob, carol):
            await client.next_push("meeting:onMeetingCreated")
        m = (
            await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["carol", "dave"]})
        )["meeting"]
        assert m["participantIds"] == ["alice", "carol", "dave"]
        got = {c: await c.next_push() for c in (alice, bob, carol, dave)}
        assert got[dave].endpoint == "meeting:onMeetingCreated"
        assert got[bob].endpoint == "meeting:onMeetingDeleted" and got[bob].data == {"meetingId": mid}
        assert got[carol].endpoint == got[alice].endpoint == "meeting:onMeetingUpdated"
        assert len({f.event.id for f in got.values() if f.event}) == 1  # one change, one event id
        with pytest.raises(NotFound):
            await bob.call("meeting:getMeeting", {"meetingId": mid})
        with pytest.raises(NotFound, match="ghost"):
            await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["ghost"]})


async def test_only_the_organizer_updates_or_deletes(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob, carol = await users(stack, world, "alice", "bob", "carol")
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        with pytest.raises(Forbidden):
            await bob.call("meeting:updateMeeting", {"meetingId": mid, "subject": "Mine now"})
        with pytest.raises(Forbidden):
            await bob.call("meeting:deleteMeeting", {"meetingId": mid})
        with pytest.raises(NotFound):
            await carol.call("meeting:updateMeeting", {"meetingId": mid, "subject": "x"})
        with pytest.raises(NotFound):
            await carol.call("meeting:deleteMeeting", {"meetingId": mid})
        assert (await bob.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["subject"] == "Planning"


async def test_delete_tells_everyone_and_the_meeting_is_gone(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob = await users(stack, world, "alice", "bob")
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        await alice.next_push()
        await bob.next_push()
        assert await alice.call("meeting:deleteMeeting", {"meetingId": mid}) == {}
        for client in (alice, bob):
            push = await client.next_push()
            assert (push.endpoint, push.data) == ("meeting:onMeetingDeleted", {"meetingId": mid})
            with pytest.raises(NotFound):
                await client.call("meeting:getMeeting", {"meetingId": mid})
        with pytest.raises(NotFound):
            await alice.call("meeting:deleteMeeting", {"meetingId": mid})


RANGE = {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"}


async def test_list_returns_overlapping_meetings_in_order_with_my_status(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob = await users(stack, world, "alice", "bob")
        late = (
            await alice.call("meeting:createMeeting", meeting("2030-03-05T10:00:00Z", "2030-03-05T11:00:00Z"))
        )["meeting"]
        early = (
            await alice.call("meeting:createMeeting", meeting("2030-02-28T22:00:00Z", "2030-03-01T01:00:00Z"))
        )["meeting"]
        await alice.call(
            "meeting:createMeeting", meeting("2030-02-27T10:00:00Z", "2030-03-01T00:00:00Z")
        )  # ends at start
        await alice.call(
            "meeting:createMeeting", meeting("2030-04-01T00:00:00Z", "2030-04-01T01:00:00Z")
        )  # starts at end
        await bob.call("meeting:declineMeetingRequest", {"meetingId": late["meetingId"]})
        mine = await alice.call("meeting:listUserMeetings", RANGE)
        assert [m["meetingId"] for m in mine["meetings"]] == [early["meetingId"], late["meetingId"]]
        assert mine["hasMore"] is False
        assert {(m["userId"], m["status"]) for m in mine["meetings"]} == {("alice", "accepted")}
        theirs = await bob.call("meeting:listUserMeetings", RANGE)
        assert [(m["userId"], m["status"]) for m in theirs["meetings"]] == [
            ("bob", "received"),
            ("bob", "declined"),
        ]


async def test_list_filters_by_network_room_prop_group_and_direct(world: ServerHandle) -> None:
    async with AsyncExitStack() as stack:
        alice, bob = await users(stack, world, "alice", "bob")
        made = {}
        for name, source in [
            ("room", ("room", ["lobby"])),
            ("prop", ("prop", ["lobby", "table"])),
            ("hall", ("room", ["hall"])),
            ("group", ("group", ["team"])),
            ("direct", ("direct", ["bob"])),
        ]:
            made[name] = (await alice.call("meeting:createMeeting", meeting(source=source)))["meeting"][
                "meetingId"
            ]
        made["direct_back"] = (
            await bob.call("meeting:createMeeting", meeting(source=("direct", ["alice"]), invited=[]))
        )["meeting"]["meetingId"]
        await bob.call("meeting:createMeeting", meeting(source=("direct", ["carol"]), invited=["alice"]))

        async def ids(source_type: str, source_ids: list[str]) -> set[str]:
            got = await alice.call(
                "meeting:listUserMeetings", {**RANGE, "sourceType": source_type, "sourceIds": source_ids}
            )
            return {m["meetingId"] for m in got["meetings"]}

        assert await ids("network", ["net1"]) == {made["room"], made["prop"], made["group"]}
        assert await ids("room", ["lobby"]) == {made["room"], made["prop"]}
        assert await ids("prop", ["lobby", "table"]) == {made["prop"]}
        assert await ids("group", ["team"]) == {made["group"]}
        assert await ids("direct", ["bob"]) == {made["direct"], made["direct_back"]}
        with pytest.raises(BadRequest, match=r"\[roomId, propId\]"):
            await ids("prop", ["lobby"])


async def test_list_range_is_capped_at_366_days(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-02T00:00:00Z"},
        )
        with pytest.raises(BadRequest, match="366"):
            await alice.call(
                "meeting:listUserMeetings",
                {"startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-02T00:01:00Z"},
            )
        with pytest.raises(BadRequest, match="after"):
            await alice.call(
                "meeting:listUserMeetings",
                {"startDate": "2030-01-02T00:00:00Z", "endDate": "2030-01-01T00:00:00Z"},
            )


async def test_list_holds_at_most_1000_and_says_there_are_more(start_server: StartServer) -> None:
    world = await start_server(rate_per_second=100_000, rate_burst=100_000)
    await seed(world)
    async with connect(world.url, token("alice")) as alice:

        async def make(i: int) -> None:
            start = 1_900_000_000_000 + i * 60_000
            await alice.call("meeting:createMeeting", meeting(start=start, end=start + 60_000, invited=[]))

        for batch in range(0, 1001, 100):
            async with trio.open_nursery() as nursery:
                for i in range(batch, min(batch + 100, 1001)):
                    nursery.start_soon(make, i)
        window = {"startDate": 1_900_000_000_000, "endDate": 1_900_000_000_000 + 2000 * 60_000}
        page = await alice.call("meeting:listUserMeetings", window)
        assert (len(page["meetings"]), page["hasMore"]) == (1000, True)
        starts = [m["startDate"] for m in page["meetings"]]
        assert starts == sorted(starts)


DAILY = {"rule": "FREQ=DAILY;COUNT=5", "timeZone": "UTC"}


@pytest.mark.parametrize(
    ("recurrence", "change"),
    [
        (None, {}),  # a single meeting
        (None, {"recurrence": DAILY}),  # a single meeting made a series
        (DAILY, {}),  # the whole series
        (DAILY, {"scope": "following", "meetingId": "_20300305T1000Z"}),  # a split
    ],
    ids=["single", "to-series", "series", "following"],
)
async def test_a_direct_meeting_cannot_grow_past_the_invitee_limit_by_update(
    server: ServerHandle, recurrence: dict[str, str] | None, change: dict[str, Any]
) -> None:
    """Contract 3: 100 invitees by default, on every path: a direct meeting with Bob, updated
    to 100 other invitees (Bob stays invited), would have 101: refused, nothing changed."""
    await seed(server)
    hundred = [f"u{i}" for i in range(100)]
    async with connect(server.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [{"id": u} for u in hundred]})
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        direct = meeting(source=("direct", ["bob"]), invited=hundred)
        assert (await alice.request("meeting:createMeeting", direct)).error.code == 400  # 101 invitees
        with_bob = meeting(source=("direct", ["bob"]), invited=[], recurrence=recurrence)
        mid = (await alice.call("meeting:createMeeting", with_bob))["meeting"]["meetingId"]
        target = mid + change.pop("meetingId", "")
        update = {"meetingId": target, "invitedUserIds": hundred, **change}
        reply = await alice.request("meeting:updateMeeting", update)
        after = (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["participantIds"]
        assert reply.error.code == 400 and after == ["alice", "bob"], (reply.error, len(after) - 1)


async def test_a_non_member_inviting_an_unknown_user_to_a_group_meeting_hears_404_first(
    world: ServerHandle,
) -> None:
    """Contract 3: existence (404) before permission (403). Carol, not a member of `team`,
    invites a user who does not exist to a meeting of it: 404 naming him."""
    async with connect(world.url, token("carol")) as carol:
        await ready(carol)
        reply = await carol.request(
            "meeting:createMeeting", meeting(source=("group", ["team"]), invited=["bob", "ghost"])
        )
        assert reply.error.status is True
        assert (reply.error.code, "ghost" in reply.error.message) == (404, True), reply.error


async def test_meetings_of_a_network_whose_id_has_a_colon_can_be_listed_by_network(
    world: ServerHandle,
) -> None:
    """Contract 5: "Filter `network` [networkId] matches that network". A network id is any
    text admin:upsertRooms takes (not an id-shaped value): the filter takes it too."""
    async with connect(world.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "attic", "networkId": "acme:eu"}]})
    async with connect(world.url, token("alice")) as alice:
        await ready(alice)
        made = (await alice.call("meeting:createMeeting", meeting(source=("room", ["attic"]))))["meeting"]
        assert made["networkId"] == "acme:eu"
        reply = await alice.request(
            "meeting:listUserMeetings",
            {
                "startDate": "2030-03-01T00:00:00Z",
                "endDate": "2030-04-01T00:00:00Z",
                "sourceType": "network",
                "sourceIds": ["acme:eu"],
            },
        )
        assert reply.error.status is False, reply.error
        assert [m["meetingId"] for m in reply.data["meetings"]] == [made["meetingId"]]


async def test_a_filter_by_an_empty_room_id_is_refused_not_every_group_and_direct_meeting(
    server: ServerHandle,
) -> None:
    # Group and direct meetings are in no room (their stored room is ""); no room has the
    # id "": such a filter is a 400, where it listed every group and direct meeting.
    await seed(server)
    day = {"startDate": "2030-03-08T00:00:00Z", "endDate": "2030-03-09T00:00:00Z"}
    async with connect(server.url, token("alice")) as alice:
        await alice.call(
            "meeting:createMeeting",
            meeting("2030-03-08T10:00:00Z", "2030-03-08T11:00:00Z", source=("group", ["team"])),
        )
        for kind, ids in (("room", [""]), ("prop", ["lobby", ""]), ("group", [""]), ("direct", [""])):
            with pytest.raises(BadRequest, match="never empty"):
                await alice.call("meeting:listUserMeetings", {**day, "sourceType": kind, "sourceIds": ids})
        direct = await alice.call(
            "meeting:listUserMeetings", {**day, "sourceType": "network", "sourceIds": [""]}
        )
        assert direct["meetings"] == []  # a network id may be "": that of direct meetings
