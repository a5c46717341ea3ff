"""The envelope and error codes (contract sections 2 and 3)."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

from roomful_meetings.client import connect
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import close_code
from tests.wsraw import open_ws as open_raw_ws


def open_as(
    server: ServerHandle, user: str = "alice", admin: bool = False
) -> AbstractAsyncContextManager[WebSocketConnection]:
    return open_raw_ws(server.url, [(b"authorization", f"Bearer {token(user, admin=admin)}".encode())])


async def ask(ws: WebSocketConnection, frame: str) -> dict[str, Any]:
    await ws.send_message(frame)
    answer: dict[str, Any] = json.loads(await ws.get_message())
    return answer


async def test_event_is_echoed_unchanged_and_success_has_no_error(server: ServerHandle) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        frame = (
            '{"endpoint":"meeting:getMeeting","data":{"meetingId":"nope"},'
            '"event":{"id":"c-42","date":"2026-11-23T10:00:00Z","x":[1,2]}}'
        )
        reply = await ask(ws, frame)
        assert reply["event"] == {"id": "c-42", "date": "2026-11-23T10:00:00Z", "x": [1, 2]}
        assert reply["endpoint"] == "meeting:getMeeting"
        assert reply["error"]["status"] is True and reply["error"]["code"] == 404
        assert "nope" in reply["error"]["message"]


async def test_request_without_event_is_answered_with_null_event(server: ServerHandle) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        reply = await ask(ws, '{"endpoint":"meeting:getMeeting","data":{"meetingId":"x"}}')
        assert reply["event"] is None and reply["error"]["code"] == 404


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        ("[1,2,3]", "JSON object"),
        ("42", "JSON object"),
        ('"text"', "JSON object"),
        ("{not json", "not valid JSON"),
        ('{"data":{}}', "endpoint"),
        ('{"endpoint":7}', "endpoint"),
        ('{"endpoint":"meeting:getMeeting","data":{"meetingId":5}}', "data.meetingId"),
        ('{"endpoint":"meeting:getMeeting","data":{}}', "meetingId"),
        ('{"endpoint":"meeting:getMeeting","data":{"meetingId":"a","extra":1}}', "extra"),
        ('{"endpoint":"meeting:getMeeting","data":[]}', "data"),
        ('{"endpoint":"meeting:getMeeting","data":{"meetingId":"x"},"event":5}', "event"),
        # Nested 1000 deep (issue 13): msgspec's RecursionError used to drop the connection.
        ('{"endpoint":"meeting:getMeeting","data":' + "[" * 1000 + "]" * 1000 + "}", "levels deep"),
        (
            '{"endpoint":"meeting:getMeeting","data":{"meetingId":"x"},"event":'
            + '{"a":' * 1000
            + "1"
            + "}" * 1001,
            "levels deep",
        ),
        (
            '{"endpoint":"admin:upsertRooms","data":{"rooms":[{"id":"r","thumbnail":{"customParams":{"x":'
            + "[" * 999
            + "]" * 999
            + "}}}]}}",
            "levels deep",
        ),
    ],
)
async def test_malformed_frames_get_400_and_the_connection_stays_open(
    server: ServerHandle, frame: str, needle: str
) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        reply = await ask(ws, frame)
        assert reply["error"]["status"] is True
        assert reply["error"]["code"] == 400, reply
        assert needle in reply["error"]["message"]
        assert reply["data"] is None
        again = await ask(ws, '{"endpoint":"meeting:getMeeting","data":{"meetingId":"m"},"event":{"id":"2"}}')
        assert again["error"]["code"] == 404 and again["event"] == {"id": "2"}


async def test_echo_survives_a_bad_data_field(server: ServerHandle) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        reply = await ask(ws, '{"endpoint":"meeting:getMeeting","data":{"meetingId":1},"event":{"id":"e1"}}')
        assert reply["event"] == {"id": "e1"} and reply["endpoint"] == "meeting:getMeeting"


async def test_unknown_endpoint_is_404(server: ServerHandle) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        reply = await ask(ws, '{"endpoint":"meeting:teleport","data":{},"event":{"id":"1"}}')
        assert reply["error"]["code"] == 404 and "meeting:teleport" in reply["error"]["message"]


async def test_admin_endpoints_need_the_admin_role(server: ServerHandle) -> None:
    frame = '{"endpoint":"admin:upsertRooms","data":{"rooms":[{"id":"r1"}]},"event":{"id":"1"}}'
    async with open_as(server) as ws:
        await ws.get_message()
        assert (await ask(ws, frame))["error"]["code"] == 403
        shape = await ask(ws, '{"endpoint":"admin:upsertRooms","data":{"rooms":"x"}}')
        assert shape["error"]["code"] == 400  # shape is checked before permission
    async with open_as(server, "root", admin=True) as ws:
        await ws.get_message()
        reply = await ask(ws, frame)
        assert reply["error"] == {"status": False, "code": 0, "message": ""} and reply["data"] == {}


async def test_binary_frame_closes_with_1003(server: ServerHandle) -> None:
    async with open_as(server) as ws:
        await ws.get_message()
        await ws.send_message(b'{"endpoint":"meeting:getMeeting"}')
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert close_code(closed.value) == 1003


async def test_frame_over_the_limit_closes_with_1009(start_server: StartServer) -> None:
    server = await start_server(max_frame_bytes=4096)
    async with open_as(server) as ws:
        await ws.get_message()
        big = json.dumps({"endpoint": "meeting:getMeeting", "data": {"meetingId": "x" * 5000}})
        await ws.send_message(big)
        with trio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await ws.get_message()
        assert close_code(closed.value) == 1009


async def test_request_rate_above_the_limit_gets_429(start_server: StartServer) -> None:
    server = await start_server(rate_per_second=1, rate_burst=3)
    async with open_as(server) as ws:
        await ws.get_message()
        for i in range(5):
            await ws.send_message(
                json.dumps(
                    {"endpoint": "meeting:getMeeting", "data": {"meetingId": "m"}, "event": {"id": str(i)}}
                )
            )
        codes = {}
        for _ in range(5):
            reply = json.loads(await ws.get_message())
            codes[reply["event"]["id"]] = reply["error"]["code"]
        assert sorted(codes.values()) == [404, 404, 404, 429, 429]


async def test_non_admin_with_a_malformed_event_id_gets_400_before_403(server: ServerHandle) -> None:
    async with connect(server.url, token("alice")) as alice:
        too_long = "x" * 300  # a changing request's event.id is at most 256 characters
        reply = await alice.request("meeting:deleteMeeting", {"meetingId": "m1"}, event_id=too_long)
        assert reply.error.code == 400  # the shape of event.id is checked for any change
        reply = await alice.request("admin:deleteRoom", {"roomId": "lobby"}, event_id=too_long)
        assert reply.error.code == 400, reply.error
        assert "event.id" in reply.error.message
