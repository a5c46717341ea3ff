"""GET / HEAD /calendar/<token>.ics on a real HTTP listener (contract 11): the answer's
headers, ETag and 304, HEAD, 404 for unknown tokens, 429 with Retry-After, and the limits of
the listener itself (an oversized or incomplete request, connections held at once)."""

from __future__ import annotations

import functools
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import icalendar
import msgspec
import pytest
import trio

from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import feeds, meetings
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.transport.calendar import FeedLimiter
from roomful_meetings.transport.http import MAX_REQUEST, serve_http
from tests.service.conftest import open_services

NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)

Reply = tuple[int, dict[str, str], bytes]


@pytest.fixture
async def services(redis_server: RedisProcess, prefix: str) -> AsyncIterator[Services]:
    async with open_services(redis_server, prefix) as opened:
        yield replace(opened, settings=replace(opened.settings, public_base_url="https://meet.example"))


async def serve(nursery: trio.Nursery, services: Services, limiter: FeedLimiter | None = None) -> int:
    render = functools.partial(feeds.render_feed, services, now=NOW.timestamp())
    port: int = await nursery.start(
        functools.partial(serve_http, render=render, limiter=limiter), "127.0.0.1", 0, lambda: None
    )
    return port


async def request(port: int, raw: bytes) -> Reply:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(raw)
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status.split()[1]), headers, body


def get(path: str, method: str = "GET", *extra: str) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{h}\r\n" for h in extra) + "\r\n").encode()


async def feed_path(services: Services) -> str:
    await services.catalog.upsert_users([p.UserIn(id="alice"), p.UserIn(id="bob")])
    data = {
        "sourceType": "direct",
        "sourceIds": ["bob"],
        "subject": "Chat",
        "startDate": datetime(2031, 3, 3, 9, tzinfo=UTC),
        "endDate": datetime(2031, 3, 3, 10, tzinfo=UTC),
    }
    await meetings.create_meeting(services, Caller("alice"), msgspec.convert(data, p.CreateMeeting))
    url: str = (await feeds.get_calendar_feed(services, Caller("bob"), p.Empty())).url
    return url.removeprefix("https://meet.example")


async def test_a_feed_is_served_with_its_etag_and_answers_304_and_head(services: Services) -> None:
    path = await feed_path(services)
    async with trio.open_nursery() as nursery:
        port = await serve(nursery, services)
        status, headers, body = await request(port, get(path))
        assert status == 200 and headers["content-type"] == "text/calendar; charset=utf-8"
        assert int(headers["content-length"]) == len(body)
        (event,) = icalendar.Calendar.from_ical(body).walk("VEVENT")
        assert str(event["SUMMARY"]) == "Chat"
        tag = headers["etag"]
        assert (await request(port, get(path, "GET", f"If-None-Match: {tag}")))[:2][0] == 304
        assert (await request(port, get(path, "GET", f'If-None-Match: "other", W/{tag}')))[0] == 304
        assert (await request(port, get(path, "GET", 'If-None-Match: "other"')))[0] == 200
        status, head_headers, head_body = await request(port, get(path, "HEAD"))
        assert status == 200 and head_body == b"" and head_headers["etag"] == tag
        assert head_headers["content-length"] == headers["content-length"]
        nursery.cancel_scope.cancel()


async def test_unknown_and_malformed_tokens_are_404(services: Services) -> None:
    path = await feed_path(services)
    async with trio.open_nursery() as nursery:
        port = await serve(nursery, services)
        for wrong in (
            path.replace(".ics", "x.ics"),
            "/calendar/short.ics",
            path.removesuffix(".ics"),
            "/calendar/",
        ):
            assert (await request(port, get(wrong)))[0] == 404
        nursery.cancel_scope.cancel()


