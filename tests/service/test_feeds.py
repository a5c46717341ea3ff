"""Calendar feeds (contract 11) through the handlers, on the suite's real Redis: tokens,
the feed's content read back by `icalendar`, and its expansion by `recurring-ical-events`
(an independent RRULE implementation) against what listUserMeetings lists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import icalendar
import msgspec
import pytest
import recurring_ical_events

from roomful_meetings.config import Settings
from roomful_meetings.errors import NotFound
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import feeds, meetings
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.service.feeds import tenant_of
from roomful_meetings.service.tenants import KEPT, Tenants
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import Redis
from tests.service.conftest import open_services

ALICE, BOB, CAROL = Caller("alice"), Caller("bob"), Caller("carol")
NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)  # the feed's clock: it shows 2031-01-29 .. 2032-03-01


@pytest.fixture
async def services(redis_server: RedisProcess, prefix: str) -> AsyncIterator[Services]:
    async with open_services(redis_server, prefix) as opened:
        await opened.catalog.upsert_users(
            [
                p.UserIn(id="alice", firstName="Alice", lastName="Liddell", email="alice@x.test"),
                p.UserIn(id="bob", firstName="Bob"),
                p.UserIn(id="carol"),
            ]
        )
        await opened.catalog.upsert_rooms([p.RoomIn(id="lobby", title="The Lobby")])
        yield opened


def with_base(services: Services) -> Services:
    return replace(services, settings=replace(services.settings, public_base_url="https://meet.example/"))


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".ics")


async def render(services: Services, url: str) -> bytes | None:
    found = await feeds.render_feed(services, token_of(url), NOW.timestamp())
    return None if found is None else found.body


async def create(services: Services, caller: Caller, **fields: Any) -> dict[str, Any]:
    data = {
        "sourceType": "room",
        "sourceIds": ["lobby"],
        "subject": "s",
        "invitedUserIds": ["bob"],
        **fields,
    }
    reply = await meetings.create_meeting(services, caller, msgspec.convert(data, p.CreateMeeting))
    decoded: dict[str, Any] = msgspec.json.decode(reply.meeting)
    return decoded


async def test_the_feed_url_stays_until_reset_and_the_old_one_dies_at_once(services: Services) -> None:
    services = with_base(services)
    first = await feeds.get_calendar_feed(services, BOB, p.Empty())
    assert first.url.startswith("https://meet.example/calendar/") and first.url.endswith(".ics")
    assert len(token_of(first.url)) >= 22  # >= 128 bits in base64url
    assert (await feeds.get_calendar_feed(services, BOB, p.Empty())).url == first.url
    assert (await feeds.get_calendar_feed(services, ALICE, p.Empty())).url != first.url
    assert await render(services, first.url) is not None
    reset = await feeds.reset_calendar_feed(services, BOB, p.Empty())
    assert reset.url != first.url
    assert await render(services, first.url) is None
    assert await render(services, reset.url) is not None
    assert (await feeds.get_calendar_feed(services, BOB, p.Empty())).url == reset.url


async def test_no_token_is_stored_only_its_hash(services: Services) -> None:
    services = with_base(services)
    token = token_of((await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    redis = services.meetings.redis
    keys = await redis.execute("KEYS", services.keys.prefix + "*")
    values = []
    for key in keys:
        kind = (await redis.execute("TYPE", key)).decode()
        if kind == "string":
            values.append(await redis.execute("GET", key))
        elif kind == "hash":
            values += await redis.execute("HGETALL", key)
    assert all(
        token.encode() not in bytes(v) and token.encode() not in bytes(k) for v in values for k in keys
    )
    assert services.keys.feed_token(feeds.token_hash(token)).encode() in keys


async def test_an_unknown_token_finds_nothing(services: Services) -> None:
    assert await feeds.render_feed(services, "A" * 43, NOW.timestamp()) is None


async def test_without_an_http_port_or_a_base_no_url_is_made(services: Services) -> None:
    with pytest.raises(Exception, match="http-port"):
        await feeds.get_calendar_feed(services, BOB, p.Empty())


async def test_behind_a_wildcard_host_without_a_base_no_url_is_made(services: Services) -> None:
    """The image listens on 0.0.0.0; a feed URL http://0.0.0.0:9765/... reaches no calendar
    app, so without --public-base-url the caller is told what to set instead."""
    wildcard = replace(services, settings=replace(services.settings, host="0.0.0.0", http_port=9765))
    with pytest.raises(Exception, match="need --public-base-url when --host listens on every address"):
        await feeds.get_calendar_feed(wildcard, BOB, p.Empty())
    named = replace(services, settings=replace(services.settings, host="10.0.0.5", http_port=9765))
    reply = await feeds.get_calendar_feed(named, BOB, p.Empty())
    assert reply.url.startswith("http://10.0.0.5:9765/calendar/")


Props = dict[str, Any]  # a component's properties, untyped: icalendar types each as a wide union


def props(component: icalendar.cal.Component) -> Props:
    return dict(component.items())


def parse(body: bytes | str) -> tuple[Props, list[Props], list[Props]]:
    """(calendar properties, VEVENTs, VTIMEZONEs) of an iCalendar text."""
    cal = icalendar.Calendar.from_ical(body)
    return props(cal), [props(e) for e in cal.walk("VEVENT")], [props(t) for t in cal.walk("VTIMEZONE")]


def events(body: bytes) -> list[Props]:
    return parse(body)[1]


async def test_the_feed_shows_meetings_series_and_differing_instances(services: Services) -> None:
    services = with_base(services)
    single = await create(
        services,
        ALICE,
        subject="Planning",
        description="Q2",
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    weekly = await create(
        services,
        ALICE,
        subject="Weekly",
        startDate=datetime(2031, 3, 4, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 4, 9, 30, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = weekly["meetingId"]
    await meetings.decline_meeting(services, BOB, p.MeetingRef(meetingId=f"{sid}_20310311T0900Z"))
    await meetings.delete_meeting(services, ALICE, p.DeleteMeeting(meetingId=f"{sid}_20310318T0900Z"))
    await meetings.update_meeting(
        services, ALICE, p.UpdateMeeting(meetingId=f"{sid}_20310401T0800Z", subject="Moved on")
    )
    url = (await feeds.get_calendar_feed(services, BOB, p.Empty())).url
    body = await render(services, url)
    assert body is not None
    cal, vevents, zones = parse(body)
    assert cal["METHOD"] == "PUBLISH" and cal["VERSION"] == "2.0"
    assert [tz["TZID"] for tz in zones] == ["Europe/London"]
    by_uid: dict[str, list[Props]] = {}
    for event in vevents:
        by_uid.setdefault(str(event["UID"]), []).append(event)
    assert set(by_uid) == {f"{single['meetingId']}@meet.example", f"{sid}@meet.example"}
    (plain,) = by_uid[f"{single['meetingId']}@meet.example"]
    assert plain["SUMMARY"] == "Planning" and plain["DESCRIPTION"] == "Q2"
    assert plain["LOCATION"] == "The Lobby"
    assert plain["ORGANIZER"] == "mailto:alice@x.test" and plain["ORGANIZER"].params["CN"] == "Alice Liddell"
    attendee = plain["ATTENDEE"]
    assert attendee == "urn:roomful:bob"
    assert attendee.params["CN"] == "Bob" and attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    master, *own = sorted(by_uid[f"{sid}@meet.example"], key=lambda e: "RECURRENCE-ID" in e)
    assert master["RRULE"].to_ical() == b"FREQ=WEEKLY;COUNT=10"
    assert master["DTSTART"].params["TZID"] == "Europe/London"
    assert master["DTSTART"].dt == datetime(2031, 3, 4, 9, tzinfo=master["DTSTART"].dt.tzinfo)
    exdates = [d.dt for d in master["EXDATE"].dts]
    assert exdates == [datetime(2031, 3, 18, 9, tzinfo=UTC)]
    recurrence_ids = sorted(e["RECURRENCE-ID"].dt for e in own)
    assert recurrence_ids == [datetime(2031, 3, 11, 9, tzinfo=UTC), datetime(2031, 4, 1, 8, tzinfo=UTC)]
    declined = next(e for e in own if e["RECURRENCE-ID"].dt.day == 11)
    assert declined["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    moved = next(e for e in own if e["RECURRENCE-ID"].dt.day == 1)
    assert moved["SUMMARY"] == "Moved on"


async def test_a_carol_feed_shows_nothing_of_meetings_she_is_not_in(services: Services) -> None:
    services = with_base(services)
    await create(
        services,
        ALICE,
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    body = await render(services, (await feeds.get_calendar_feed(services, CAROL, p.Empty())).url)
    assert body is not None and events(body) == []
    assert b"alice" not in body.lower() and b"bob" not in body.lower()


async def test_the_etag_changes_exactly_with_the_content(services: Services) -> None:
    services = with_base(services)
    made = await create(
        services,
        ALICE,
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    token = token_of((await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    first = await feeds.render_feed(services, token, NOW.timestamp())
    later = await feeds.render_feed(services, token, NOW.timestamp() + 1)  # DTSTAMP moves on
    assert first is not None and later is not None
    assert first.body != later.body and first.etag == later.etag
    await meetings.accept_meeting(services, BOB, p.MeetingRef(meetingId=made["meetingId"]))
    accepted = await feeds.render_feed(services, token, NOW.timestamp())
    assert accepted is not None and accepted.etag != first.etag
    await services.catalog.upsert_users([p.UserIn(id="bob", firstName="Robert")])
    renamed = await feeds.render_feed(services, token, NOW.timestamp())
    assert renamed is not None and renamed.etag != accepted.etag


async def test_export_is_a_request_for_participants_only(services: Services) -> None:
    services = with_base(services)
    weekly = await create(
        services,
        ALICE,
        subject="Weekly",
        startDate=datetime(2031, 3, 4, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 4, 9, 30, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = weekly["meetingId"]
    for mid in (sid, f"{sid}_20310311T0900Z"):
        ics = (await feeds.export_meeting(services, BOB, p.MeetingRef(meetingId=mid))).ics
        cal, (event,), _ = parse(ics)
        assert cal["METHOD"] == "REQUEST"
        assert event["UID"] == f"{sid}@meet.example"
        assert ("RRULE" in event) == (mid == sid) and ("RECURRENCE-ID" in event) == (mid != sid)
        with pytest.raises(NotFound):
            await feeds.export_meeting(services, CAROL, p.MeetingRef(meetingId=mid))


async def test_a_room_booked_alone_exports_as_an_invitation_with_an_attendee(services: Services) -> None:
    """RFC 5546 3.2.2: a REQUEST lists at least one ATTENDEE. Alice's focus time (no
    invitee) exports with her as the one who attends, as Outlook and Google write it; an
    invitation to others lists her first too."""
    services = with_base(services)
    alone = await create(
        services,
        ALICE,
        invitedUserIds=[],
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    with_bob = await create(
        services,
        ALICE,
        startDate=datetime(2031, 3, 3, 11, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 12, tzinfo=UTC),
    )
    for made, attendees in (
        (alone, ["mailto:alice@x.test"]),
        (with_bob, ["mailto:alice@x.test", "urn:roomful:bob"]),
    ):
        ics = (await feeds.export_meeting(services, ALICE, p.MeetingRef(meetingId=made["meetingId"]))).ics
        _, (event,), _ = parse(ics)
        shown = event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]]
        assert [str(a) for a in shown] == attendees
        assert (shown[0].params["PARTSTAT"], shown[0].params["CN"]) == ("ACCEPTED", "Alice Liddell")


async def test_a_meeting_in_the_far_future_exports(services: Services) -> None:
    """Times run to the end of year 9999: a meeting (or series) that starts in 9990 exports
    like any other, its VTIMEZONE listed up to the last day there is."""
    services = with_base(services)
    single = await create(
        services,
        ALICE,
        startDate=datetime(9990, 3, 4, 10, tzinfo=UTC),
        endDate=datetime(9990, 3, 4, 11, tzinfo=UTC),
    )
    series = await create(
        services,
        ALICE,
        startDate=datetime(9998, 11, 30, 12, tzinfo=UTC),
        endDate=datetime(9998, 12, 31, 12, tzinfo=UTC),
        recurrence={"rule": "FREQ=YEARLY", "timeZone": "Europe/London"},
    )
    await meetings.decline_meeting(
        services, BOB, p.MeetingRef(meetingId=f"{series['meetingId']}_99991130T1200Z")
    )
    for mid in (single["meetingId"], series["meetingId"], f"{series['meetingId']}_99991130T1200Z"):
        ics = (await feeds.export_meeting(services, BOB, p.MeetingRef(meetingId=mid))).ics
        assert parse(ics)[0]["METHOD"] == "REQUEST"


Shown = list[tuple[datetime, datetime, str]]


def expand(body: bytes, start: datetime, end: datetime) -> Shown:
    cal = icalendar.Calendar.from_ical(body)
    out = []
    for component in recurring_ical_events.of(cal).between(start, end):
        event = props(component)
        out.append(
            (event["DTSTART"].dt.astimezone(UTC), event["DTEND"].dt.astimezone(UTC), str(event["SUMMARY"]))
        )
    return sorted(out)


async def listed(services: Services, caller: Caller, start: datetime, end: datetime) -> Shown:
    reply = await meetings.list_user_meetings(
        services, caller, p.ListUserMeetings(startDate=start, endDate=end)
    )
    out = []
    for raw in reply.meetings:
        m = msgspec.json.decode(raw)
        out.append(
            (datetime.fromisoformat(m["startDate"]), datetime.fromisoformat(m["endDate"]), m["subject"])
        )
    return sorted(out)


async def test_the_expansion_equals_the_listing(services: Services) -> None:
    services = with_base(services)
    weekly = await create(
        services,
        ALICE,
        subject="Weekly",
        startDate=datetime(2031, 3, 4, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 4, 9, 30, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = weekly["meetingId"]
    await meetings.delete_meeting(services, ALICE, p.DeleteMeeting(meetingId=f"{sid}_20310318T0900Z"))
    await meetings.update_meeting(
        services,
        ALICE,
        p.UpdateMeeting(
            meetingId=f"{sid}_20310401T0800Z",
            subject="Moved",
            startDate=datetime(2031, 4, 2, 8, tzinfo=UTC),
            endDate=datetime(2031, 4, 2, 9, tzinfo=UTC),
        ),
    )
    body = await render(services, (await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    assert body is not None
    start, end = datetime(2031, 2, 1, tzinfo=UTC), datetime(2031, 7, 1, tzinfo=UTC)
    assert expand(body, start, end) == await listed(services, BOB, start, end)
    assert len(expand(body, start, end)) == 9


async def test_a_series_split_off_on_the_night_the_clocks_go_forward_expands_as_listed(
    services: Services,
) -> None:
    """A 01:30 London daily series split "this and following" from 2031-03-30, the night
    01:00-02:00 does not exist (that day's meeting is at 02:30 BST): the new series' DTSTART
    is 01:30 local (read moved forward, RFC 5545 3.3.5), and its later days stay at 01:30."""
    services = with_base(services)
    daily = await create(
        services,
        ALICE,
        subject="Night check",
        startDate=datetime(2031, 3, 28, 1, 30, tzinfo=UTC),
        endDate=datetime(2031, 3, 28, 2, tzinfo=UTC),
        recurrence={"rule": "FREQ=DAILY;COUNT=8", "timeZone": "Europe/London"},
    )
    split = p.UpdateMeeting(
        meetingId=f"{daily['meetingId']}_20310330T0130Z", subject="Night ops", scope="following"
    )
    await meetings.update_meeting(services, ALICE, split)
    body = await render(services, (await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    assert body is not None and b"DTSTART;TZID=Europe/London:20310330T013000" in body
    start, end = datetime(2031, 3, 27, tzinfo=UTC), datetime(2031, 4, 10, tzinfo=UTC)
    shown = expand(body, start, end)
    assert shown == await listed(services, BOB, start, end)
    assert [(at.day, at.hour) for at, _, _ in shown] == [(28, 1), (29, 1), (30, 1), *((d, 0) for d in range(31, 32)),
                                                         *((d, 0) for d in range(1, 5))]  # fmt: skip


async def test_a_long_instance_begun_before_the_feed_across_a_clock_change_ends_as_listed(
    services: Services,
) -> None:
    """An instance may last 31 days (contract 4). One that began before the feed's range,
    across London's clock change (2031-03-30), and ends inside the range is shown ending
    when listUserMeetings says, not an hour off as a reader adding DURATION on the wall
    clock would show it from the rule."""
    services = with_base(services)
    await create(
        services,
        ALICE,
        subject="Offsite",
        startDate=datetime(2031, 3, 29, 9, tzinfo=UTC),
        endDate=datetime(2031, 4, 12, 9, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;COUNT=2", "timeZone": "Europe/London"},
    )
    url = (await feeds.get_calendar_feed(services, BOB, p.Empty())).url
    now = datetime(2031, 5, 10, 12, tzinfo=UTC)  # the feed shows 2031-04-09 12:00 on
    found = await feeds.render_feed(services, token_of(url), now.timestamp())
    assert found is not None
    start, end = datetime(2031, 4, 10, tzinfo=UTC), datetime(2031, 5, 10, tzinfo=UTC)
    shown = expand(found.body, start, end)
    assert shown == await listed(services, BOB, start, end)
    assert shown[0][:2] == (datetime(2031, 3, 29, 9, tzinfo=UTC), datetime(2031, 4, 12, 9, tzinfo=UTC))


async def test_a_series_in_the_organizers_fixed_offset_zone_expands_as_listed(services: Services) -> None:
    # A profile may hold a fixed offset ("+05:30"), and a series takes its organizer's
    # zone: its VTIMEZONE is a constant offset (ZoneInfo had no such zone: every feed and
    # export holding the series failed). At 22:00Z it is Tuesday 03:30 there, so BYDAY
    # works on the zone's days, not on UTC's.
    services = with_base(services)
    await services.catalog.upsert_users([p.UserIn(id="alice", timeZone="+05:30")])
    made = await create(
        services,
        ALICE,
        subject="Early",
        startDate=datetime(2031, 3, 3, 22, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 23, tzinfo=UTC),
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=5"},
    )
    assert made["recurrence"]["timeZone"] == "+05:30"
    body = await render(services, (await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    assert body is not None and b"TZID:+05:30" in body
    start, end = datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 1, tzinfo=UTC)
    shown = expand(body, start, end)
    assert shown == await listed(services, BOB, start, end)
    assert [s.strftime("%a %H:%M") for s, _, _ in shown] == ["Mon 22:00", "Wed 22:00"] * 2 + ["Mon 22:00"]
    exported = await feeds.export_meeting(services, BOB, p.MeetingRef(meetingId=made["meetingId"]))
    assert expand(exported.ics.encode(), start, end) == shown


async def test_the_fast_writer_writes_what_icalendar_writes(services: Services) -> None:
    """domain/ics.py against the icalendar package: both texts parse to equal calendars,
    with text that needs escaping and folding (commas, semicolons, backslashes, new lines,
    long lines of multi-byte characters) in every TEXT property and parameter."""
    services = with_base(services)
    tricky = "Café; plan, \\ review\nnext: « déjà » " + "日本語の会議" * 20
    await services.catalog.upsert_users([p.UserIn(id="bob", firstName="Bob, Jr.", lastName='O"Neil; Esq:')])
    await services.catalog.upsert_rooms([p.RoomIn(id="lobby", title=tricky)])
    await create(
        services,
        ALICE,
        subject=tricky[:200],
        description=tricky * 3,
        startDate=datetime(2031, 3, 3, 9, tzinfo=UTC),
        endDate=datetime(2031, 3, 3, 10, tzinfo=UTC),
    )
    weekly = await create(
        services,
        ALICE,
        subject="Weekly, again",
        startDate=datetime(2031, 3, 27, 0, 30, tzinfo=UTC),
        endDate=datetime(2031, 3, 27, 1, 30, tzinfo=UTC),
        recurrence={"rule": "FREQ=DAILY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = weekly["meetingId"]
    await meetings.delete_meeting(services, ALICE, p.DeleteMeeting(meetingId=f"{sid}_20310328T0030Z"))
    await meetings.decline_meeting(services, BOB, p.MeetingRef(meetingId=f"{sid}_20310329T0030Z"))
    token = token_of((await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    fast = await feeds.render_feed(services, token, NOW.timestamp())
    reference = await feeds.render_feed(services, token, NOW.timestamp(), with_icalendar=True)
    assert fast is not None and reference is not None
    assert icalendar.Calendar.from_ical(fast.body) == icalendar.Calendar.from_ical(reference.body)
    assert fast.etag == reference.etag or fast.body != reference.body
    assert all(len(line) <= 75 for line in fast.body.split(b"\r\n"))
    unfolded = fast.body.replace(b"\r\n ", b"")
    assert "SUMMARY:Café\\; plan\\, \\\\ review\\nnext".encode() in unfolded  # RFC 5545 3.3.11
    assert (await render(services, f"/{token}.ics")) == fast.body  # the cached text is the same


async def test_an_erased_user_has_no_feed(services: Services) -> None:
    services = with_base(services)
    url = (await feeds.get_calendar_feed(services, BOB, p.Empty())).url
    await services.catalog.delete_user("bob")
    assert await render(services, url) is None
    assert await services.meetings.redis.execute("EXISTS", services.keys.user_feed("bob")) == 0


def test_made_up_tenant_names_in_feed_urls_do_not_push_tenants_out(tmp_path: Path) -> None:
    tenants = Tenants(Settings(data_dir=tmp_path), cast(Redis, None), {})
    kept = tenants.services("acme")
    for n in range(KEPT + 10):
        assert tenant_of(f"made{n}.{'x' * 43}") == f"made{n}"
        tenants.services(f"made{n}", keep=False)
    assert tenants.services("acme") is kept and [s.keys.tenant for s in tenants.recent()] == ["acme"]
