"""The directory (contract 7) keeps profiles and the email index in step: one address, one
user (given to another, it is taken from the one who had it). A session's `propId` null is
a 400, as documented (null elsewhere means "not given")."""

from __future__ import annotations

import pytest

from roomful_meetings.client import connect
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import redis_of, seed


@pytest.fixture
async def world(start_server: StartServer) -> ServerHandle:
    server: ServerHandle = await start_server()
    await seed(server)
    return server


async def found_by_email(world: ServerHandle, email: str) -> list[str]:
    """The user ids a slot search by this email matches (findMeetingTimes' attendees)."""
    async with connect(world.url, token("dave")) as dave:
        reply = await dave.call(
            "meeting:findMeetingTimes",
            {
                "attendees": [{"email": email, "type": "optional"}],
                "startDate": "2030-03-04T00:00:00Z",
                "endDate": "2030-03-05T00:00:00Z",
                "duration": 60,
                "minimumAttendeePercentage": 0,
                "maxCandidates": 1,
                "timeZone": "UTC",
            },
        )
    if reply["emptySuggestionsReason"] == "attendeesNotFound":
        return []
    return [a["userId"] for a in reply["suggestions"][0]["attendees"][1:]]


async def stored_email(world: ServerHandle, user: str) -> str | None:
    async with redis_of(world) as redis:
        value = await redis.execute("HGET", Keys(world.settings.key_prefix).user(user), "email")
    return value.decode() if value else None


async def test_an_email_moved_to_another_user_and_released_leaves_no_profile_unfindable(
    world: ServerHandle,
) -> None:
    # docs/protocol.md: "admin:upsertUsers keeps the email index (case-insensitive) in step".
    async with connect(world.url, token("root", admin=True)) as root:
        await root.call("admin:upsertUsers", {"users": [{"id": "bob", "email": "ALICE@example.com"}]})
        await root.call("admin:upsertUsers", {"users": [{"id": "bob", "email": "bob2@example.com"}]})
    alice_email = await stored_email(world, "alice")
    found = await found_by_email(world, "alice@example.com")
    # One address, one user: given to bob, it was taken off alice's profile, and once bob
    # let it go, nobody has it (before, alice's profile kept it while the index lost it).
    assert (alice_email, found) == (None, [])


async def test_two_users_given_one_email_in_a_batch_leave_the_index_in_step(world: ServerHandle) -> None:
    async with connect(world.url, token("root", admin=True)) as root:
        await root.call(
            "admin:upsertUsers",
            {"users": [{"id": "u1", "email": "same@example.com"}, {"id": "u2", "email": "Same@example.com"}]},
        )
        await root.call("admin:upsertUsers", {"users": [{"id": "u2", "email": None}]})
    u1_email = await stored_email(world, "u1")
    found = await found_by_email(world, "same@example.com")
    assert (u1_email, found) == (None, [])  # u2 took it from u1 in the batch, then let it go


async def test_a_session_given_a_null_prop_id_is_refused(world: ServerHandle) -> None:
    # docs/protocol.md, Catalog: "its `propId` is `""` for the room itself (`null` is a 400)".
    async with connect(world.url, token("root", admin=True)) as root:
        future = {"startDate": "2030-01-01T10:00:00Z", "endDate": "2030-01-01T11:00:00Z"}
        await root.call(
            "admin:upsertSocialSessions",
            {"sessions": [{"id": "s1", "roomId": "lobby", "propId": "table", **future}]},
        )
        reply = await root.request(
            "admin:upsertSocialSessions", {"sessions": [{"id": "s1", "roomId": "lobby", "propId": None}]}
        )
        assert reply.error.code == 400, reply


async def test_an_address_whose_index_names_a_user_gone_makes_no_profile_of_them(world: ServerHandle) -> None:
    keys = Keys(world.settings.key_prefix)
    async with redis_of(world) as redis:
        await redis.execute("SET", keys.email("x@example.com"), "ghost")  # left by an earlier release
    async with connect(world.url, token("root", admin=True)) as root:
        await root.call("admin:upsertUsers", {"users": [{"id": "bob", "email": "x@example.com"}]})
    async with redis_of(world) as redis:
        assert await redis.execute("EXISTS", keys.user("ghost")) == 0


async def test_a_users_avatar3d_and_a_rooms_thumbnail_are_bounded_in_bytes(world: ServerHandle) -> None:
    # docs/protocol.md, Catalog: avatar3D at most 4,096 bytes and a thumbnail at most 16,384,
    # as the JSON stored. The deprecated API copies them into every meeting it shows: a
    # ~900 KB avatar and thumbnail made 20 meetings a 37 MB listing.
    blob = {f"skin{i}": "x" * 80 for i in range(10_000)}  # about 900 KB
    padding = len('{"avatarUrl":""}'), len('{"title":""}')
    async with connect(world.url, token("root", admin=True)) as root:
        avatar = await root.request(
            "admin:upsertUsers", {"users": [{"id": "bob", "avatar3D": {"assetSkins": blob}}]}
        )
        assert avatar.error.code == 400
        assert "`avatar3D` may be at most 4,096 bytes as JSON" in avatar.error.message
        assert "data.users[0]" in avatar.error.message
        thumbnail = await root.request(
            "admin:upsertRooms", {"rooms": [{"id": "lobby", "thumbnail": {"customParams": blob}}]}
        )
        assert thumbnail.error.code == 400 and "`thumbnail` may be at most 16,384" in thumbnail.error.message
        # the boundaries: the last byte in, one more out (a batch all or nothing)
        url = "x" * (4_096 - padding[0])
        await root.call("admin:upsertUsers", {"users": [{"id": "bob", "avatar3D": {"avatarUrl": url}}]})
        over = [{"id": "carol"}, {"id": "bob", "avatar3D": {"avatarUrl": url + "x"}}]
        assert (await root.request("admin:upsertUsers", {"users": over})).error.code == 400
        title = "x" * (16_384 - padding[1])
        await root.call("admin:upsertRooms", {"rooms": [{"id": "lobby", "thumbnail": {"title": title}}]})
        too_long = {"rooms": [{"id": "lobby", "thumbnail": {"title": title + "x"}}]}
        assert (await root.request("admin:upsertRooms", too_long)).error.code == 400
    keys = Keys(world.settings.key_prefix)
    async with redis_of(world) as redis:
        assert await redis.execute("HSTRLEN", keys.user("bob"), "avatar3D") == 4_096
        assert await redis.execute("HSTRLEN", keys.room("lobby"), "thumbnail") == 16_384
