"""The typed Python client (roomful_meetings.client) keeps what it promises across drops:
driven against a real server, through a TCP proxy that drops connections where a network
would, it resumes with the right `since`, resends a cut-off request once, ends its block with
a refusal as it is, and closes with the close handshake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import msgspec
import pytest
import trio
from trio_websocket import WebSocketRequest, serve_websocket

from roomful_meetings.client import MeetingsClient, connect, open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.events import MeetingEvent
from tests.conftest import StartServer, token
from tests.wsraw import collect_dropped_client_sockets

MARCH_4 = datetime(2030, 3, 4, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _frame_end(data: bytes, position: int) -> int | None:
    """Where the (unmasked, server) frame starting at `position` ends, if it is complete."""
    if len(data) - position < 2:
        return None
    size, header = data[position + 1] & 0x7F, 2
    if size == 126:
        size, header = int.from_bytes(data[position + 2 : position + 4], "big"), 4
    elif size == 127:
        size, header = int.from_bytes(data[position + 2 : position + 10], "big"), 10
    end = position + header + size
    return end if end <= len(data) else None


class Proxy:
    """A TCP proxy in front of a server: `cut()` drops every connection through it (as a
    network failure would); `hold()` stops passing the server's bytes (replies lost on the
    way); with `cut_after_ready` set, the next connection made with since= is dropped right
    after its connection:ready frame reaches the client."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.requests: list[str] = []
        self.holding = False
        self.cut_after_ready = False
        self._scopes: set[trio.CancelScope] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    def hold(self) -> None:
        self.holding = True

    def cut(self) -> None:
        self.holding = False
        for scope in list(self._scopes):
            scope.cancel()

    async def _handle(self, client: trio.SocketStream) -> None:
        upstream: trio.SocketStream | None = None
        with trio.CancelScope() as scope:
            self._scopes.add(scope)
            try:
                upstream = await trio.open_tcp_stream("127.0.0.1", self.target_port)
                head = await client.receive_some(65536)
                line = head.split(b"\r\n", 1)[0].decode("latin1")
                self.requests.append(line)
                await upstream.send_all(head)
                cut_here = self.cut_after_ready and "since=" in line
                if cut_here:
                    self.cut_after_ready = False
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._up, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(self._down, upstream, client, cut_here, nursery.cancel_scope)
            except OSError:
                pass
            finally:
                self._scopes.discard(scope)
        await trio.aclose_forcefully(client)
        if upstream is not None:
            await trio.aclose_forcefully(upstream)

    async def _up(self, source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
        try:
            while data := await source.receive_some(65536):
                await sink.send_all(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()

    async def _down(
        self,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        cut_after_ready: bool,
        done: trio.CancelScope,
    ) -> None:
        buffered, head_done = b"", False
        try:
            while data := await source.receive_some(65536):
                if self.holding:
                    continue
                if not cut_after_ready:
                    await sink.send_all(data)
                    continue
                buffered += data
                if not head_done:
                    if b"\r\n\r\n" not in buffered:
                        continue
                    head, _, buffered = buffered.partition(b"\r\n\r\n")
                    await sink.send_all(head + b"\r\n\r\n")
                    head_done = True
                position = 0
                while (end := _frame_end(buffered, position)) is not None:
                    ready = b'"connection:ready"' in buffered[position:end]
                    position = end
                    if ready:
                        await sink.send_all(buffered[:position])
                        await trio.sleep(0.3)  # the client reads it
                        done.cancel()  # nothing after connection:ready reaches the client
                        return
                await sink.send_all(buffered[:position])
                buffered = buffered[position:]
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        done.cancel()


async def start_proxy(nursery: trio.Nursery, target_url: str) -> Proxy:
    proxy = Proxy(int(target_url.rsplit(":", 1)[1]))
    await nursery.start(proxy.serve)
    return proxy


async def seed(url: str) -> None:
    async with open_client(url, token("root", admin=True)) as admin:
        await admin.upsert_users([p.UserIn("alice", firstName="Alice"), p.UserIn("bob"), p.UserIn("carol")])
        await admin.upsert_rooms([p.RoomIn("lobby", networkId="net1", title="Lobby")])


def invite_bob(subject: str, day: int = 0) -> p.CreateMeeting:
    start = MARCH_4 + timedelta(days=day)
    return p.CreateMeeting("room", ["lobby"], subject, start, start + HOUR, invitedUserIds=["bob"])


async def meeting_subjects(client: MeetingsClient, count: int) -> list[str]:
    """The subjects of the next `count` onMeetingCreated events the application sees (10 s)."""
    subjects: list[str] = []
    with trio.move_on_after(10):
        async for event in client.events():
            if event.name == "meeting:onMeetingCreated":
                assert isinstance(event.data, MeetingEvent)
                subjects.append(event.data.meeting.subject)
                if len(subjects) == count:
                    break
    return subjects


# --- typed replies ------------------------------------------------------------------------


async def test_a_listed_meeting_tells_bob_his_own_status_through_the_typed_client(
    start_server: StartServer,
) -> None:
    """meeting-api.txt, listUserMeetings' response: each meeting has "userId" and "status",
    the caller's own (protocol.replies.ListedMeeting)."""
    server = await start_server()
    await seed(server.url)
    async with open_client(server.url, token("alice")) as alice, open_client(server.url, token("bob")) as bob:
        created = await alice.create_meeting(invite_bob("Status"))
        async with connect(server.url, token("bob")) as raw:
            wire = await raw.call(
                "meeting:listUserMeetings",
                {"startDate": "2030-03-04T00:00:00Z", "endDate": "2030-03-05T00:00:00Z"},
            )
        assert (wire["meetings"][0]["userId"], wire["meetings"][0]["status"]) == ("bob", "received")
        listed = await bob.list_user_meetings(p.ListUserMeetings(MARCH_4 - HOUR, MARCH_4 + HOUR))
        (meeting,) = listed.meetings
        assert meeting.meetingId == created.meetingId
        typed = msgspec.to_builtins(meeting)
        assert (typed.get("userId"), typed.get("status")) == ("bob", "received"), sorted(typed)


# --- reconnection ---------------------------------------------------------------------------


async def test_bob_who_has_no_event_yet_still_gets_what_happened_while_he_was_away(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    """contract 1: connection:ready carries lastEventId "so that even a client that has seen
    no event yet can recover later": the client resumes with `since=` (empty: everything
    retained), not without since."""
    server = await start_server()
    await seed(server.url)
    proxy = await start_proxy(nursery, server.url)
    async with open_client(server.url, token("alice")) as alice, open_client(proxy.url, token("bob")) as bob:
        proxy.cut()
        with trio.fail_after(10):
            await bob.wait_disconnected()
        await alice.create_meeting(invite_bob("While away"))
        assert await meeting_subjects(bob, 1) == ["While away"], proxy.requests


async def test_a_drop_right_after_ready_on_a_resumed_connection_loses_no_replayed_event(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    """contract 6: "in order and without gaps". On a resumed connection ready's event.id is
    the user's newest id and the replay follows it: the client must not take that id as
    the last one seen, or a drop right after ready skips the replay."""
    server = await start_server()
    await seed(server.url)
    proxy = await start_proxy(nursery, server.url)
    async with open_client(server.url, token("alice")) as alice, open_client(proxy.url, token("bob")) as bob:
        await alice.create_meeting(invite_bob("Before"))
        assert await meeting_subjects(bob, 1) == ["Before"]
        proxy.cut()
        with trio.fail_after(10):
            await bob.wait_disconnected()
        proxy.cut_after_ready = True  # the resumed connection drops right after its ready
        await alice.create_meeting(invite_bob("Away 1", 1))
        await alice.create_meeting(invite_bob("Away 2", 2))
        assert await meeting_subjects(bob, 2) == ["Away 1", "Away 2"], proxy.requests


async def test_a_request_cut_off_by_a_drop_is_resent_and_applied_once(
    start_server: StartServer, nursery: trio.Nursery
) -> None:
    """README: "a request cut off by a drop is resent with the same event.id, so it applies
    once": the first answer is lost on the way, the connection dropped, and the resend
    gets the first answer."""
    server = await start_server()
    await seed(server.url)
    proxy = await start_proxy(nursery, server.url)
    async with (
        open_client(server.url, token("bob")) as watcher,
        open_client(proxy.url, token("alice")) as alice,
    ):
        proxy.hold()  # the server's answer is lost on the way
        result: list[Any] = []

        async def create() -> None:
            result.append(await alice.create_meeting(invite_bob("Exactly once")))

        nursery.start_soon(create)
        assert await meeting_subjects(watcher, 1) == ["Exactly once"]  # the server applied it
        proxy.cut()
        with trio.fail_after(10):
            while not result:  # noqa: ASYNC110 (the resend goes on in the client's task)
                await trio.sleep(0.05)
        listed = await alice.list_user_meetings(p.ListUserMeetings(MARCH_4 - HOUR, MARCH_4 + HOUR))
        assert [m.meetingId for m in listed.meetings] == [result[0].meetingId]
        assert alice.reconnects >= 1


async def test_a_legacy_twin_arriving_after_a_later_event_does_not_take_since_back() -> None:
    """On a legacy=1 connection the deprecated twin of an event may come after a later
    event (transport/session.py derives them in a task of their own): E1, E2, legacy(E1)
    must leave `since` at E2 (contract 6: "no duplicates")."""
    requests: list[str] = []

    def push(endpoint: str, event_id: str, data: dict[str, Any]) -> str:
        error = {"status": False, "code": 0, "message": ""}
        return msgspec.json.encode(
            {
                "endpoint": endpoint,
                "event": {"id": event_id, "date": "2030-01-01T00:00:00Z"},
                "data": data,
                "error": error,
            }
        ).decode()

    async def handler(request: WebSocketRequest) -> None:
        requests.append(request.path)
        ws = await request.accept()
        await ws.send_message(push("connection:ready", "1000-0", {"lastEventId": "1000-0"}))
        if len(requests) == 1:
            await ws.send_message(push("meeting:onMeetingDeleted", "1001-0", {"meetingId": "m1"}))
            await ws.send_message(push("meeting:onMeetingDeleted", "1002-0", {"meetingId": "m2"}))
            await ws.send_message(push("meeting:meetingDeleted", "1001-0", {"meetingId": "m1"}))
            await ws.aclose(1001, "server shutting down")
        else:
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", 0, ssl_context=None))
        url = f"ws://127.0.0.1:{server.port}"
        async with open_client(url, token("bob"), legacy=True, events=False):
            with trio.fail_after(10):
                while len(requests) < 2:  # noqa: ASYNC110 (the client reconnects by itself)
                    await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert "since=1002-0" in requests[1], requests


async def test_with_a_fixed_token_that_expires_the_block_ends_with_the_401(start_server: StartServer) -> None:
    """open_client: "A handshake refused with 400, 401 or 403 after a drop ends the block
    with that error", as it is (not inside an exception group): a fixed token closed with
    4001 is refused with 401 at the reconnection."""
    from trio_websocket import ConnectionRejected

    server = await start_server()
    await seed(server.url)

    # 24 s past exp: inside the leeway, closed about 6 s later (a loaded machine may take
    # seconds to connect: refused at once, trio-websocket 0.12 leaves the socket unclosed)
    expiring = token("alice", ttl=-24)
    with trio.fail_after(20), pytest.raises(ConnectionRejected) as refused:
        async with open_client(server.url, expiring):
            await trio.sleep_forever()
    assert refused.value.status_code == 401
    # Now: the server's tasks (its readiness probe among them) allocate while it stops, and
    # a collection then would find the refused client's socket, failing this test.
    collect_dropped_client_sockets()


async def test_leaving_the_typed_client_block_closes_the_websocket_cleanly(
    start_server: StartServer, captured_logs: Any
) -> None:
    """Leaving `async with open_client(...)` closes with the close handshake (RFC 6455
    7.1.2): the server logs code 1000, not a peer that went without a close frame."""
    server = await start_server()
    await seed(server.url)
    async with open_client(server.url, token("alice")) as alice:
        await alice.list_user_meetings(p.ListUserMeetings(MARCH_4, MARCH_4 + HOUR))
    with trio.fail_after(5):
        while "closed user=alice" not in captured_logs.getvalue():  # noqa: ASYNC110 (a log line)
            await trio.sleep(0.05)
    closed = [line for line in captured_logs.getvalue().splitlines() if "closed user=alice" in line]
    assert "code=1000" in closed[0], closed
