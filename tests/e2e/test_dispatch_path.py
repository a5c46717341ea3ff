"""Which task answers a request: none for a one-round-trip request read alone while nothing
else is in flight (it runs in the reactor's callback, then in the Redis reader's), the
connection's reader task when the Redis client cannot be driven (a Cluster's), a task of its
own otherwise; bounds, order, back-pressure and draining hold every way (max_in_flight, 4008
and 429 have their own tests in test_operations and test_frames)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import trio
import trio.testing

from roomful_meetings.client import connect
from roomful_meetings.protocol.payloads import MeetingRef
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import Pool
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import ready
from tests.endpoints import TestHandler, installed
from tests.protocol.test_frames import frame
from tests.topologies import command
from tests.wsraw import RawPeer, open_raw

TEXT, CLOSE = 1, 8


def answering_task() -> str:
    """Spawned requests run in a task of their own, started at Session._answer."""
    return trio.lowlevel.current_task().name


class Recorder:
    def __init__(self) -> None:
        self.tasks: list[str] = []
        self.release = trio.Event()
        self.entered = trio.Event()

    async def get(self, services: Services, caller: Caller, data: MeetingRef) -> dict[str, str]:
        self.tasks.append(answering_task())
        return {"meetingId": data.meetingId}

    async def held(self, services: Services, caller: Caller, data: object) -> dict[str, bool]:
        self.tasks.append(answering_task())
        self.entered.set()
        await self.release.wait()
        return {"held": True}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    recorder = Recorder()
    with (
        installed(monkeypatch, "meeting:getMeeting", recorder.get),
        installed(monkeypatch, "test:held", recorder.held),
    ):
        yield recorder


def spawned(task: str) -> bool:
    return task.endswith("Session._answer")


def in_the_reactor(task: str) -> bool:
    return task.endswith("Reactor.run")


GET = b'{"endpoint":"meeting:getMeeting","data":{"meetingId":"m%d"},"event":{"id":"%d"}}'


async def open_peer(url: str, user: str) -> tuple[trio.abc.Stream, RawPeer]:
    """A raw websocket client of `user`, accepted (its connection:ready not read yet)."""
    stream, status, received = await open_raw(url, [(b"authorization", f"Bearer {token(user)}".encode())])
    assert status == 101
    return stream, RawPeer(stream, received)


def get_held_until_released(
    redis_server: RedisProcess, prefix: str, entered: list[str]
) -> tuple[TestHandler, Callable[[], None]]:
    """A getMeeting handler that may be driven without a task (it awaits only Redis): a
    BLPOP that waits for the test's `release()`, one per request."""
    release_key = f"{prefix}release"

    async def get(services: Services, caller: Caller, data: MeetingRef) -> dict[str, str]:
        entered.append(data.meetingId)
        await services.meetings.redis.execute("BLPOP", release_key, 10)
        return {"meetingId": data.meetingId}

    return get, lambda: command(redis_server.port, "LPUSH", release_key, "go")


async def test_a_lone_one_round_trip_request_is_answered_by_the_reader(
    server: ServerHandle, recorder: Recorder
) -> None:
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        for _ in range(3):
            await alice.request("meeting:getMeeting", {"meetingId": "m"})
    assert len(recorder.tasks) == 3 and all(in_the_reactor(t) for t in recorder.tasks), recorder.tasks


