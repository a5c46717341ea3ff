"""Old clients of the DEPRECATED API: they send back what they read (roomId "" for a group
meeting, the room and prop of a meeting whose prop is gone), send null for optional fields,
retry with the same event.id, and are told 404 before 403 (contract 3)."""

from __future__ import annotations

import pytest

from roomful_meetings.client import connect
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, token
from tests.e2e.test_legacy import legacy_meeting
from tests.e2e.world import meeting, redis_of, seed


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    return server


async def test_an_invitee_moving_a_meeting_to_a_missing_prop_hears_404_before_403(
    world: ServerHandle,
) -> None:
    # CONTRACT 3: "Checks run in this order: shape of the frame and fields (400), then
    # existence and visibility (404), then permission (403)"; 404 is for "source ... not found".
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("bob")) as bob:
        mid = (await alice.call("meeting:create", legacy_meeting()))["meeting"]["id"]
        reply = await bob.request("meeting:update", {"meetingId": mid, "meeting": {"propId": "ghost"}})
        assert (reply.error.code, reply.error.message) == (404, "prop lobby/ghost not found")


async def test_an_old_client_sending_propId_null_creates_a_room_meeting(world: ServerHandle) -> None:
    # docs/protocol.md: "`null` for an optional field means "not given"" -- and propId is
    # optional in meeting:create (absent: the room itself).
    async with connect(world.url, token("alice")) as alice:
        reply = await alice.request("meeting:create", legacy_meeting(propId=None))
        assert not reply.error.status, reply.error
        assert (reply.data["meeting"]["roomId"], reply.data["meeting"]["propId"]) == ("lobby", "")


async def test_an_old_client_renames_a_group_meeting_sending_back_what_it_read(world: ServerHandle) -> None:
    # CONTRACT 5 (Deprecated API): "A meeting made by either API is readable and changeable
    # through both." The old API reads a group meeting as roomId "" / propId ""; an old
    # client that sends the fields of the API document's update back as it read them,
    # with a new subject, must be able to rename it.
    async with connect(world.url, token("alice")) as alice:
        gid = (await alice.call("meeting:createMeeting", meeting(source=("group", ["team"]))))["meeting"][
            "meetingId"
        ]
        shown = (await alice.call("meeting:get", {"meetingId": gid}))["meeting"]
        change = {
            "subject": "Renamed",
            "roomId": shown["roomId"],
            "propId": shown["propId"],
            "color": shown["color"],
        }
        reply = await alice.request("meeting:update", {"meetingId": gid, "meeting": change})
        assert not reply.error.status, reply.error
        assert reply.data["meeting"]["subject"] == "Renamed"
        assert (await alice.call("meeting:getMeeting", {"meetingId": gid}))["meeting"][
            "sourceType"
        ] == "group"


async def test_a_repeated_legacy_move_gets_its_first_answer_after_the_meeting_is_gone(
    world: ServerHandle,
) -> None:
    # CONTRACT 6: "a request that changes something and is repeated by the same user with
    # the same event.id within 10 minutes is not applied again; the repeat gets the first
    # answer." (A tab whose answer was lost retries while another tab deleted the meeting.)
    async with connect(world.url, token("alice")) as tab1, connect(world.url, token("alice")) as tab2:
        mid = (await tab1.call("meeting:create", legacy_meeting()))["meeting"]["id"]
        move = {"meetingId": mid, "meeting": {"propId": "stage"}}
        first = await tab1.request("meeting:update", move, event_id="tab1-move-1")
        assert not first.error.status and first.data["meeting"]["propId"] == "stage"
        await tab2.call("meeting:delete", {"meetingId": mid})
        again = await tab1.request("meeting:update", move, event_id="tab1-move-1")
        assert not again.error.status, again.error
        assert again.data == first.data


async def test_an_invalid_meeting_placed_at_its_recreated_prop_is_valid_again(world: ServerHandle) -> None:
    # docs/protocol.md (The deprecated API): "moving re-captures `networkId` and makes a
    # meeting of a deleted source valid again". The prop exists again; the organizer names
    # it in meeting:update: the meeting is valid again.
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as admin,
    ):
        mid = (await alice.call("meeting:create", legacy_meeting()))["meeting"]["id"]
        await admin.call("admin:deleteProp", {"roomId": "lobby", "propId": "table"})
        await admin.call(
            "admin:upsertProps", {"props": [{"roomId": "lobby", "id": "table", "title": "Table"}]}
        )
        placed = await alice.call(
            "meeting:update", {"meetingId": mid, "meeting": {"roomId": "lobby", "propId": "table"}}
        )
        assert placed["meeting"]["isValid"] is True


