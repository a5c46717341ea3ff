"""A real consumer reads the feed (contract 11): a Radicale CalDAV server (from PyPI, part of
the test extra) takes the feed as one PUT of a calendar collection, then answers a CalDAV
REPORT (calendar-query with a time range and `expand`) with the instances it computes with
its own iCalendar stack (vobject + dateutil); they must be what listUserMeetings lists.

Radicale is a WSGI application: it is called in-process with plain WSGI environments (no
socket, no thread), on a storage folder under tmp_path.
"""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import icalendar
import pytest
import radicale.config
from radicale.app import Application

from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import feeds, meetings
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.embedded import RedisProcess
from tests.service.conftest import open_services
from tests.service.test_feeds import NOW, Shown, create, listed, props

CALDAV = "{urn:ietf:params:xml:ns:caldav}"
QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><C:calendar-data><C:expand start="{start}" end="{end}"/></C:calendar-data></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


class Radicale:
    def __init__(self, folder: Path) -> None:
        configuration = radicale.config.load()
        configuration.update(
            {
                "storage": {"filesystem_folder": str(folder)},
                "auth": {"type": "none"},
                "rights": {"type": "owner_only"},
            },
            "test",
            privileged=True,
        )
        self.app = Application(configuration)

    def call(self, method: str, path: str, body: bytes, **headers: str) -> tuple[int, bytes]:
        environ: dict[str, Any] = {}
        setup_testing_defaults(environ)
        environ.update(
            REQUEST_METHOD=method,
            PATH_INFO=path,
            CONTENT_LENGTH=str(len(body)),
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"bob:any").decode(),
            **headers,
        )
        environ["wsgi.input"] = io.BytesIO(body)
        status: list[str] = []

        def start_response(line: str, _headers: Iterable[tuple[str, str]], _exc: object = None) -> None:
            status.append(line)

        data = b"".join(self.app(environ, start_response))
        return int(status[0].split()[0]), data


@pytest.fixture
async def services(redis_server: RedisProcess, prefix: str) -> AsyncIterator[Services]:
    async with open_services(redis_server, prefix) as opened:
        await opened.catalog.upsert_users([p.UserIn(id="alice"), p.UserIn(id="bob", email="bob@x.test")])
        await opened.catalog.upsert_rooms([p.RoomIn(id="lobby", title="The Lobby")])
        yield replace(opened, settings=replace(opened.settings, public_base_url="https://meet.example"))


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def expanded(server: Radicale, start: datetime, end: datetime) -> Shown:
    query = QUERY.format(start=stamp(start), end=stamp(end)).encode()
    status, body = server.call("REPORT", "/bob/feed/", query, HTTP_DEPTH="1", CONTENT_TYPE="application/xml")
    assert status == 207, body
    out = []
    for data in ET.fromstring(body).iter(f"{CALDAV}calendar-data"):
        for component in icalendar.Calendar.from_ical(data.text or "").walk("VEVENT"):
            event = props(component)
            begins = event["DTSTART"].dt.astimezone(UTC)
            ends = event["DTEND"].dt.astimezone(UTC) if "DTEND" in event else begins + event["DURATION"].dt
            out.append((begins, ends, str(event["SUMMARY"])))
    return sorted(out)


async def test_radicale_takes_the_feed_and_expands_it_as_the_api_lists(
    services: Services, tmp_path: Path
) -> None:
    await create(
        services,
        Caller("alice"),
        subject="One-off",
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    weekly = await create(
        services,
        Caller("alice"),
        subject="Weekly",
        startDate=datetime(2031, 3, 4, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 4, 9, 30, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = weekly["meetingId"]
    await meetings.delete_meeting(
        services, Caller("alice"), p.DeleteMeeting(meetingId=f"{sid}_20310318T0900Z")
    )
    await meetings.update_meeting(
        services,
        Caller("alice"),
        p.UpdateMeeting(
            meetingId=f"{sid}_20310401T0800Z",
            subject="Moved",
            startDate=datetime(2031, 4, 2, 13, tzinfo=UTC),
            endDate=datetime(2031, 4, 2, 14, tzinfo=UTC),
        ),
    )
    url = (await feeds.get_calendar_feed(services, Caller("bob"), p.Empty())).url
    found = await feeds.render_feed(services, url.rsplit("/", 1)[1].removesuffix(".ics"), NOW.timestamp())
    assert found is not None
    server = Radicale(tmp_path)
    status, body = server.call("PUT", "/bob/feed/", found.body, CONTENT_TYPE="text/calendar")
    assert status == 201, body
    status, body = server.call("GET", "/bob/feed/", b"")
    assert status == 200
    uids = {str(props(e)["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    assert f"{sid}@meet.example" in uids and len(uids) == 2
    for start, end in [
        (datetime(2031, 2, 1, tzinfo=UTC), datetime(2031, 7, 1, tzinfo=UTC)),
        (datetime(2031, 3, 25, tzinfo=UTC), datetime(2031, 4, 3, tzinfo=UTC)),  # the clock change
    ]:
        shown = await listed(services, Caller("bob"), start, end)
        assert shown and expanded(server, start, end) == shown
