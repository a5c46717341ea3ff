"""Redis refusing a change it did not run (busy with a script, out of memory, a password or
an ACL it now asks for, gone between two reads) is a 503 "not applied", true to its word:
the change is not there afterwards (contract 3)."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from roomful_meetings.client import connect
from roomful_meetings.client.raw import Frame
from roomful_meetings.errors import ApiError, Unavailable
from roomful_meetings.service import legacy
from roomful_meetings.service.dispatch import NOT_APPLIED
from roomful_meetings.storage.availability import AvailabilityStore
from roomful_meetings.storage.embedded import RedisProcess
from tests.conftest import StartServer, token
from tests.e2e.world import hold_first_call, meeting, ready, seed
from tests.topologies import command

# A script that keeps Redis busy for 1.5 s: past busy-reply-threshold it refuses every other
# command unexecuted (BUSY).
SPIN = (
    "local t = redis.call('TIME') local e = t[1] * 1000000 + t[2] + 1500000 "
    "while true do local n = redis.call('TIME') if n[1] * 1000000 + n[2] > e then break end end return 1"
)


async def test_redis_busy_with_another_script_gives_503_not_applied(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """BUSY: another client's script runs past busy-reply-threshold; Redis refuses every
    other command unexecuted."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=5.0)
    await seed(server)
    command(own_redis.port, "CONFIG", "SET", "busy-reply-threshold", "100")
    async with connect(server.url, token("alice")) as alice:
        await alice.call("meeting:createMeeting", meeting(subject="before"))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(
                lambda: trio.to_thread.run_sync(lambda: command(own_redis.port, "EVAL", SPIN, 0, timeout=10))
            )
            await trio.sleep(0.4)  # past the threshold: Redis answers BUSY
            with pytest.raises(ApiError) as raised:
                await alice.call("meeting:createMeeting", meeting(subject="during busy"))
            answer = raised.value
    assert isinstance(answer, Unavailable), f"{type(answer).__name__}: {answer.message}"
    assert NOT_APPLIED in answer.message


