"""Logs: one request can be followed by its id, and no token is ever written."""

from __future__ import annotations

import io
import logging
import re

import pytest
import trio

from roomful_meetings import logs
from roomful_meetings.client import connect
from roomful_meetings.service.registry import ENDPOINTS, Endpoint
from tests.conftest import token
from tests.e2e.world import meeting, seed


@pytest.fixture
def captured_logs():  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    handler = logs.configure("debug", stream)
    before = logging.getLogger().level
    yield stream
    logging.getLogger().removeHandler(handler)
    logging.getLogger().setLevel(before)


@pytest.fixture
def broken_endpoint():  # type: ignore[no-untyped-def]
    async def broken(services, caller, data):  # type: ignore[no-untyped-def]
        raise RuntimeError("a bug")

    original = ENDPOINTS["meeting:getMeeting"]
    ENDPOINTS["meeting:getMeeting"] = Endpoint(
        original.name, original.payload, broken, original.admin, original.changes, original.decoder
    )
    yield
    ENDPOINTS["meeting:getMeeting"] = original


async def test_an_operator_can_follow_one_request_and_find_a_500_by_its_error_id(
    captured_logs, start_server, broken_endpoint
) -> None:  # type: ignore[no-untyped-def]
    server = await start_server()
    await seed(server)
    secret_token = token("alice")
    async with connect(server.url, secret_token) as alice:
        await alice.call("meeting:createMeeting", meeting(invited=["bob"]))
        reply = await alice.request("meeting:getMeeting", {"meetingId": "m1"})
    error_id = re.search(r"error id ([\w-]+)", reply.error.message).group(1)  # type: ignore[union-attr]
    for _ in range(200):  # the server logs the close once it has seen it
        if "closed user=alice" in captured_logs.getvalue():
            break
        await trio.sleep(0.01)
    lines = captured_logs.getvalue().splitlines()
    connected = next(line for line in lines if "connected user=alice" in line)
    conn = re.search(r" conn=(\w+) ", connected).group(1)  # type: ignore[union-attr]
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
