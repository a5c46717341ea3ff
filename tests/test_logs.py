"""Logs: one request can be followed by its id, and no token is ever written."""

from __future__ import annotations

import io
import json
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
from tests.logfmt import parse_logfmt
from tests.wsraw import open_raw


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


FIELDS = ["ts", "level", "logger", "conn", "req", "msg"]
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def a_session_with_the_token_in_the_query(server_url: str) -> str:
    """Connect with ?token= (the form proxies log) and hang up; also try a forged token the
    same way. Raw sockets, so that only the server logs. Returns the good token."""
    secret_token = token("alice")
    forged = token("mallory")[:-4] + "AAAA"
    stream, status, _ = await open_raw(f"{server_url}/?token={forged}")
    await stream.aclose()
    assert status == 401
    stream, status, _ = await open_raw(f"{server_url}/?token={secret_token}&since=")
    await stream.aclose()
    assert status == 101
    return secret_token


async def wait_logged(stream: io.StringIO, words: str) -> None:
    """Until the server has logged `words` (it logs a close once it has seen it)."""
    while words not in stream.getvalue():  # noqa: ASYNC110 (a log has no event to wait on)
        await trio.sleep(0.01)


async def test_every_line_is_logfmt_with_the_peer_and_never_the_token(
    captured_logs: io.StringIO, start_server: StartServer
) -> None:
    server = await start_server()
    secret_token = await a_session_with_the_token_in_the_query(server.url)
    with trio.fail_after(10):
        await wait_logged(captured_logs, "closed user=alice")
    assert "refused: invalid token" in captured_logs.getvalue()
    records = [parse_logfmt(line) for line in captured_logs.getvalue().splitlines()]
    assert records and all(list(record)[:6] == FIELDS for record in records)
    assert all(RFC3339_UTC.fullmatch(record["ts"]) for record in records)
    (connected,) = [r["msg"] for r in records if r["msg"].startswith("connected user=alice ")]
    assert re.search(r" peer=127\.0\.0\.1:\d+ ", connected), connected
    for secret_part in (secret_token, secret_token.split(".")[2], "token="):
        assert secret_part not in captured_logs.getvalue()


async def test_json_logs_are_one_object_per_line(start_server: StartServer) -> None:
    stream = io.StringIO()
    handler = logs.configure("debug", stream, log_format="json")
    try:
        server = await start_server()
        secret_token = await a_session_with_the_token_in_the_query(server.url)
        with trio.fail_after(10):
            await wait_logged(stream, "closed user=alice")
    finally:
        logging.getLogger().removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records and all(list(record)[:6] == FIELDS for record in records)
    assert any(r["msg"].startswith("connected user=alice peer=127.0.0.1:") for r in records)
    assert secret_token.split(".")[2] not in stream.getvalue()


@pytest.mark.parametrize(
    "message", ["plain", "two words", 'say "hi"', "a=b", "back\\slash", "line\nbreak\t\x01", ""]
)
def test_a_logfmt_value_reads_back_as_it_was_written(message: str) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.LogfmtFormatter())
    record = logging.LogRecord("roomful_meetings.x", logging.INFO, __file__, 1, message, None, None)
    line = handler.format(record)
    assert "\n" not in line and parse_logfmt(line)["msg"] == message
