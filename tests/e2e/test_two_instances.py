"""Event delivery and recovery across two instances on one Redis (contracts 1, 5 and 6):
every open connection of every participant gets each event once, in order, on either
instance, through outages, removals and erasure; retries are answered by either."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio

from roomful_meetings.client import Client, connect
from tests.conftest import StartServer, token
from tests.e2e.world import assert_no_other_push, meeting, ready, redis_of, seed, wait_events_subscribed


def order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def meeting_pushes(client: Client, count: int) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    with trio.fail_after(10):
        while len(got) < count:
            push = await client.next_push()
            if push.endpoint and push.endpoint.startswith("meeting:"):
                assert push.event is not None
                got.append((push.endpoint, push.event.id))
    return got


async def test_an_erased_organizer_still_connected_on_both_instances_is_told_their_meetings_are_gone(
    start_server: StartServer,
) -> None:
    """Contract 5: onMeetingDeleted reaches every open connection of every participant,
    organizer included; contract 7: deleteUser deletes the meetings the user organized."""
    a, b = await start_server(), await start_server()
    await seed(a)
    async with AsyncExitStack() as stack:
        bob_a = await ready(await stack.enter_async_context(connect(a.url, token("bob"))))
        bob_b = await ready(await stack.enter_async_context(connect(b.url, token("bob"))))
        mid = (await bob_a.call("meeting:createMeeting", meeting(invited=["alice"])))["meeting"]["meetingId"]
        async with connect(a.url, token("alice")) as alice:
            invited = (await alice.call("meeting:createMeeting", meeting(invited=["bob"])))["meeting"]
        for conn in (bob_a, bob_b):
            assert (await conn.next_push()).endpoint == "meeting:onMeetingCreated"
            assert (await conn.next_push()).endpoint == "meeting:onMeetingCreated"
        async with connect(b.url, token("root", admin=True)) as admin:
            await admin.call("admin:deleteUser", {"userId": "bob"})
        for conn in (bob_a, bob_b):
            got: list[tuple[str | None, Any]] = []
            with trio.move_on_after(3):
                while len(got) < 2:
                    push = await conn.next_push()
                    got.append((push.endpoint, push.data))
            assert sorted(got, key=str) == sorted(
                [
                    ("meeting:onMeetingDeleted", {"meetingId": mid}),  # the one he organized
                    ("meeting:onMeetingDeleted", {"meetingId": invited["meetingId"]}),  # removed from
                ],
                key=str,
            )


async def test_a_user_on_both_instances_removed_from_a_meeting_hears_it_everywhere_with_legacy_twins(
    start_server: StartServer,
) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with AsyncExitStack() as stack:
        alice = await ready(await stack.enter_async_context(connect(a.url, token("alice"))))
        bob_a = await ready(await stack.enter_async_context(connect(a.url, token("bob"))))
        bob_b = await ready(await stack.enter_async_context(connect(b.url, token("bob"), None, legacy="1")))
        mid = (await alice.call("meeting:createMeeting", meeting(invited=["bob", "carol"])))["meeting"][
            "meetingId"
        ]
        await alice.call("meeting:updateMeeting", {"meetingId": mid, "invitedUserIds": ["carol"]})
        got_a = await meeting_pushes(bob_a, 2)
        got_b = await meeting_pushes(bob_b, 4)
        assert [e for e, _ in got_a] == ["meeting:onMeetingCreated", "meeting:onMeetingDeleted"]
        assert sorted(got_b, key=lambda x: order(x[1])) == sorted(
            [
                (got_a[0][0], got_a[0][1]),
                ("meeting:meetingUpdated", got_a[0][1]),
                (got_a[1][0], got_a[1][1]),
                ("meeting:meetingDeleted", got_a[1][1]),
            ],
            key=lambda x: order(x[1]),
        )
        await assert_no_other_push(bob_a, bob_b)


async def test_a_pubsub_outage_of_one_instance_catches_up_its_connections_only_once(
    start_server: StartServer,
) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with AsyncExitStack() as stack:
        redis = await stack.enter_async_context(redis_of(a))
        alice = await ready(await stack.enter_async_context(connect(a.url, token("alice"))))
        bobs = [await ready(await stack.enter_async_context(connect(s.url, token("bob")))) for s in (a, b, b)]
        await wait_events_subscribed(redis, a.settings.key_prefix, instances=2)
        clients = await redis.execute("CLIENT", "LIST", "TYPE", "pubsub")
        first_id = clients.decode().splitlines()[0].split()[0]  # id=N
        sent = []
        for i in range(6):
            if i == 2:
                await redis.execute("CLIENT", "KILL", "ID", first_id.split("=")[1])
            sent.append(
                (await alice.call("meeting:createMeeting", meeting(subject=f"s{i}")))["meeting"]["meetingId"]
            )
        for bob in bobs:
            got: list[str] = []
            with trio.fail_after(10):
                while len(got) < 6:
                    push = await bob.next_push()
                    got.append(push.data["meeting"]["meetingId"])
            assert got == sent
        await assert_no_other_push(bobs[0], *bobs[1:])


async def test_since_an_id_of_another_users_own_event_says_recovery_is_incomplete(
    start_server: StartServer,
) -> None:
    a, b = await start_server(), await start_server()
    await seed(a)
    async with connect(a.url, token("alice")) as alice:
        await alice.call("meeting:createMeeting", meeting(subject="one"))
        own = (await alice.call("meeting:createMeeting", meeting(subject="mine", invited=[])))["meeting"]
        await alice.call("meeting:createMeeting", meeting(subject="two"))
        pushes = [await alice.next_push() for _ in range(4)]
        own_id = next(
            p.event.id
            for p in pushes
            if p.event and p.data and p.data.get("meeting", {}).get("subject") == "mine"
        )
        assert own["subject"] == "mine"
    async with connect(b.url, token("bob"), since=own_id) as bob:
        first = await bob.next_push()
        assert first.endpoint == "connection:recoveryIncomplete", first


async def test_a_retry_on_the_other_instance_after_a_restart_gets_the_first_answer(
    start_server: StartServer,
) -> None:
    a = await start_server()
    await seed(a)
    async with connect(a.url, token("alice")) as alice:
        first = await alice.request("meeting:createMeeting", meeting(), event_id="r-1")
        mid = first.data["meeting"]["meetingId"]
        deleted = await alice.request("meeting:deleteMeeting", {"meetingId": mid}, event_id="r-2")
    a.stop.set()
    b = await start_server()
    async with connect(b.url, token("alice")) as alice:
        again = await alice.request("meeting:createMeeting", meeting(), event_id="r-1")
        assert (again.error, again.data) == (first.error, first.data)
        again_del = await alice.request("meeting:deleteMeeting", {"meetingId": mid}, event_id="r-2")
        assert (again_del.error, again_del.data) == (deleted.error, deleted.data)
        other = await alice.request("meeting:deleteMeeting", {"meetingId": "x"}, event_id="r-2")
        assert other.error.code == 400
