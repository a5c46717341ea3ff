"""What a feed reads (contract 11), on the suite's real Redis: storage/feeds.py `singles`
selects and shows the single meetings exactly as listUserMeetings's script lists them,
`series_for_user` gives the listing's series; the kept reads and texts follow every change;
the series' written texts are the general writer's bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from roomful_meetings.domain import ical
from roomful_meetings.domain import instances as inst
from roomful_meetings.protocol import payloads as p
from roomful_meetings.service import feeds, meetings
from roomful_meetings.service.context import Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.storage.redis import RedisUnavailable
from tests.service.conftest import open_services
from tests.service.test_feeds import ALICE, BOB, NOW, create, token_of, with_base

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = int(NOW.timestamp() // 60)
LOW, HIGH = MINUTE - feeds.FEED_PAST_DAYS * 1440, MINUTE + feeds.FEED_AHEAD_DAYS * 1440


def at(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


@pytest.fixture
async def services(redis_server: RedisProcess, prefix: str) -> AsyncIterator[Services]:
    async with open_services(redis_server, prefix) as opened:
        await opened.catalog.upsert_users(
            [
                p.UserIn(id="alice", firstName="Alice", email="alice@x.test"),
                p.UserIn(id="bob"),
                p.UserIn(id="carol"),
            ]
        )
        await opened.catalog.upsert_rooms([p.RoomIn(id="lobby", title="The Lobby")])
        yield with_base(opened)


async def meeting(services: Services, start: int, end: int, **fields: Any) -> str:
    made = await create(services, ALICE, startDate=at(start), endDate=at(end), **fields)
    mid: str = made["meetingId"]
    return mid


async def listed(services: Services) -> list[ical.Single]:
    page = await services.meetings.list_for_user("bob", LOW, HIGH, limit=feeds.FEED_MAX_MEETINGS)
    return [ical.Single.from_meeting(msgspec.json.decode(raw)) for raw in page.meetings]


async def test_singles_are_the_listings_meetings_at_its_edges(services: Services) -> None:
    """Ending at the window's start or starting at its end is out; one minute inside is in;
    long meetings from before the window, statuses of every kind, descriptions or none."""
    edges = [(LOW - 60, LOW), (LOW - 60, LOW + 1), (LOW - 30 * 1440, LOW + 5), (HIGH - 1, HIGH + 60)]
    edges += [(HIGH, HIGH + 60), (MINUTE + 600, MINUTE + 690)]
    mids = [
        await meeting(services, start, end, invitedUserIds=["bob", "carol"], description="d" * (i % 2) * 100)
        for i, (start, end) in enumerate(edges)
    ]
    await meetings.decline_meeting(services, BOB, p.MeetingRef(meetingId=mids[1]))
    await meetings.accept_meeting(services, BOB, p.MeetingRef(meetingId=mids[3]))
    await meetings.update_meeting(services, ALICE, p.UpdateMeeting(meetingId=mids[5], subject="Later, again"))
    singles = await services.meetings.feeds.singles("bob", LOW, HIGH, feeds.FEED_MAX_MEETINGS)
    decoded = [m.decode() for m in singles]
    assert decoded == await listed(services)
    assert [m.meeting_id for m in decoded] == [mids[2], mids[1], mids[5], mids[3]]
    assert dict(decoded[1].statuses) == {"alice": "accepted", "bob": "declined", "carol": "received"}
    limited = await services.meetings.feeds.singles("bob", LOW, HIGH, 2)
    assert [m.decode().meeting_id for m in limited] == mids[2:0:-1]


async def test_what_changed_between_the_index_and_the_hashes_is_left_out(services: Services) -> None:
    kept = await meeting(services, MINUTE + 60, MINUTE + 120)
    moved = await meeting(services, MINUTE + 180, MINUTE + 240)
    redis, keys = services.meetings.redis, services.keys
    await redis.execute("ZADD", keys.user_meetings("bob"), MINUTE, "ghost")  # indexed, then deleted
    await redis.execute("HSET", keys.meeting(moved), "start", HIGH, "end", HIGH + 60)  # moved out
    singles = await services.meetings.feeds.singles("bob", LOW, HIGH, feeds.FEED_MAX_MEETINGS)
    assert [m.decode().meeting_id for m in singles] == [kept]


async def test_kept_reads_follow_each_change(services: Services) -> None:
    first = await meeting(services, MINUTE + 60, MINUTE + 90)
    second = await meeting(services, MINUTE + 120, MINUTE + 150)
    before = await services.meetings.feeds.singles("bob", LOW, HIGH, feeds.FEED_MAX_MEETINGS)
    again = await services.meetings.feeds.singles("bob", LOW, HIGH, feeds.FEED_MAX_MEETINGS)
    assert [a is b for a, b in zip(before, again, strict=True)] == [True, True]  # read once, kept
    await meetings.accept_meeting(services, BOB, p.MeetingRef(meetingId=second))
    after = await services.meetings.feeds.singles("bob", LOW, HIGH, feeds.FEED_MAX_MEETINGS)
    assert after[0] is before[0] and after[1] is not before[1]
    assert dict(after[1].decode().statuses)["bob"] == "accepted"
    assert before[1].decode() == before[1].decode()  # decoded again from what it kept
    assert [m.decode() for m in after] == await listed(services)
    assert first == after[0].decode().meeting_id


async def test_series_for_user_is_the_listings_series(services: Services) -> None:
    await meeting(services, MINUTE + 60, MINUTE + 90)
    await meeting(
        services,
        MINUTE + 120,
        MINUTE + 150,
        recurrence={"rule": "FREQ=WEEKLY;COUNT=10", "timeZone": "Europe/London"},
    )
    series = await services.meetings.series_for_user("bob", LOW, HIGH)
    page = await services.meetings.list_for_user("bob", LOW, HIGH, limit=feeds.FEED_MAX_MEETINGS)
    assert len(series) == 1 and len(page.meetings) == 1
    assert [(obj, state.sid, state.version) for obj, state in series] == [
        (obj, state.sid, state.version) for obj, state in page.series
    ]


async def test_a_series_is_written_as_the_general_writer_writes_it(services: Services) -> None:
    """Its VEVENTs, the people's lines shared with the single meetings (ical.Lines)."""
    start = int(datetime(2031, 3, 27, 0, 30, tzinfo=UTC).timestamp() // 60)  # over a clock change
    made = await create(
        services,
        ALICE,
        subject="Daily; again",
        startDate=at(start),
        endDate=at(start + 60),
        invitedUserIds=["bob", "carol"],
        recurrence={"rule": "FREQ=DAILY;COUNT=10", "timeZone": "Europe/London"},
    )
    sid = made["meetingId"]
    await meetings.delete_meeting(services, ALICE, p.DeleteMeeting(meetingId=f"{sid}_20310328T0030Z"))
    await meetings.decline_meeting(services, BOB, p.MeetingRef(meetingId=f"{sid}_20310329T0030Z"))
    ((obj, state),) = await services.meetings.series_for_user("bob", LOW, HIGH)
    directory = await feeds.directory(services, [feeds._named(obj)])
    listed = inst.instances(state, LOW, HIGH)
    general = [ical.open_vevent(e) for e in ical.series_events(obj, state, directory, NOW, LOW, HIGH)]
    assert len(general) >= 3  # the series, the declined instance, the one over the change
    for _ in range(2):  # written, then kept
        lines = ical.Lines(directory)
        texts = ical._series_text(obj, state, lines, directory.fingerprint(), NOW, LOW, HIGH, listed)
        assert texts == general


async def test_a_fresh_instance_writes_the_kept_text_and_a_failed_read_is_its_own_error(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    await meeting(services, MINUTE + 60, MINUTE + 90, description="x, y; z")
    token = token_of((await feeds.get_calendar_feed(services, BOB, p.Empty())).url)
    kept = await feeds.render_feed(services, token, NOW.timestamp())
    feeds.forget_kept()
    fresh = await feeds.render_feed(services, token, NOW.timestamp())
    assert kept is not None and fresh == kept

    async def unavailable(*args: object) -> None:
        raise RedisUnavailable("not connected")

    monkeypatch.setattr(services.meetings, "series_for_user", unavailable)
    with pytest.raises(RedisUnavailable):  # not an exception group: the HTTP layer sees the cause
        await feeds.render_feed(services, token, NOW.timestamp())