async def test_an_old_client_renames_a_meeting_whose_prop_is_gone_sending_back_what_it_read(
    world: ServerHandle,
) -> None:
    # The prop was deleted (the meeting shows isValid false); an old client sends back the
    # room and prop it read with a new subject: renamed, still where it was, still invalid.
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as admin,
    ):
        mid = (await alice.call("meeting:create", legacy_meeting()))["meeting"]["id"]
        await admin.call("admin:deleteProp", {"roomId": "lobby", "propId": "table"})
        shown = (await alice.call("meeting:get", {"meetingId": mid}))["meeting"]
        change = {"subject": "Renamed", "roomId": shown["roomId"], "propId": shown["propId"]}
        renamed = (await alice.call("meeting:update", {"meetingId": mid, "meeting": change}))["meeting"]
        assert (renamed["subject"], renamed["roomId"], renamed["propId"]) == ("Renamed", "lobby", "table")
        assert renamed["isValid"] is False
        moved = await alice.request("meeting:update", {"meetingId": mid, "meeting": {"propId": "gone"}})
        assert (moved.error.code, moved.error.message) == (404, "prop lobby/gone not found")


async def test_an_old_client_renames_an_instance_sending_back_its_room(world: ServerHandle) -> None:
    # Instances show as meetings in the old API; sending back their room is no move.
    daily = meeting(invited=["bob"], recurrence={"rule": "FREQ=DAILY;COUNT=3", "timeZone": "UTC"})
    async with connect(world.url, token("alice")) as alice:
        sid = (await alice.call("meeting:createMeeting", daily))["meeting"]["meetingId"]
        listed = await alice.call(
            "meeting:listUserMeetingsInDateRange",
            {"startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-01T00:00:00Z"},
        )
        first = listed["meetings"][0]
        change = {"subject": "Renamed", "roomId": first["roomId"], "propId": first["propId"]}
        renamed = (await alice.call("meeting:update", {"meetingId": first["id"], "meeting": change}))[
            "meeting"
        ]
        assert (renamed["id"], renamed["subject"]) == (first["id"], "Renamed")
        moved = await alice.request("meeting:update", {"meetingId": sid, "meeting": {"propId": "table"}})
        assert moved.error.code == 400


async def test_a_bad_subject_with_a_room_is_a_400_before_the_meeting_is_looked_for(
    world: ServerHandle,
) -> None:
    # Contract 3: the shape of the fields (400) before existence and visibility (404).
    async with connect(world.url, token("alice")) as alice:
        change = {"subject": " ", "roomId": "lobby"}
        reply = await alice.request("meeting:update", {"meetingId": "nobody-knows", "meeting": change})
        assert reply.error.code == 400, reply.error


async def test_a_repeated_create_gets_its_first_answer_after_the_room_was_renamed(
    world: ServerHandle,
) -> None:
    # Contract 6: "the repeat gets the first answer", titles and names as they were then.
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as admin,
    ):
        first = await alice.request("meeting:create", legacy_meeting(propId=""), event_id="old-1")
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby", "title": "Renamed"}]})
        again = await alice.request("meeting:create", legacy_meeting(propId=""), event_id="old-1")
        assert first.error.code == again.error.code == 0
        assert again.data == first.data and first.data["meeting"]["room"]["title"] != "Renamed"
        later = (await alice.call("meeting:get", {"meetingId": first.data["meeting"]["id"]}))["meeting"]
        assert later["room"]["title"] == "Renamed"  # a new read shows the directory as it is


async def test_the_first_answer_lives_as_long_as_the_retry_record(world: ServerHandle) -> None:
    # Each repeat renews the retry record's 10 minutes: the kept answer is renewed with it.
    async with connect(world.url, token("alice")) as alice, redis_of(world) as redis:
        await alice.request("meeting:create", legacy_meeting(propId=""), event_id="old-2")
        keys = Keys(world.settings.key_prefix)
        record = keys.request("alice", "old-2")
        kept = keys.request_answer(record)
        await redis.execute("EXPIRE", kept, 5)
        await redis.execute("EXPIRE", record, 5)
        await alice.request("meeting:create", legacy_meeting(propId=""), event_id="old-2")
        assert await redis.execute("TTL", record) > 500 and await redis.execute("TTL", kept) > 500
