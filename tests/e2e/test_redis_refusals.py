"""Redis refusing a change it did not run (busy with a script, out of memory) is a 503
"not applied", true to its word: the change is not there afterwards (contract 3)."""

from __future__ import annotations

import pytest
import trio

from roomful_meetings.client import connect
from roomful_meetings.client.raw import Frame
from roomful_meetings.errors import ApiError, Unavailable
from roomful_meetings.service import legacy
from roomful_meetings.service.dispatch import NOT_APPLIED
from roomful_meetings.storage.embedded import RedisProcess
from tests.conftest import StartServer, token
from tests.e2e.world import hold_first_call, meeting, seed
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