async def test_redis_out_of_memory_gives_503_not_applied(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """maxmemory reached with noeviction: Redis refuses the script's first write (OOM),
    nothing is applied."""
    server = await start_server(redis_url=own_redis.url)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        await alice.call("meeting:createMeeting", meeting(subject="before"))
        command(own_redis.port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
        command(own_redis.port, "CONFIG", "SET", "maxmemory", "1")
        try:
            with pytest.raises(ApiError) as raised:
                await alice.call("meeting:createMeeting", meeting(subject="when full"))
        finally:
            command(own_redis.port, "CONFIG", "SET", "maxmemory", "0")
        answer = raised.value
        listed = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-01-01T00:00:00Z", "endDate": "2031-01-01T00:00:00Z"},
        )
    assert "before" in str(listed) and "when full" not in str(listed)  # really not applied
    assert isinstance(answer, Unavailable), f"{type(answer).__name__}: {answer.message}"
    assert NOT_APPLIED in answer.message


async def test_a_deprecated_create_refused_after_its_write_is_not_answered_not_applied(
    start_server: StartServer, own_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """meeting:create reads the directory for the old shape after its change: Redis
    refusing that read must not be told "not applied" (a client trusting it would book
    the meeting twice under a new id); a retry with the same id answers it."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=5.0)
    await seed(server)
    command(own_redis.port, "CONFIG", "SET", "busy-reply-threshold", "100")
    written, go_on = hold_first_call(monkeypatch, legacy, "create")
    old = {
        "startDate": "2030-03-05T10:00:00Z",
        "endDate": "2030-03-05T11:00:00Z",
        "subject": "Old",
        "roomId": "lobby",
    }
    replies: list[Frame] = []
    async with connect(server.url, token("alice")) as alice:
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                replies.append(await alice.request("meeting:create", {"meeting": old}, event_id="c1"))

            nursery.start_soon(ask)
            await written.wait()  # the meeting is made; its answer is still to be read
            nursery.start_soon(
                lambda: trio.to_thread.run_sync(lambda: command(own_redis.port, "EVAL", SPIN, 0, timeout=10))
            )
            await trio.sleep(0.4)  # past the threshold: Redis answers BUSY
            go_on.set()
        (reply,) = replies
        assert reply.error.code == 503 and "the change was made" in reply.error.message
        again = await alice.request("meeting:create", {"meeting": old}, event_id="c1")
        listed = await alice.call(
            "meeting:listUserMeetings",
            {"startDate": "2030-03-01T00:00:00Z", "endDate": "2030-04-01T00:00:00Z"},
        )
    assert [m["subject"] for m in listed["meetings"]] == ["Old"]  # made once
    assert again.error.code == 0 and again.data["meeting"]["subject"] == "Old"


FIND = {
    "attendees": [{"roomful": "bob"}],
    "startDate": "2030-03-04T08:00:00Z",
    "endDate": "2030-03-04T18:00:00Z",
    "duration": 60,
    "step": 60,
    "maxCandidates": 100,
    "timeZone": "UTC",
}
SLOTS = {"users": [{"roomful": "bob"}], "localDate": "2030-03-04T12:00:00Z", "timeZone": "UTC"}


@pytest.mark.parametrize(
    ("endpoint", "data"),
    [
        ("meeting:findMeetingTimes", FIND),
        ("meeting:getTimeSlotsForMeeting", SLOTS),
    ],
    # (a rejectConflicts create reads the same way, but is answered without a task, where
    # the test's hold cannot wait)
    ids=["findMeetingTimes", "getTimeSlotsForMeeting"],
)
async def test_redis_going_away_during_a_search_is_a_503_not_a_500(
    start_server: StartServer,
    own_redis: RedisProcess,
    monkeypatch: pytest.MonkeyPatch,
    endpoint: str,
    data: dict[str, Any],
) -> None:
    """Contract 3: a storage outage is a 503, never a 500 ("a bug"). Redis stops after a
    search has read the people's heads and before it reads their calendars: the two reads
    run side by side in a nursery (storage/availability.py), whose ExceptionGroup of
    RedisUnavailable escapes dispatch's `except RedisUnavailable` and is answered 500."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=1.0)
    await seed(server)
    heads_read, go_on = hold_first_call(monkeypatch, AvailabilityStore, "heads")
    replies: list[Frame] = []
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        async with trio.open_nursery() as nursery:

            async def ask() -> None:
                replies.append(await alice.request(endpoint, data, event_id="during-outage"))

            nursery.start_soon(ask)
            await heads_read.wait()
            own_redis.stop()  # Redis goes away between the two reads
            go_on.set()
    (reply,) = replies
    assert reply.error.code == 503, reply.error
    assert NOT_APPLIED in reply.error.message


async def test_a_redis_that_now_asks_for_a_password_gives_503_not_500(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """The operator turns on (or rotates) Redis's password and the instance's links are
    re-established: every command gets NOAUTH, which the server answers 500 "a bug" (with
    a password configured but wrong it is 503 "not applied", as it should be: Redis ran
    nothing)."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=1.0)
    await seed(server)
    secret = "rotated-secret"
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        command(own_redis.port, "CONFIG", "SET", "requirepass", secret)
        try:
            command(own_redis.port, "CLIENT", "KILL", "TYPE", "normal", password=secret)
            await trio.sleep(0.3)  # the pool reconnects by itself
            created = await alice.request("meeting:createMeeting", meeting(), event_id="c1")
            got = await alice.request("meeting:getMeeting", {"meetingId": "0" * 32})
        finally:
            command(own_redis.port, "CONFIG", "SET", "requirepass", "", password=secret)
    for reply in (created, got):
        assert reply.error.code == 503, reply.error
    assert NOT_APPLIED in created.error.message


async def test_a_change_redis_refuses_by_acl_gives_503_not_applied_not_500(
    start_server: StartServer, own_redis: RedisProcess
) -> None:
    """An ACL change takes EVALSHA away: Redis refuses the change unexecuted (NOPERM),
    which is answered 500 "a bug" instead of 503 "not applied"."""
    server = await start_server(redis_url=own_redis.url, redis_timeout=1.0)
    await seed(server)
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        command(own_redis.port, "ACL", "SETUSER", "default", "-evalsha")
        try:
            refused = await alice.request("meeting:createMeeting", meeting(), event_id="c1")
        finally:
            command(own_redis.port, "ACL", "SETUSER", "default", "+evalsha")
    assert refused.error.code == 503, refused.error
    assert NOT_APPLIED in refused.error.message
