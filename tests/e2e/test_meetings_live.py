"""Meetings across instances, under races, and when their source or a user is deleted."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack, suppress

import pytest
import trio

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import ApiError, NotFound
from roomful_meetings.storage.consistency import check_invariants
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import open_redis, parse_redis_url
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import meeting, ready, redis_of, seed


async def test_users_on_two_instances_see_each_others_changes_live(start_server: StartServer) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with connect(a.url, token("alice")) as alice, connect(b.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        assert (await bob.next_push()).endpoint == "meeting:onMeetingCreated"
        await bob.call("meeting:acceptMeetingRequest", {"meetingId": mid})
        await alice.next_push("meeting:onMeetingCreated")
        seen = await alice.next_push()
        assert seen.endpoint == "meeting:onMeetingUpdated"
        assert seen.data["meeting"]["participants"][1] == {"userId": "bob", "status": "accepted"}
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "startDate": "2030-03-04T10:15:00Z"})
        await bob.next_push("meeting:onMeetingUpdated")  # his own accept
        moved = await bob.next_push("meeting:onMeetingUpdated")
        assert moved.data["meeting"]["startDate"] == "2030-03-04T10:15:00Z"
        assert moved.data["meeting"]["participants"][1]["status"] == "received"
        await alice.call("meeting:deleteMeeting", {"meetingId": mid})
        assert (await bob.next_push("meeting:onMeetingDeleted")).data == {"meetingId": mid}


async def test_every_open_connection_of_a_participant_gets_the_event(start_server: StartServer) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with AsyncExitStack() as stack:
        bobs = [await ready(await stack.enter_async_context(connect(s.url, token("bob")))) for s in (a, a, b)]
        async with connect(b.url, token("alice")) as alice:
            mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        for client in bobs:
            push = await client.next_push()
            assert push.data["meeting"]["meetingId"] == mid


async def test_racing_clients_leave_a_consistent_state(start_server: StartServer) -> None:
    servers = [await start_server(rate_per_second=10_000, rate_burst=10_000) for _ in range(2)]
    await seed(servers[0])
    invitees = ["bob", "carol", "dave"]
    async with AsyncExitStack() as stack:
        clients: dict[str, Client] = {}
        for i, name in enumerate(["alice", *invitees]):
            clients[name] = await ready(
                await stack.enter_async_context(connect(servers[i % 2].url, token(name)))
            )
        alice = clients["alice"]
        mids = [
            (await alice.call("meeting:createMeeting", meeting(invited=invitees)))["meeting"]["meetingId"]
            for _ in range(6)
        ]
        rng = random.Random(7)

        async def noise(name: str) -> None:
            client = clients[name]
            for _ in range(40):
                mid = rng.choice(mids)
                try:
                    if name == "alice":
                        action = rng.choice(["move", "invite", "delete", "rename"])
                        if action == "move":
                            minute = rng.randrange(60)
                            await client.call(
                                "meeting:updateMeeting",
                                {"meetingId": mid, "startDate": f"2030-03-04T09:{minute:02d}:00Z"},
                            )
                        elif action == "invite":
                            await client.call(
                                "meeting:updateMeeting",
                                {"meetingId": mid, "invitedUserIds": rng.sample(invitees, rng.randint(1, 3))},
                            )
                        elif action == "delete":
                            await client.call("meeting:deleteMeeting", {"meetingId": mid})
                        else:
                            await client.call(
                                "meeting:updateMeeting", {"meetingId": mid, "subject": f"s{rng.random()}"}
                            )
                    else:
                        endpoint = rng.choice(
                            ["meeting:acceptMeetingRequest", "meeting:declineMeetingRequest"]
                        )
                        await client.call(endpoint, {"meetingId": mid})
                except NotFound:
                    pass  # deleted, or this invitee was just removed: an expected outcome of the race

        async with trio.open_nursery() as nursery:
            for name in clients:
                nursery.start_soon(noise, name)

        survivors = []
        for mid in mids:
            with suppress(NotFound):
                survivors.append((await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"])
        for m in survivors:  # what a participant reads agrees with what the others can list
            for uid in m["participantIds"][1:]:
                listed = await clients[uid].call(
                    "meeting:listUserMeetings",
                    {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"},
                )
                assert m["meetingId"] in {x["meetingId"] for x in listed["meetings"]}

    async with open_redis(parse_redis_url(servers[0].settings.redis_url)) as redis:
        await redis.wait_connected()
        assert await check_invariants(redis, Keys(servers[0].settings.key_prefix)) == len(survivors)


async def test_deleting_a_room_invalidates_its_and_its_props_meetings(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        in_room = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
        on_prop = (await alice.call("meeting:createMeeting", meeting(source=("prop", ["lobby", "table"]))))[
            "meeting"
        ]["meetingId"]
        elsewhere = (await alice.call("meeting:createMeeting", meeting(source=("room", ["hall"]))))[
            "meeting"
        ]["meetingId"]
        for _ in range(3):
            await bob.next_push("meeting:onMeetingCreated")
        async with connect(server.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteRoom", {"roomId": "lobby"})
            await admin.call("admin:deleteRoom", {"roomId": "never-existed"})
        invalidated = {(await bob.next_push()).data["meeting"]["meetingId"] for _ in range(2)}
        assert invalidated == {in_room, on_prop}
        for mid, valid in ((in_room, False), (on_prop, False), (elsewhere, True)):
            assert (await alice.call("meeting:getMeeting", {"meetingId": mid}))["meeting"]["isValid"] is valid
        with pytest.raises(NotFound, match="room lobby"):
            await alice.call("meeting:createMeeting", meeting())


async def test_deleting_a_group_or_prop_invalidates_and_notifies(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        group_mid = (await alice.call("meeting:createMeeting", meeting(source=("group", ["team"]))))[
            "meeting"
        ]["meetingId"]
        prop_mid = (await alice.call("meeting:createMeeting", meeting(source=("prop", ["lobby", "stage"]))))[
            "meeting"
        ]["meetingId"]
        async with connect(server.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteGroup", {"groupId": "team"})
            await admin.call("admin:deleteProp", {"roomId": "lobby", "propId": "stage"})
        for mid in (group_mid, prop_mid):
            push = await alice.next_push("meeting:onMeetingUpdated")
            assert push.data["meeting"]["meetingId"] == mid and push.data["meeting"]["isValid"] is False


async def test_deleting_a_user_erases_them_from_every_meeting(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await ready(alice)
        await ready(bob)
        bobs = (await bob.call("meeting:createMeeting", meeting(invited=["alice"])))["meeting"]["meetingId"]
        alices = (await alice.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        direct = (
            await alice.call("meeting:createMeeting", meeting(source=("direct", ["bob"]), invited=["carol"]))
        )["meeting"]["meetingId"]
        for _ in range(3):  # the three creations, however late they arrive
            await alice.next_push("meeting:onMeetingCreated")
        async with connect(server.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteUser", {"userId": "bob"})
            await admin.call("admin:deleteUser", {"userId": "bob"})  # deleting what does not exist succeeds
        got = {}
        for _ in range(3):
            push = await alice.next_push()
            got[push.data["meeting"]["meetingId"] if "meeting" in push.data else push.data["meetingId"]] = (
                push
            )
        assert got[bobs].endpoint == "meeting:onMeetingDeleted"
        assert got[alices].data["meeting"]["participantIds"] == ["alice", "carol"]
        assert got[direct].data["meeting"]["participantIds"] == ["alice", "carol"]
        assert got[direct].data["meeting"]["isValid"] is False
        with pytest.raises(NotFound, match="bob"):
            await alice.call("meeting:createMeeting", meeting(invited=["bob"]))
    async with redis_of(server) as redis:
        keys = Keys(server.settings.key_prefix)
        assert (
            await redis.execute(
                "EXISTS", keys.user("bob"), keys.user_meetings("bob"), keys.email("bob@example.com")
            )
            == 0
        )
        assert await redis.execute("SISMEMBER", keys.group_members("team"), "bob") == 0
        assert await check_invariants(redis, keys) == 2


async def test_scripts_flushed_from_redis_are_reloaded(server: ServerHandle) -> None:
    await seed(server)
    async with redis_of(server) as redis:
        await redis.execute("SCRIPT", "FLUSH")
    async with connect(server.url, token("alice")) as alice:
        m = (await alice.call("meeting:createMeeting", meeting()))["meeting"]
        assert m["organizerId"] == "alice"


async def test_admin_batches_are_all_or_nothing(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("root", admin=True)) as admin:
        with pytest.raises(NotFound, match="room ghost"):
            await admin.call(
                "admin:upsertProps",
                {"props": [{"roomId": "lobby", "id": "new"}, {"roomId": "ghost", "id": "x"}]},
            )
        with pytest.raises(ApiError) as bad:
            await admin.call(
                "admin:upsertUsers", {"users": [{"id": "zed"}, {"id": "zoe", "timeZone": "Mars/Olympus"}]}
            )
        assert bad.value.code == 400 and "users[1].timeZone" in bad.value.message
    async with connect(server.url, token("alice")) as alice:
        with pytest.raises(NotFound):
            await alice.call("meeting:createMeeting", meeting(source=("prop", ["lobby", "new"])))
        with pytest.raises(NotFound, match="zed"):
            await alice.call("meeting:createMeeting", meeting(invited=["zed"]))


async def test_the_invariant_checker_notices_a_half_written_change(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
    keys = Keys(server.settings.key_prefix)
    async with redis_of(server) as redis:
        assert await check_invariants(redis, keys) == 1
        await redis.execute("ZREM", keys.user_meetings("bob"), mid)  # what a torn update would leave
        with pytest.raises(AssertionError):
            await check_invariants(redis, keys)


async def test_only_a_change_of_time_or_people_touches_busy_time(server: ServerHandle) -> None:
    """Slot searches cache busy time by version: a new subject must not throw that away,
    while new times, a removed invitee (and the organizer's, for rejectConflicts) and a
    decline must."""
    await seed(server)
    keys = Keys(server.settings.key_prefix)
    async with (
        open_redis(parse_redis_url(server.settings.redis_url)) as redis,
        connect(server.url, token("alice")) as alice,
        connect(server.url, token("carol")) as carol,
    ):
        await redis.wait_connected()

        async def versions() -> dict[str, bytes | None]:
            found = await redis.execute("HMGET", keys.busy_versions(), "alice", "bob", "carol")
            return dict(zip(["alice", "bob", "carol"], found, strict=True))

        mid = (await alice.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        before = await versions()
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "subject": "Renamed"})
        assert await versions() == before
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["carol"]})
        after_removal = await versions()
        assert after_removal["bob"] != before["bob"]
        assert after_removal["carol"] == before["carol"]
        # The organizer's moves with any change of people: a checked change racing this one
        # (rejectConflicts) read the old participants, and must check again.
        assert after_removal["alice"] != before["alice"]
        await carol.call("meeting:declineMeetingRequest", {"meetingId": mid})
        assert (await versions())["carol"] != after_removal["carol"]
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "endDate": "2030-03-04T12:00:00Z"})
        moved = await versions()
        assert moved["alice"] != after_removal["alice"] and moved["carol"] != after_removal["carol"]
        assert await check_invariants(redis, keys) == 1