@pytest.fixture
def not_drivable(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis client of a Cluster: requests are never driven without a task."""
    monkeypatch.setattr(Pool, "drivable", False)


async def test_without_a_drivable_client_the_reader_task_answers(
    not_drivable: None, server: ServerHandle, recorder: Recorder
) -> None:
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        for _ in range(3):
            await alice.request("meeting:getMeeting", {"meetingId": "m"})
    assert len(recorder.tasks) == 3, recorder.tasks
    assert not any(in_the_reactor(t) or spawned(t) for t in recorder.tasks), recorder.tasks


async def test_a_request_while_another_is_in_flight_gets_a_task_and_is_not_held_up(
    server: ServerHandle, recorder: Recorder
) -> None:
    async with connect(server.url, token("alice")) as alice:
        await ready(alice)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice.request, "test:held", {})
            await recorder.entered.wait()
            # The held request is in flight: this one must not wait for it.
            reply = await alice.request("meeting:getMeeting", {"meetingId": "m"})
            assert reply.data == {"meetingId": "m"}
            recorder.release.set()
    held, get = recorder.tasks
    assert spawned(held) and spawned(get), recorder.tasks  # test:held is not one round trip


async def test_requests_read_together_each_get_a_task(server: ServerHandle, recorder: Recorder) -> None:
    stream, peer = await open_peer(server.url, "alice")
    async with stream:
        assert (await peer.next_frame())[0] == TEXT  # connection:ready
        await stream.send_all(b"".join(frame(TEXT, GET % (i, i)) for i in range(3)))
        answered = {json.loads((await peer.next_frame())[1])["event"]["id"] for _ in range(3)}
    assert answered == {"0", "1", "2"}
    # The first two came with more behind them in the same read: not answered inline.
    assert spawned(recorder.tasks[0]) and spawned(recorder.tasks[1]), recorder.tasks


async def test_a_client_that_does_not_read_its_responses_only_stalls_itself(
    start_server: StartServer,
) -> None:
    """Back-pressure: responses wait for room in the send queue, the reader stops reading,
    and nothing is dropped or cut; once the client reads, every response is there."""
    server = await start_server(
        send_queue_frames=4, max_in_flight=2, rate_per_second=10_000, rate_burst=10_000
    )
    stream, peer = await open_peer(server.url, "bob")
    big = b"x" * 60_000  # each 404 echoes the id: responses fill the socket buffers fast
    request = b'{"endpoint":"meeting:getMeeting","data":{"meetingId":"%s"},"event":{"id":"%d"}}'
    async with stream, connect(server.url, token("carol")) as carol:
        await ready(carol)
        async with trio.open_nursery() as nursery:

            async def send_all() -> None:
                for i in range(40):
                    await stream.send_all(frame(TEXT, request % (big, i)))

            nursery.start_soon(send_all)
            # Meanwhile another connection is served as usual.
            reply = await carol.request("meeting:getMeeting", {"meetingId": "x"})
            assert reply.error is not None and reply.error.code == 404
            ids: list[int] = []
            while len(ids) < 40:
                opcode, payload = await peer.next_frame()
                if opcode == TEXT and b'"endpoint":"meeting:getMeeting"' in payload:
                    ids.append(int(json.loads(payload)["event"]["id"]))
    assert sorted(ids) == list(range(40))


@pytest.mark.parametrize("drivable", [True, False], ids=["without-a-task", "by-the-reader-task"])
async def test_stopping_during_an_inline_answer_still_sends_it(
    server: ServerHandle,
    redis_server: RedisProcess,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
    drivable: bool,
) -> None:
    """Draining stops reading, not the answer being given inline (driven without a task,
    or by the connection's reader task where the client cannot be driven)."""
    monkeypatch.setattr(Pool, "drivable", drivable)
    entered: list[str] = []
    get, release = get_held_until_released(redis_server, prefix, entered)
    with installed(monkeypatch, "meeting:getMeeting", get):
        async with connect(server.url, token("alice")) as alice:
            await ready(alice)
            async with trio.open_nursery() as nursery:
                replies: list[object] = []

                async def ask() -> None:
                    replies.append((await alice.request("meeting:getMeeting", {"meetingId": "m"})).data)

                nursery.start_soon(ask)
                await trio.testing.wait_all_tasks_blocked()
                assert entered == ["m"]
                server.stop.set()
                await trio.testing.wait_all_tasks_blocked()  # the drain has reached the session
                assert not replies
                release()
            assert replies == [{"meetingId": "m"}]


async def test_a_request_sent_during_an_inline_answer_is_read_once_that_is_sent(
    server: ServerHandle, redis_server: RedisProcess, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inline answer holds the connection's reading, as the reader's own answer did:
    the next request waits in the socket, and the answers keep the requests' order."""
    entered: list[str] = []
    get, release = get_held_until_released(redis_server, prefix, entered)
    with installed(monkeypatch, "meeting:getMeeting", get):
        stream, peer = await open_peer(server.url, "alice")
        async with stream:
            assert (await peer.next_frame())[0] == TEXT  # connection:ready
            await stream.send_all(frame(TEXT, GET % (1, 1)))
            await trio.testing.wait_all_tasks_blocked()
            await stream.send_all(frame(TEXT, GET % (2, 2)))
            await trio.sleep(0.05)
            await trio.testing.wait_all_tasks_blocked()
            assert entered == ["m1"]  # the second waits unread
            release()
            first = json.loads((await peer.next_frame())[1])
            release()
            second = json.loads((await peer.next_frame())[1])
    assert entered == ["m1", "m2"]
    assert [first["event"]["id"], second["event"]["id"]] == ["1", "2"]
    assert second["data"] == {"meetingId": "m2"}


async def test_stopping_answers_every_request_already_read_then_closes_1001(
    start_server: StartServer, recorder: Recorder
) -> None:
    """Draining while the reader holds requests it has read (here: waiting for an in-flight
    slot) answers them all before the close; only bytes not yet read are left unread."""
    server = await start_server(max_in_flight=1, shutdown_deadline=3)
    held = b'{"endpoint":"test:held","data":{},"event":{"id":"100"}}'
    stream, peer = await open_peer(server.url, "alice")
    async with stream:
        assert (await peer.next_frame())[0] == TEXT  # connection:ready
        await stream.send_all(frame(TEXT, held))
        await recorder.entered.wait()
        await stream.send_all(frame(TEXT, GET % (1, 1)) + frame(TEXT, GET % (2, 2)))  # one read
        await trio.testing.wait_all_tasks_blocked()
        server.stop.set()
        await trio.testing.wait_all_tasks_blocked()  # the drain has reached the session
        recorder.release.set()
        got: list[object] = []
        with trio.fail_after(5):
            while True:
                opcode, payload = await peer.next_frame()
                if opcode == CLOSE:
                    got.append(("close", int.from_bytes(payload[:2], "big")))
                    break
                got.append(json.loads(payload)["event"]["id"])
    assert got == ["100", "1", "2", ("close", 1001)]
