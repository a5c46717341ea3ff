"""Delivery and recovery (contract section 6): since= replay, catch-up, Redis outages."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed

from roomful_meetings.client import Client, connect
from roomful_meetings.errors import Unavailable
from roomful_meetings.service.connection import missed_events
from roomful_meetings.service.context import Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.keys import Keys
from roomful_meetings.storage.redis import Redis
from roomful_meetings.transport import session
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.test_redis_refusals import FIND, SLOTS
from tests.e2e.world import (
    alice_and_bob,
    assert_no_other_push,
    close_code,
    meeting,
    ready,
    redis_of,
    seed,
    wait_events_subscribed,
)
from tests.wsraw import open_ws


def order(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


async def meeting_events(client: Client, count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        push = await client.next_push()
        if push.endpoint and push.endpoint.startswith("meeting:on"):
            assert push.event is not None
            ids.append(push.event.id)
    return ids


async def test_reconnecting_with_since_replays_what_was_missed_in_order(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        async with connect(server.url, token("bob")) as bob:
            ready = await bob.next_push()
            assert ready.endpoint == "connection:ready"
            await alice.call("meeting:createMeeting", meeting())
            (seen,) = await meeting_events(bob, 1)
        missed = [
            (await alice.call("meeting:createMeeting", meeting(subject=f"m{i}")))["meeting"]["meetingId"]
            for i in range(5)
        ]
        async with connect(server.url, token("bob"), since=seen) as bob:
            first = await bob.next_push()
            assert first.endpoint == "connection:ready"
            replayed = []
            for _ in range(5):
                push = await bob.next_push()
                replayed.append(push.data["meeting"]["meetingId"])
            assert replayed == missed
            await alice.call("meeting:deleteMeeting", {"meetingId": missed[0]})
            live = await bob.next_push()
            assert live.endpoint == "meeting:onMeetingDeleted"
            await assert_no_other_push(bob)


async def test_empty_since_replays_everything_retained(server: ServerHandle) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        for i in range(3):
            await alice.call("meeting:createMeeting", meeting(subject=f"m{i}"))
    async with connect(server.url, token("bob"), since="") as bob:
        assert (await bob.next_push()).endpoint == "connection:ready"
        assert [p.data["meeting"]["subject"] for p in [await bob.next_push() for _ in range(3)]] == [
            "m0",
            "m1",
            "m2",
        ]


@pytest.mark.parametrize(
    "since",
    [
        "1-0",
        "garbage",
        "99999999999999-0",
        # Not ids Redis can take (issue 13): these used to drop the TCP connection.
        "99999999999999999999999-1",
        "1-99999999999999999999999",
        "18446744073709551616-0",  # 2**64
        "\u0663-1",  # ARABIC-INDIC DIGIT THREE
        "\u00b2-1",  # SUPERSCRIPT TWO
        "1-1\n",
        " 1-1",
    ],
)
async def test_an_unknown_or_too_old_since_says_recovery_is_incomplete_first(
    server: ServerHandle, since: str
) -> None:
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        created = await alice.call("meeting:createMeeting", meeting())
    async with connect(server.url, token("bob"), since=since) as bob:
        first = await bob.next_push()
        assert first.endpoint == "connection:recoveryIncomplete"
        assert first.data["since"] == since
        assert (await bob.next_push()).endpoint == "connection:ready"
        meeting_id = created["meeting"]["meetingId"]
        got = await bob.call("meeting:getMeeting", {"meetingId": meeting_id})
        assert got["meeting"]["meetingId"] == meeting_id  # the connection works


async def test_replay_while_new_events_keep_arriving_has_no_gap_and_no_duplicate(
    start_server: StartServer,
) -> None:
    server = await start_server(rate_per_second=10_000, rate_burst=10_000)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        async with connect(server.url, token("bob")) as bob:
            await bob.next_push()
            await alice.call("meeting:createMeeting", meeting())
            (seen,) = await meeting_events(bob, 1)
        for i in range(30):
            await alice.call("meeting:createMeeting", meeting(subject=f"before{i}"))

        async def keep_changing() -> None:
            for i in range(30):
                await alice.call("meeting:createMeeting", meeting(subject=f"during{i}"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_changing)
            async with connect(server.url, token("bob"), since=seen) as bob:
                got = await meeting_events(bob, 60)
        assert got == sorted(got, key=order)
        assert len(set(got)) == 60


async def test_events_published_while_pubsub_was_down_are_caught_up(server: ServerHandle) -> None:
    async with alice_and_bob(server) as (redis, alice, bob):
        subjects = []
        for i in range(5):
            await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
            subjects.append(f"s{i}")
            await alice.call("meeting:createMeeting", meeting(subject=f"s{i}"))
        got: list[str] = []
        with trio.fail_after(10):
            while len(got) < 5:
                push = await bob.next_push()
                got.append(push.data["meeting"]["subject"])
        assert got == subjects
        await assert_no_other_push(bob)


async def test_a_catch_up_after_a_pubsub_outage_sends_nothing_from_before_the_connection(
    server: ServerHandle,
) -> None:
    await seed(server)
    async with redis_of(server) as redis:
        async with connect(server.url, token("alice")) as alice:
            old = (await alice.call("meeting:createMeeting", meeting(subject="old")))["meeting"]
            async with connect(server.url, token("bob")) as bob, connect(server.url, token("carol")) as carol:
                ready = await bob.next_push("connection:ready")
                await carol.next_push("connection:ready")
                async with connect(server.url, token("bob"), since=ready.data["lastEventId"]) as bob_again:
                    await bob_again.next_push("connection:ready")
                    await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
                    await wait_events_subscribed(redis, server.settings.key_prefix)
                    new = await alice.call(
                        "meeting:createMeeting", meeting(subject="new", invited=["bob", "carol"])
                    )
                    for client in (bob, bob_again, carol):  # the catch-up sent nothing older
                        push = await client.next_push()
                        assert push.endpoint == "meeting:onMeetingCreated"
                        assert push.data["meeting"]["meetingId"] == new["meeting"]["meetingId"]
                    await assert_no_other_push(bob, bob_again)
                    await assert_no_other_push(carol)
        assert old["meetingId"] != new["meeting"]["meetingId"]


async def wait_refused_reads(redis: Redis) -> None:
    """Until Redis has refused a command for lack of permission (ACL LOG: it logs the
    commands a script called too, which INFO errorstats counts as the script's ERR)."""
    with trio.fail_after(10):
        while not await redis.execute("ACL", "LOG"):  # noqa: ASYNC110 (state in Redis)
            await trio.sleep(0.01)


@asynccontextmanager
async def refusing(redis: Redis, command: str) -> AsyncIterator[None]:
    """Meanwhile Redis refuses `command` (ACL) to everyone, inside scripts too."""
    await redis.execute("ACL", "SETUSER", "default", f"-{command}")
    try:
        yield
    finally:
        await redis.execute("ACL", "SETUSER", "default", f"+{command}")


@asynccontextmanager
async def link_down_refusing(redis: Redis, command: str) -> AsyncIterator[None]:
    """The instances' pub/sub links dropped while Redis refuses `command`."""
    async with refusing(redis, command):
        await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
        yield


async def test_a_catch_up_that_redis_refuses_at_first_is_retried(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """Redis can confirm a subscription while it cannot serve reads yet (loading its data
    after a restart): the catch-up must not give up and skip what was missed."""
    server = await start_server(redis_url=own_redis.url)
    async with alice_and_bob(server) as (redis, alice, bob):
        async with link_down_refusing(redis, "xrevrange"):  # reading streams fails
            mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
            await wait_refused_reads(redis)  # the catch-up was tried, and failed
        with trio.fail_after(5):
            push = await bob.next_push()
        assert push.endpoint == "meeting:onMeetingCreated"
        assert push.data["meeting"]["meetingId"] == mid
        await assert_no_other_push(bob)


async def test_a_deprecated_event_that_redis_refuses_at_first_is_retried(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """A legacy=1 connection gets each event's deprecated twin, built from a directory
    read: a read refused for a moment must not drop it (a replay after its id would not
    bring it back)."""
    server = await start_server(redis_url=own_redis.url)
    async with alice_and_bob(server, legacy="1") as (redis, alice, bob):
        async with refusing(redis, "hgetall"):  # the directory read fails
            mid = (await alice.call("meeting:createMeeting", meeting()))["meeting"]["meetingId"]
            assert (await bob.next_push("meeting:onMeetingCreated")).data["meeting"]["meetingId"] == mid
            await wait_refused_reads(redis)
        with trio.fail_after(5):
            push = await bob.next_push()
        assert (push.endpoint, push.data["meeting"]["id"]) == ("meeting:meetingUpdated", mid)
        await assert_no_other_push(bob)


@pytest.mark.parametrize("refused", ["hgetall", "xrevrange"])
async def test_what_cannot_be_sent_after_its_retries_closes_with_1013(
    start_server: StartServer, own_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, refused: str
) -> None:
    """A deprecated event that cannot be built (hgetall), or a catch-up that cannot read
    the stream (xrevrange), closes the connection once its retries are spent: going on
    would skip what it could not send."""
    for delays in ("CATCH_UP_DELAYS", "LEGACY_EVENT_DELAYS"):
        monkeypatch.setattr(session, delays, (0.0, 0.05))
    server = await start_server(redis_url=own_redis.url)
    async with alice_and_bob(server, legacy="1") as (redis, alice, bob), refusing(redis, refused):
        if refused == "xrevrange":
            await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
        await alice.call("meeting:createMeeting", meeting())
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            while True:
                await bob.next_push()
    assert close_code(closed.value) == 1013


@pytest.mark.parametrize("seen_one", [True, False], ids=["after-an-event", "before-any-event"])
async def test_a_catch_up_that_lost_events_says_so_first(
    start_server: StartServer, own_redis: RedisProcess, seen_one: bool
) -> None:
    """While the pub/sub link is down, bob gets more events than his stream keeps (1000):
    the catch-up says connection:recoveryIncomplete, as a start with since= does, and then
    sends the newest 1000 in order (the first 300 were lost without a word), whether bob
    had seen an event before or none yet (his lastEventId was "")."""
    total = 1300
    server = await start_server(redis_url=own_redis.url, rate_per_second=100_000, rate_burst=100_000)
    async with alice_and_bob(server) as (redis, alice, bob):
        since = ""
        if seen_one:
            await alice.call("meeting:createMeeting", meeting(subject="seen"))
            seen = (await bob.next_push("meeting:onMeetingCreated")).event
            assert seen is not None
            since = str(seen.id)
        async with link_down_refusing(redis, "subscribe"):  # the link cannot come back
            await wait_events_subscribed(redis, server.settings.key_prefix, instances=0)
            for i in range(total):
                await alice.call("meeting:createMeeting", meeting(subject=f"missed{i}"))
        await redis.execute("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")  # retry the link now
        with trio.fail_after(20):
            told = await bob.next_push()
            assert told.endpoint == "connection:recoveryIncomplete", told
            subjects = [(await bob.next_push()).data["meeting"]["subject"] for _ in range(1000)]
        assert told.data["since"] == since
        assert subjects == [f"missed{i}" for i in range(total - 1000, total)]
        await assert_no_other_push(bob)


async def test_a_redis_outage_gives_503_and_the_server_recovers_by_itself(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    server = await start_server(redis_url=own_redis.url, redis_timeout=1.0)
    await seed(server)
    async with connect(server.url, token("alice")) as alice, connect(server.url, token("bob")) as bob:
        await bob.next_push()
        first = (await alice.call("meeting:createMeeting", meeting(subject="before")))["meeting"]
        assert (await bob.next_push("meeting:onMeetingCreated")).data["meeting"] == first
        own_redis.stop()
        with pytest.raises(Unavailable, match="storage unavailable"):
            for _ in range(20):
                await alice.call("meeting:createMeeting", meeting())
                await trio.sleep(0.05)
        own_redis.start()
        with trio.fail_after(15):
            while True:
                try:
                    mid = (await alice.call("meeting:createMeeting", meeting(subject="after")))["meeting"][
                        "meetingId"
                    ]
                    break
                except Unavailable:
                    await trio.sleep(0.1)
        seen = []
        with trio.fail_after(10):
            while True:
                push = await bob.next_push()
                assert push.event is not None
                seen.append(push.event.id)
                if push.data and push.data.get("meeting", {}).get("meetingId") == mid:
                    break
        assert len(seen) == len(set(seen))  # caught up after the outage, nothing twice


async def test_a_connection_made_while_pubsub_reconnects_waits_for_it_and_misses_nothing(
    server: ServerHandle,
) -> None:
    async with alice_and_bob(server) as (redis, alice, _):
        await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
        async with connect(server.url, token("carol")) as carol:  # joins once resubscribed
            await carol.next_push("connection:ready")
            created = await alice.call("meeting:createMeeting", meeting(invited=["carol"]))
            push = await carol.next_push("meeting:onMeetingCreated")
            assert push.data["meeting"]["meetingId"] == created["meeting"]["meetingId"]


async def test_a_storage_error_while_replaying_closes_with_1013_not_a_dropped_socket(
    server: ServerHandle,
) -> None:
    await seed(server)
    async with redis_of(server) as redis:
        # A reply error on the replay's read, deterministically: the stream key holds a string.
        await redis.execute("SET", Keys(server.settings.key_prefix).user_events("bob"), "not a stream")
    headers = [(b"authorization", f"Bearer {token('bob')}".encode())]
    async with open_ws(f"{server.url}/?since=1-1", headers) as ws:
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
    reason = closed.value.reason
    assert reason is not None and reason.code == 1013 and "since" in (reason.reason or "")


async def test_an_event_published_while_the_link_was_down_again_during_a_catch_up_is_caught_up(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link drops, comes back (a catch-up starts and reads the stream), drops again
    while that catch-up is still releasing what it read, and an event is published then:
    it is in neither that read nor the live ones, so a second read must follow (seen once
    in a Sentinel failover under load)."""
    read_done, go_on = trio.Event(), trio.Event()

    async def slow_after_reading(
        services: Services, user_id: str, *args: Any, **kwargs: Any
    ) -> tuple[bool, list[tuple[str, bytes]]]:
        found = await missed_events(services, user_id, *args, **kwargs)
        if user_id == "bob" and not read_done.is_set():
            read_done.set()
            await go_on.wait()  # bob's first catch-up has read, and has not released yet
        return found

    monkeypatch.setattr("roomful_meetings.transport.session.missed_events", slow_after_reading)
    async with alice_and_bob(server) as (redis, alice, bob):
        prefix = server.settings.key_prefix
        await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
        await read_done.wait()  # the link is back and bob's catch-up has read the stream
        await redis.execute("ACL", "SETUSER", "default", "-subscribe")  # it cannot come back yet
        try:
            await redis.execute("CLIENT", "KILL", "TYPE", "pubsub")
            missed = (await alice.call("meeting:createMeeting", meeting(subject="missed")))["meeting"]
        finally:
            await redis.execute("ACL", "SETUSER", "default", "+subscribe")
        await wait_events_subscribed(redis, prefix)  # back, while the first catch-up holds
        go_on.set()
        with trio.fail_after(10):
            push = await bob.next_push()
        assert push.endpoint == "meeting:onMeetingCreated"
        assert push.data["meeting"]["meetingId"] == missed["meetingId"]
        await assert_no_other_push(bob)


DAY = {"startDate": "2030-03-04T00:00:00Z", "endDate": "2030-03-05T00:00:00Z"}


async def _until_applied(client: Any, data: dict[str, Any]) -> None:
    with trio.fail_after(10):
        while (await client.request("meeting:createMeeting", data)).error.code == 503:  # noqa: ASYNC110 - Redis is starting
            await trio.sleep(0.05)


@pytest.mark.parametrize("endpoint", ["meeting:findMeetingTimes", "meeting:getTimeSlotsForMeeting"])
async def test_a_search_after_redis_came_back_with_older_data_is_not_answered_from_before(
    start_server: StartServer, own_redis: RedisProcess, tmp_path: Path, endpoint: str
) -> None:
    """Redis restarts on the same port with its data minus the last change (an AOF with
    `appendfsync everysec` loses up to a second on a crash, docs/operations.md; a failover
    to a replica that had not received it, contract 12). The instance keeps running and
    reconnects by itself. Its search caches are keyed by the busy versions, which come
    from a counter in Redis: the counter went back, the next change hands out the lost
    change's version again, and searches are answered from the cache of the lost state:
    alice is shown busy at 10:00 (the lost meeting) and free at 14:00, where her meeting
    really is (listUserMeetings shows only the 14:00 one)."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=1.0)
    await seed(server)
    ask = FIND if endpoint == "meeting:findMeetingTimes" else SLOTS
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        own_redis.stop()
        shutil.copytree(own_redis.data_dir, tmp_path / "before")  # what Redis will come back with
        own_redis.start()
        await _until_applied(alice, meeting(start="2030-03-04T10:00:00Z", end="2030-03-04T11:00:00Z"))
        await alice.call(endpoint, ask)  # the instance caches alice busy at 10:00
        own_redis.stop()
        shutil.rmtree(own_redis.data_dir)
        shutil.copytree(tmp_path / "before", own_redis.data_dir)  # the 10:00 meeting is lost
        own_redis.start()
        await _until_applied(alice, meeting(start="2030-03-04T14:00:00Z", end="2030-03-04T15:00:00Z"))
        listed = await alice.call("meeting:listUserMeetings", DAY)
        assert [m["startDate"] for m in listed["meetings"]] == ["2030-03-04T14:00:00Z"]
        answer = await alice.call(endpoint, ask)
    if endpoint == "meeting:findMeetingTimes":
        starts = [s["startDate"] for s in answer["suggestions"]]
        assert "2030-03-04T14:00:00+00:00" not in starts, "suggested while alice is in a meeting"
        assert "2030-03-04T10:00:00+00:00" in starts, "not suggested though alice is free"
    else:
        assert answer["availableTimeSlots"] == [
            {"startDate": "2030-03-04T00:00:00+00:00", "endDate": "2030-03-04T14:00:00+00:00"},
            {"startDate": "2030-03-04T15:00:00+00:00", "endDate": "2030-03-05T00:00:00+00:00"},
        ]