async def test_a_token_over_its_rate_gets_429_with_retry_after(services: Services) -> None:
    path = await feed_path(services)
    async with trio.open_nursery() as nursery:
        # No refill: the test cannot depend on how fast the machine is.
        port = await serve(nursery, services, FeedLimiter(rate=1e-6, burst=2))
        assert [(await request(port, get(path)))[0] for _ in range(2)] == [200, 200]
        status, headers, _ = await request(port, get(path))
        assert status == 429 and int(headers["retry-after"]) >= 1
        # another token has its own bucket
        assert (await request(port, get("/calendar/" + "A" * 43 + ".ics")))[0] == 404
        nursery.cancel_scope.cancel()


def test_the_bucket_refills_and_says_how_long_to_wait() -> None:
    limiter = FeedLimiter(rate=0.5, burst=1)
    assert limiter.retry_after("t", 100.0) == 0
    assert limiter.retry_after("t", 100.0) == 2
    assert limiter.retry_after("t", 102.0) == 0


async def test_the_listener_refuses_oversized_incomplete_and_other_methods(services: Services) -> None:
    async with trio.open_nursery() as nursery:
        port = await serve(nursery, services)
        line = b"GET /healthz HTTP/1.1\r\nX: "
        # exactly the limit, never completed: all of it is read, so the close is clean
        assert (await request(port, line + b"a" * (MAX_REQUEST - len(line))))[0] == 431
        assert (await request(port, b"POST /healthz HTTP/1.1\r\n\r\n"))[0] == 405
        assert (await request(port, get("/healthz", "HEAD")))[:1] == (200,)
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"GET /healthz HTTP/1.1\r\n")
            await stream.send_eof()
            assert (await stream.receive_some(100)).startswith(b"HTTP/1.1 400")
        nursery.cancel_scope.cancel()


async def test_connections_past_the_cap_are_answered_503_at_once_unread() -> None:
    # --max-http-connections: each connection may be held READ_TIMEOUT by a peer that sends
    # nothing; any number of them took every descriptor of the process.
    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(
            functools.partial(serve_http, max_connections=2), "127.0.0.1", 0, lambda: None
        )
        silent = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(2)]
        await trio.sleep(0.1)  # both accepted and held
        with trio.fail_after(1):  # at once, not after the 5 s the silent ones may take
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                answer = b""
                while chunk := await stream.receive_some(1024):
                    answer += chunk
        assert answer.startswith(b"HTTP/1.1 503 ") and answer.endswith(
            b"too many connections to this port; retry\n"
        )
        await silent[0].aclose()
        await trio.sleep(0.1)  # its slot is given back
        assert (await request(port, get("/healthz")))[0] == 200
        await silent[1].aclose()
        nursery.cancel_scope.cancel()


async def test_a_failing_feed_is_a_500_and_the_listener_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(token: str) -> feeds.FeedText | None:
        raise RuntimeError("a bug in the feed")

    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(
            functools.partial(serve_http, render=broken), "127.0.0.1", 0, lambda: None
        )
        status, _, body = await request(port, get("/calendar/" + "A" * 43 + ".ics"))
        assert status == 500 and body.startswith(b"error id ")
        assert (await request(port, get("/healthz")))[0] == 200
        nursery.cancel_scope.cancel()
    assert "a bug in the feed" in caplog.text


async def test_a_peer_that_resets_mid_request_stops_nothing(services: Services) -> None:
    async with trio.open_nursery() as nursery:
        port = await serve(nursery, services)
        for _ in range(3):
            sock = trio.socket.socket()
            await sock.connect(("127.0.0.1", port))
            await sock.send(b"GET /heal")  # half a request, then a reset (RST, not FIN)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        await trio.sleep(0.1)
        assert (await request(port, get("/healthz")))[0] == 200
        nursery.cancel_scope.cancel()


async def test_a_failing_head_is_a_500_without_a_body() -> None:
    async def broken(token: str) -> feeds.FeedText | None:
        raise RuntimeError("a bug in the feed")

    async with trio.open_nursery() as nursery:
        port: int = await nursery.start(
            functools.partial(serve_http, render=broken), "127.0.0.1", 0, lambda: None
        )
        status, headers, body = await request(port, get("/calendar/" + "A" * 43 + ".ics", "HEAD"))
        assert (status, body) == (500, b"") and int(headers["content-length"]) > 0
        nursery.cancel_scope.cancel()
