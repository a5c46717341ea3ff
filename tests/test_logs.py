"""Logs: one request can be followed by its id, and no token is ever written."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import pytest
import trio

from roomful_meetings import logs
from roomful_meetings.client import connect
from roomful_meetings.service.context import Caller, Services
from tests.conftest import StartServer, token
from tests.e2e.world import meeting, seed
from tests.endpoints import installed


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logs.configure("debug", stream)
    before = logging.getLogger().level
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(before)


@pytest.fixture
def broken_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def broken(services: Services, caller: Caller, data: object) -> None:
        raise RuntimeError("a bug")

    with installed(monkeypatch, "meeting:getMeeting", broken):
        yield


async def test_an_operator_can_follow_one_request_and_find_a_500_by_its_error_id(
    captured_logs: io.StringIO, start_server: StartServer, broken_endpoint: None
) -> None:
    server = await start_server()
    await seed(server)
    secret_token = token("alice")
    async with connect(server.url, secret_token) as alice:
        await alice.call("meeting:createMeeting", meeting(invited=["bob"]))
        reply = await alice.request("meeting:getMeeting", {"meetingId": "m1"})
    assert reply.error is not None
    found = re.search(r"error id ([\w-]+)", reply.error.message)
    assert found is not None
    error_id = found.group(1)
    for _ in range(200):  # the server logs the close once it has seen it
        if "closed user=alice" in captured_logs.getvalue():
            break
        await trio.sleep(0.01)
    lines = captured_logs.getvalue().splitlines()
    connected = next(line for line in lines if "connected user=alice" in line)
    conn_match = re.search(r" conn=(\w+) ", connected)
    assert conn_match is not None
    conn = conn_match.group(1)
    assert error_id.startswith(conn + "-")
    about_it = [line for line in lines if f" req={error_id} " in line]
    assert any("unhandled error" in line and "a bug" in captured_logs.getvalue() for line in about_it)
    assert any("request endpoint=meeting:getMeeting" in line and "code=500" in line for line in about_it)
    created = [line for line in lines if "request endpoint=meeting:createMeeting" in line]
    assert len(created) == 1 and f" conn={conn} " in created[0] and " req=-" not in created[0]
    # the client's own clean close, as the server saw it
    assert any(f" conn={conn} " in line and "closed user=alice code=1000" in line for line in lines)
    assert secret_token not in captured_logs.getvalue()
    assert secret_token.split(".")[2] not in captured_logs.getvalue()  # not even the signature
