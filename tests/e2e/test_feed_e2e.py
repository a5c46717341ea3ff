"""Calendar feeds as a new user meets them (contract 11): the URL from the typed client, the
same from a second instance, fetched over the real HTTP port, read by `icalendar` and
expanded by `recurring-ical-events` to the same meetings, at the same instants, as the
websocket API lists; after a reset the old URL is dead on both instances."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import icalendar
import pytest
import recurring_ical_events
import trio

from roomful_meetings.client import open_client
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service.feeds import token_hash
from roomful_meetings.storage.embedded import free_port
from roomful_meetings.storage.keys import Keys
from tests.conftest import ServerHandle, StartServer, token
from tests.e2e.world import redis_of


async def http(url: str, method: str = "GET", extra: str = "") -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port)
    async with stream:
        head = f"{method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{extra}\r\n"
        await stream.send_all(head.encode())
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


async def http_get(url: str) -> tuple[int, bytes]:
    status, _, body = await http(url)
    return status, body


async def test_a_user_subscribes_sees_the_api_meetings_and_a_reset_kills_the_old_url(
    start_server: StartServer,
) -> None:
    ports = free_port(), free_port()
    # Behind one public address (a load balancer): here, the first instance's HTTP port.
    base = f"http://127.0.0.1:{ports[0]}"
    first = await start_server(http_port=ports[0], public_base_url=base)
    second = await start_server(http_port=ports[1], public_base_url=base)
    async with open_client(first.url, token("root", admin=True)) as admin:
        await admin.upsert_users([p.UserIn("alice", firstName="Alice"), p.UserIn("bob", email="bob@x.test")])
        await admin.upsert_rooms([p.RoomIn("lobby", title="Lobby")])
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    async with (
        open_client(first.url, token("alice"), events=False) as alice,
        open_client(first.url, token("bob"), events=False) as bob,
        open_client(second.url, token("bob"), events=False) as bob_elsewhere,
    ):
        await alice.create_meeting(
            p.CreateMeeting(
                "room", ["lobby"], "One-off", start, start + timedelta(hours=1), invitedUserIds=["bob"]
            )
        )
        await alice.create_meeting(
            p.CreateMeeting(
                "room",
                ["lobby"],
                "Weekly",
                start + timedelta(hours=2),
                start + timedelta(hours=2, minutes=30),
                invitedUserIds=["bob"],
                recurrence=p.RecurrenceIn("FREQ=WEEKLY;COUNT=20", "America/New_York"),
            )
        )
        url = await bob.get_calendar_feed()
        assert await bob_elsewhere.get_calendar_feed() == url
        status, body = await http_get(url)
        assert status == 200
        low, high = start - timedelta(days=1), start + timedelta(days=180)
        shown = sorted(
            (e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC), str(e["SUMMARY"]))
            for e in recurring_ical_events.of(icalendar.Calendar.from_ical(body)).between(low, high)
        )
        listed = await bob.list_user_meetings(p.ListUserMeetings(startDate=low, endDate=high))
        assert shown == sorted(
            (datetime.fromisoformat(m.startDate), datetime.fromisoformat(m.endDate), m.subject)
            for m in listed.meetings
        )
        assert len(shown) == 21
        fresh = await bob_elsewhere.reset_calendar_feed()
        assert fresh != url
        for instance in (first, second):
            port = urlsplit(
                instance.settings.public_base_url or f"http://127.0.0.1:{instance.settings.http_port}"
            ).port
            old = url.replace(str(urlsplit(url).port), str(port))
            new = fresh.replace(str(urlsplit(fresh).port), str(port))
            assert (await http_get(old))[0] == 404
            assert (await http_get(new))[0] == 200


async def test_a_storage_error_that_is_no_outage_is_a_logged_500_not_a_503(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 says "retry later"; a wrong key type (a bug, or someone else's write) will not
    pass by retrying, and must be seen in the logs."""
    port = free_port()
    server = await start_server(http_port=port)
    async with open_client(server.url, token("alice"), events=False) as alice:
        url = await alice.get_calendar_feed()
    feed_token = url.rpartition("/")[2].removesuffix(".ics")
    key = Keys(server.settings.key_prefix).feed_token(token_hash(feed_token))
    async with redis_of(server) as redis:
        await redis.execute("DEL", key)
        await redis.execute("LPUSH", key, "not a token record")
    status, body = await http_get(url)
    assert status == 500 and body.startswith(b"error id ")
    assert "WRONGTYPE" in caplog.text


@pytest.fixture
async def with_feeds(start_server: StartServer) -> ServerHandle:
    """An instance with its HTTP port, alice (with an email), bob and a room."""
    port = free_port()
    handle = await start_server(http_port=port, public_base_url=f"http://127.0.0.1:{port}")
    async with open_client(handle.url, token("root", admin=True)) as admin:
        await admin.upsert_users(
            [p.UserIn("alice", firstName="Alice", email="alice@x.test"), p.UserIn("bob")]
        )
        await admin.upsert_rooms([p.RoomIn("lobby", title="Lobby")])
    return handle


