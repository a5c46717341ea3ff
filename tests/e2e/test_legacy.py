"""The deprecated API on the same meetings as the current one (issue: old clients)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import BadRequest, Forbidden, NotFound
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, token
from tests.e2e.world import meeting, ready, redis_of, seed

THUMBNAIL: dict[str, Any] = {
    "id": "res-1",
    "created": "2026-01-02T03:04:05Z",
    "title": "Lobby photo",
    "encryptionEpoch": 3,
    "metadata": {
        "fileName": "lobby.png",
        "fileSize": 12345,
        "origin": {"type": "upload", "device": "phone"},
        "geolocation": {"latitude": 52.5, "longitude": 13.4},
        "dimensions": {"width": 640, "height": 480, "orientation": 1},
    },
    "fromTemplate": False,
    "totalReactions": 7,
    "data": {
        "imdb": {"Actors": "A, B", "Ratings": [{"Source": "x", "Value": "9/10"}], "Trailers": ["t1"]},
        "video": {"duration": 12, "durationFloat": 12.5, "hasAlphaChannel": True},
        "googleDrive": {"fileId": "f", "name": "n", "mimeType": "image/png"},
        "thumbnailUrl": "https://cdn.example/t.png",
    },
    "customParams": {"anything": {"nested": [1, 2, {"deep": True}]}},
    "actions": [
        {
            "localId": "a1",
            "eventName": "click",
            "actionData": {"usedQuestionId": 4, "animationData": {"k": {"v": 1}}},
            "childActions": [{"localId": "a2", "actionName": "open"}],
        }
    ],
}
AVATAR = {"assetId": "asset-9", "assetSkins": {"hair": "red"}, "avatarUrl": "https://rpm.example/a.glb"}


@pytest.fixture
async def world(server: ServerHandle) -> ServerHandle:
    await seed(server)
    async with connect(server.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby", "thumbnail": THUMBNAIL}]})
        await admin.call(
            "admin:upsertUsers",
            {
                "users": [
                    {
                        "id": "alice",
                        "lastName": "Liddell",
                        "privacyMode": 1,
                        "avatar3D": AVATAR,
                        "companyName": "Wonder Ltd",
                        "companyTitle": "CEO",
                    }
                ]
            },
        )
    return server


def legacy_meeting(**change: Any) -> dict[str, Any]:
    base = {
        "startDate": "2030-03-04T10:00:00Z",
        "endDate": "2030-03-04T11:00:00Z",
        "subject": "Old school",
        "roomId": "lobby",
        "propId": "table",
        "invitedUserIds": ["bob"],
    }
    return {"meeting": {**base, **change}}


async def test_legacy_create_answers_in_the_legacy_shape_with_directory_data(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        m = (await alice.call("meeting:create", legacy_meeting(color={"r": 0, "g": 1, "b": 0, "a": 0.5})))[
            "meeting"
        ]
        assert (m["roomId"], m["propId"], m["isValid"], m["subject"]) == (
            "lobby",
            "table",
            True,
            "Old school",
        )
        assert m["room"] == {"id": "lobby", "title": "Lobby", "thumbnail": THUMBNAIL}  # field for field
        assert m["prop"] == {"id": "table", "title": "Table"}
        assert m["organizer"] == {
            "id": "alice",
            "firstName": "Alice",
            "lastName": "Liddell",
            "privacyMode": 1,
            "avatar": "",
            "avatar3D": AVATAR,
            "companyName": "Wonder Ltd",
            "companyTitle": "CEO",
        }
        (invited,) = m["invitedUsers"]
        assert invited["status"] == "received"
        assert invited["user"]["id"] == "bob" and "avatar3D" not in invited["user"]  # omitted when empty
        assert m["color"] == {"r": 0.0, "g": 1.0, "b": 0.0, "a": 0.5}
        assert m["created"] and m["updated"] and m["startDate"] == "2030-03-04T10:00:00Z"


async def test_a_room_thumbnail_takes_its_timestamps_as_text_or_epoch_milliseconds(
    world: ServerHandle,
) -> None:
    # Contract 4: a timestamp is RFC 3339 with an offset or integer epoch milliseconds, and
    # is shown as RFC 3339 in UTC: the Resource's created, updated and metadata.fileDate
    # too. Anything else there is a 400 naming the field, and the batch writes nothing.
    thumbnail = {
        "id": "res-9",
        "created": 1767225600000,
        "updated": 1767225600250,
        "metadata": {"fileName": "hall.png", "fileSize": 7, "fileDate": "2026-01-01T01:00:00+01:00"},
    }
    async with (
        connect(world.url, token("root", admin=True)) as admin,
        connect(world.url, token("alice")) as alice,
    ):
        for field, bad in (("created", "yesterday"), ("updated", -1), ("metadata", {"fileDate": "x"})):
            with pytest.raises(BadRequest, match=rf"data\.rooms\[1\]\.thumbnail\.{field}"):
                await admin.call(
                    "admin:upsertRooms",
                    {
                        "rooms": [
                            {"id": "hall", "title": "Renamed"},
                            {"id": "annex", "thumbnail": {field: bad}},
                        ]
                    },
                )
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "hall", "thumbnail": thumbnail}]})
        made = await alice.call("meeting:create", legacy_meeting(roomId="hall", propId=""))
        assert made["meeting"]["room"] == {
            "id": "hall",
            "title": "Hall",  # not "Renamed": the refused batches wrote nothing
            "thumbnail": {
                "id": "res-9",
                "created": "2026-01-01T00:00:00Z",
                "updated": "2026-01-01T00:00:00.250Z",
                "metadata": {"fileName": "hall.png", "fileSize": 7, "fileDate": "2026-01-01T00:00:00Z"},
            },
        }


async def test_an_avatar_and_thumbnail_larger_than_now_allowed_stored_before_are_still_shown(
    world: ServerHandle,
) -> None:
    # docs/protocol.md, Catalog: values stored by earlier releases, which took any size, are
    # read and shown as stored; an upsert that leaves them out keeps them.
    avatar = {"assetSkins": {f"skin{i}": "x" * 80 for i in range(100)}}  # ~9 KB, past 4,096
    thumbnail = {"customParams": {f"p{i}": "x" * 80 for i in range(300)}}  # ~27 KB, past 16,384
    keys = Keys(world.settings.key_prefix)
    async with redis_of(world) as redis:
        await redis.execute("HSET", keys.user("bob"), "avatar3D", json.dumps(avatar))
        await redis.execute("HSET", keys.room("lobby"), "thumbnail", json.dumps(thumbnail))
    async with connect(world.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [{"id": "bob", "companyName": "Hatters"}]})
        await admin.call("admin:upsertRooms", {"rooms": [{"id": "lobby", "title": "Hall of doors"}]})
    async with connect(world.url, token("alice")) as alice:
        created = (await alice.call("meeting:create", legacy_meeting()))["meeting"]
        window = {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"}
        (listed,) = (await alice.call("meeting:listUserMeetingsInDateRange", window))["meetings"]
    for shown in (created, listed):
        assert shown["room"] == {"id": "lobby", "title": "Hall of doors", "thumbnail": thumbnail}
        (invited,) = shown["invitedUsers"]
        assert invited["user"]["avatar3D"] == avatar and invited["user"]["companyName"] == "Hatters"


async def test_a_legacy_and_a_new_client_share_a_meeting(world: ServerHandle) -> None:
    async with (
        connect(world.url, token("alice")) as new,
        connect(world.url, token("bob"), legacy="1") as old,
        connect(world.url, token("carol")) as plain,
    ):
        for client in (new, old, plain):
            await ready(client)
        mid = (await new.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        assert (await old.next_push()).endpoint == "meeting:onMeetingCreated"
        pushed = await old.next_push()
        assert pushed.endpoint == "meeting:meetingUpdated"
        assert (
            pushed.data["meeting"]["id"] == mid and pushed.data["meeting"]["room"]["thumbnail"] == THUMBNAIL
        )

        got = (await old.call("meeting:get", {"meetingId": mid}))["meeting"]
        assert (got["roomId"], got["propId"], got["prop"]) == ("lobby", "", {"id": "", "title": ""})
        await old.call("meeting:acceptMeetingRequest", {"meetingId": mid})
        assert (await new.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["participants"][1][
            "status"
        ] == "accepted"

        with pytest.raises(Forbidden):
            await old.call("meeting:update", {"meetingId": mid, "meeting": {"subject": "hijack"}})
        new.pending_pushes()
        moved = await new.call(
            "meeting:update", {"meetingId": mid, "meeting": {"propId": "stage", "subject": "Moved"}}
        )
        assert (moved["meeting"]["roomId"], moved["meeting"]["propId"], moved["meeting"]["subject"]) == (
            "lobby",
            "stage",
            "Moved",
        )
        seen = (await new.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]
        assert (seen["sourceType"], seen["sourceString"], seen["sourcePk"]) == (
            "prop",
            "prop:lobby:stage",
            "stage",
        )
        assert seen["description"] == ""  # untouched by the legacy update

        back = await new.call(
            "meeting:update", {"meetingId": mid, "meeting": {"roomId": "hall", "propId": ""}}
        )
        assert (back["meeting"]["roomId"], back["meeting"]["propId"], back["meeting"]["room"]["title"]) == (
            "hall",
            "",
            "Hall",
        )
        assert (await new.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["networkId"] == "net2"

        await new.call("meeting:delete", {"meetingId": mid})
        endpoints = []
        while "meeting:meetingDeleted" not in endpoints:
            push = await old.next_push()
            endpoints.append(push.endpoint)
        assert push.data == {"meetingId": mid}
        assert "meeting:onMeetingDeleted" in endpoints
        # carol, not legacy=1, got the current events only: all of them up to a marker of her own
        marker = (await plain.call("meeting:createMeeting", meeting(subject="marker", invited=[])))["meeting"]
        seen = []
        while (push := await plain.next_push()).data.get("meeting", {}).get("meetingId") != marker[
            "meetingId"
        ]:
            seen.append(push.endpoint)
        assert seen and not any(name and name.startswith("meeting:meeting") for name in seen), seen


async def test_legacy_list_and_the_new_list_agree(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice:
        await alice.call("meeting:create", legacy_meeting())
        await alice.call(
            "meeting:createMeeting",
            meeting("2030-03-05T10:00:00Z", "2030-03-05T11:00:00Z", source=("group", ["team"])),
        )
        window = {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"}
        old = (await alice.call("meeting:listUserMeetingsInDateRange", window))["meetings"]
        new = (await alice.call("meeting:listUserMeetings", window))["meetings"]
        assert [m["id"] for m in old] == [m["meetingId"] for m in new]
        assert [(m["roomId"], m["propId"]) for m in old] == [("lobby", "table"), ("", "")]
        with pytest.raises(BadRequest, match="366"):
            await alice.call(
                "meeting:listUserMeetingsInDateRange",
                {"startDate": "2030-01-01T00:00:00Z", "endDate": "2032-01-01T00:00:00Z"},
            )


async def test_prop_check_sees_future_meetings_and_social_sessions(world: ServerHandle) -> None:
    now_ms = int(time.time() * 1000)
    check = {"roomId": "lobby", "propId": "table"}
    async with (
        connect(world.url, token("alice")) as alice,
        connect(world.url, token("root", admin=True)) as admin,
    ):
        assert (await alice.call("meeting:checkPropHasMeetingsOrSocialSessions", check)) == {
            "hasMeetingsOrSocialSessions": False
        }
        await alice.call(
            "meeting:create", legacy_meeting(startDate=now_ms - 7_200_000, endDate=now_ms - 3_600_000)
        )
        assert (await alice.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
            "hasMeetingsOrSocialSessions"
        ] is False
        await admin.call(
            "admin:upsertSocialSessions",
            {
                "sessions": [
                    {
                        "id": "s1",
                        "roomId": "lobby",
                        "propId": "table",
                        "startDate": now_ms,
                        "endDate": now_ms + 3_600_000,
                    }
                ]
            },
        )
        assert (await alice.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
            "hasMeetingsOrSocialSessions"
        ] is True
        await admin.call("admin:deleteSocialSession", {"id": "s1"})
        assert (await alice.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
            "hasMeetingsOrSocialSessions"
        ] is False
        mid = (
            await alice.call("meeting:create", legacy_meeting(startDate=now_ms, endDate=now_ms + 3_600_000))
        )["meeting"]["id"]
        async with connect(world.url, token("bob")) as bob:  # anyone's meeting counts
            assert (await bob.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
                "hasMeetingsOrSocialSessions"
            ] is True
        await alice.call("meeting:delete", {"meetingId": mid})
        assert (await alice.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
            "hasMeetingsOrSocialSessions"
        ] is False
        with pytest.raises(NotFound, match="lobby/ghost"):
            await alice.call(
                "meeting:checkPropHasMeetingsOrSocialSessions", {"roomId": "lobby", "propId": "ghost"}
            )


@pytest.mark.parametrize(
    ("data", "error", "needle"),
    [
        ({"meeting": {"subject": "x"}}, BadRequest, "startDate"),
        (legacy_meeting(roomId=""), BadRequest, "roomId"),
        (legacy_meeting(roomId="nowhere", propId=""), NotFound, "room nowhere"),
        (legacy_meeting(propId="ghost"), NotFound, "prop lobby/ghost"),
        (legacy_meeting(invitedUserIds=["nobody"]), NotFound, "nobody"),
        (legacy_meeting(endDate="2030-03-04T09:00:00Z"), BadRequest, "data.meeting.endDate"),
    ],
)
async def test_bad_legacy_requests_get_contract_errors(
    world: ServerHandle, data: dict[str, Any], error: type[Exception], needle: str
) -> None:
    async with connect(world.url, token("alice")) as alice:
        with pytest.raises(error, match=needle):
            await alice.call("meeting:create", data)
        assert (
            await alice.call(
                "meeting:listUserMeetingsInDateRange",
                {"startDate": "2030-01-01T00:00:00Z", "endDate": "2030-12-01T00:00:00Z"},
            )
        )["meetings"] == []


async def test_legacy_update_and_delete_check_who_asks(world: ServerHandle) -> None:
    async with connect(world.url, token("alice")) as alice, connect(world.url, token("carol")) as carol:
        mid = (await alice.call("meeting:create", legacy_meeting()))["meeting"]["id"]
        with pytest.raises(NotFound):
            await carol.call("meeting:update", {"meetingId": mid, "meeting": {"propId": "stage"}})
        with pytest.raises(NotFound):
            await carol.call("meeting:get", {"meetingId": mid})
        with pytest.raises(NotFound):
            await carol.call("meeting:delete", {"meetingId": mid})
        with pytest.raises(NotFound, match="prop lobby/ghost"):
            await alice.call("meeting:update", {"meetingId": mid, "meeting": {"propId": "ghost"}})
        assert (await alice.call("meeting:get", {"meetingId": mid}))["meeting"]["propId"] == "table"


async def test_a_session_keeps_what_an_upsert_leaves_out_and_a_bad_batch_writes_nothing(
    world: ServerHandle,
) -> None:
    # Contract 7: fields absent keep their value (propId too: it was reset to the room).
    now_ms = int(time.time() * 1000)
    check = {"roomId": "lobby", "propId": "table"}
    at_table = {"id": "s1", "roomId": "lobby", "propId": "table"}

    async def busy(client: Client) -> bool:
        return bool((await client.call("meeting:checkPropHasMeetingsOrSocialSessions", check))[
            "hasMeetingsOrSocialSessions"])  # fmt: skip

    async with connect(world.url, token("root", admin=True)) as admin:
        sessions = [{**at_table, "startDate": now_ms + 3_600_000, "endDate": now_ms + 7_200_000}]
        await admin.call("admin:upsertSocialSessions", {"sessions": sessions})
        later = {"id": "s1", "roomId": "lobby", "endDate": now_ms + 10_800_000}
        await admin.call("admin:upsertSocialSessions", {"sessions": [later]})
        assert await busy(admin) is True  # still at the table
        # An end alone before the stored start is refused, and so is the whole batch.
        ends_early = {"id": "s1", "roomId": "lobby", "endDate": now_ms}
        elsewhere = {"id": "s2", "roomId": "lobby", "propId": "table", "endDate": now_ms + 60_000}
        with pytest.raises(BadRequest, match=r"sessions\[1\]\.endDate`: the session would end before"):
            await admin.call("admin:upsertSocialSessions", {"sessions": [elsewhere, ends_early]})
        await admin.call("admin:deleteSocialSession", {"id": "s1"})
        assert await busy(admin) is False  # s2 was not written
        # A session moved to another room without a propId is on that room itself; one named
        # twice in a batch ends where its last entry puts it, indexed there only.
        await admin.call("admin:upsertSocialSessions", {"sessions": sessions})
        await admin.call("admin:upsertSocialSessions", {"sessions": [{"id": "s1", "roomId": "hall"}]})
        assert await busy(admin) is False
        twice = [{**at_table, "id": "s3"}, {"id": "s3", "roomId": "hall", "propId": ""}]
        await admin.call("admin:upsertSocialSessions", {"sessions": twice})
        assert await busy(admin) is False
    keys = Keys(world.settings.key_prefix)
    async with redis_of(world) as redis:
        for sid in ("s1", "s3"):
            assert await redis.execute("HMGET", keys.session(sid), "roomId", "propId") == [b"hall", b""]
        assert await redis.execute("SMEMBERS", keys.room_sessions("lobby")) == []
        assert sorted(await redis.execute("SMEMBERS", keys.room_sessions("hall"))) == [b"s1", b"s3"]


async def test_deprecated_create_and_update_errors_name_the_fields_where_they_are(
    world: ServerHandle,
) -> None:
    """The deprecated endpoints carry their fields in data.meeting; a 400 naming
    `data.subject` or `data.invitedUserIds` points at fields that do not exist there."""
    async with connect(world.url, token("root", admin=True)) as admin:
        await admin.call("admin:upsertUsers", {"users": [{"id": f"u{i}"} for i in range(101)]})
    async with connect(world.url, token("alice")) as alice:
        legacy = {
            "startDate": "2030-03-05T10:00:00Z",
            "endDate": "2030-03-05T11:00:00Z",
            "subject": "Old",
            "roomId": "lobby",
        }
        empty = await alice.request("meeting:create", {"meeting": {**legacy, "subject": "  "}})
        assert empty.error.code == 400
        assert "data.meeting.subject" in empty.error.message, empty.error.message
        many = await alice.request(
            "meeting:create", {"meeting": {**legacy, "invitedUserIds": [f"u{i}" for i in range(101)]}}
        )
        assert many.error.code == 400
        assert "data.meeting.invitedUserIds" in many.error.message, many.error.message
        made = await alice.call("meeting:create", {"meeting": legacy})
        renamed = await alice.request(
            "meeting:update", {"meetingId": made["meeting"]["id"], "meeting": {"subject": " "}}
        )
        assert renamed.error.code == 400
        assert "data.meeting.subject" in renamed.error.message, renamed.error.message