async def test_an_email_with_a_line_break_cannot_inject_events_into_colleagues_feeds(
    with_feeds: ServerHandle,
) -> None:
    """Bob's feed and invitation show the meeting he was invited to, and nothing else, even
    when a fellow invitee's email holds line breaks: eve's token claims one (ignored on
    connect, as a zone that is none), and mallory's was stored before emails were checked
    (written as her user id)."""
    injected = (
        "eve@x.test\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:x@evil\r\nDTSTAMP:20260101T000000Z\r\n"
        "SUMMARY:Pay invoice\r\nDTSTART:20261210T100000Z"
    )
    async with open_client(with_feeds.url, token("eve", email="eve@x.test"), events=False):
        pass  # eve's directory email
    async with open_client(with_feeds.url, token("eve", email=injected), events=False):
        pass  # the claim would replace it on connect
    async with open_client(with_feeds.url, token("mallory"), events=False):
        pass
    async with redis_of(with_feeds) as redis:
        user = Keys(with_feeds.settings.key_prefix).user("mallory")
        await redis.execute("HSET", user, "email", injected.replace("eve", "mallory"))
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    async with (
        open_client(with_feeds.url, token("alice"), events=False) as alice,
        open_client(with_feeds.url, token("bob"), events=False) as bob,
    ):
        made = await alice.create_meeting(
            p.CreateMeeting(
                "room",
                ["lobby"],
                "Sync",
                start,
                start + timedelta(hours=1),
                invitedUserIds=["bob", "eve", "mallory"],
            )
        )
        body = (await http_get(await bob.get_calendar_feed()))[1]
        invitation = (await bob.export_meeting(made.meetingId)).encode()
    for text in (body, invitation):
        (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert str(event["SUMMARY"]) == "Sync"
        assert b"UID:x@evil" not in text
        attendees = {str(a) for a in cast(list[Any], event["ATTENDEE"])}
        assert {"mailto:eve@x.test", "urn:roomful:mallory"} <= attendees


async def test_a_subject_pasted_from_a_word_processor_gives_valid_icalendar_text(
    with_feeds: ServerHandle,
) -> None:
    """Subjects and descriptions may hold control characters (a vertical tab is a line
    break pasted from Word, ESC comes from a terminal, NUL from anywhere); RFC 5545 allows
    none in a content line but the tab. The feed and the invitation show the text without
    them, a vertical tab as the line break it stands for."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    async with (
        open_client(with_feeds.url, token("alice"), events=False) as alice,
        open_client(with_feeds.url, token("bob", given_name="Bob\x1b[1m"), events=False) as bob,
    ):
        made = await alice.create_meeting(
            p.CreateMeeting(
                "room", ["lobby"], "Agenda\x0bBudget", start, start + timedelta(hours=1),
                description="see \x1b[1mnotes\x1b[0m\x00\tnow", invitedUserIds=["bob"],
            )
        )  # fmt: skip
        body = (await http_get(await bob.get_calendar_feed()))[1]
        invitation = (await bob.export_meeting(made.meetingId)).encode()
    for text in (body, invitation):
        assert not [line for line in text.split(b"\r\n") if re.search(rb"[\x00-\x08\x0a-\x1f\x7f]", line)]
        (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
        assert str(event["SUMMARY"]) == "Agenda\nBudget"
        assert str(event["DESCRIPTION"]) == "see [1mnotes[0m\tnow"


def series_vevent(body: bytes) -> Any:
    """The series' own VEVENT (its values typed loosely, as icalendar reads them)."""
    (master,) = [e for e in icalendar.Calendar.from_ical(body).walk("VEVENT") if "RECURRENCE-ID" not in e]
    return master


async def test_cancelling_an_instance_moves_the_series_sequence_and_last_modified(
    with_feeds: ServerHandle,
) -> None:
    """Cancelling one instance adds an EXDATE to the series' VEVENT: a revision of its
    recurrence set. RFC 5545 3.8.7.4 says SEQUENCE MUST be incremented when EXDATE changes
    (and 3.8.7.3: LAST-MODIFIED is when the component was last revised); contract 11 says
    SEQUENCE grows with each change of time or rule. Calendar apps that keep an event until
    its SEQUENCE / LAST-MODIFIED moves keep showing the cancelled instance."""
    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=2)
    async with (
        open_client(with_feeds.url, token("alice"), events=False) as alice,
        open_client(with_feeds.url, token("bob"), events=False) as bob,
    ):
        made = await alice.create_meeting(
            p.CreateMeeting(
                "room", ["lobby"], "Daily", day, day + timedelta(hours=1), invitedUserIds=["bob"],
                recurrence=p.RecurrenceIn("FREQ=DAILY;COUNT=5", "Europe/London"),
            )
        )  # fmt: skip
        url = await bob.get_calendar_feed()
        status, _, before_body = await http(url)
        assert status == 200
        before = series_vevent(before_body)
        assert "EXDATE" not in before
        await trio.sleep(1.1)  # SEQUENCE counts whole seconds (docs/protocol.md)
        await alice.cancel_instance(alice.instance_id(made.meetingId, day + timedelta(days=1)))
        status, _, after_body = await http(url)
        assert status == 200
        after = series_vevent(after_body)
        assert [d.dt for d in after["EXDATE"].dts] == [day + timedelta(days=1)]  # the content did change
        assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
        assert after["LAST-MODIFIED"].dt > before["LAST-MODIFIED"].dt


async def test_a_304_does_not_announce_an_empty_body(with_feeds: ServerHandle) -> None:
    """RFC 9110 8.6: a server MUST NOT send Content-Length in a 304 unless it equals the
    length of the 200's content (a HEAD is answered right, with the GET's length); the
    feed's 304 says `Content-Length: 0` for a feed of hundreds of bytes."""
    day = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=2)
    async with open_client(with_feeds.url, token("alice"), events=False) as alice:
        await alice.create_meeting(p.CreateMeeting("room", ["lobby"], "Sync", day, day + timedelta(hours=1)))
        url = await alice.get_calendar_feed()
    status, headers, body = await http(url)
    assert status == 200 and int(headers["content-length"]) == len(body) > 0
    status, not_modified, rest = await http(url, extra=f"If-None-Match: {headers['etag']}\r\n")
    assert status == 304 and rest == b""
    assert not_modified.get("content-length", headers["content-length"]) == headers["content-length"]
