"""domain/ical.py: the feed's single-meeting writer (`single_text`, the shared `Lines`)
writes the same bytes as the general path (`open_vevent(single_event(...))`, which
tests/domain/test_ics.py and tests/service/test_feeds.py hold against `icalendar`), for
any meeting and directory: text that needs escaping and folding, people without a profile
or an email, unknown statuses, the organizer anywhere among the participants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain import ical

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW = datetime(2031, 3, 1, 12, tzinfo=UTC)

special = st.sampled_from(["\\", ";", ",", "\n", ":", '"', "é", "語", "😀", " ", "x"])
texts = st.text(special | st.characters(codec="utf-8"), max_size=200)
ids = st.text(st.sampled_from('abcxyz019é語;,\\"@-_'), min_size=1, max_size=40)
stamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction(moment) + "Z")


def fraction(moment: datetime) -> str:
    return f".{moment.microsecond // 1000:03d}" if moment.microsecond % 2 else ""


@st.composite
def directories(draw: st.DrawFn, uids: list[str]) -> ical.Directory:
    people = {
        uid: ical.Person(uid, draw(texts) or uid, draw(st.sampled_from(["", f"{uid}@x.test"])))
        for uid in uids
        if draw(st.booleans())
    }
    places = {"room:a": draw(texts), "room:b": ""}
    return ical.Directory(people, places, draw(st.sampled_from(["meet.example", "a;b,c.example", "x" * 80])))


@st.composite
def meetings(draw: st.DrawFn) -> tuple[ical.Single, ical.Directory]:
    uids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    statuses = tuple(
        (uid, draw(st.sampled_from(["received", "accepted", "declined", "tentative", ""]))) for uid in uids
    )
    created = draw(stamps)
    updated = draw(st.sampled_from([created]) | stamps)
    start = draw(st.integers(0, 60_000_000))
    single = ical.Single(
        meeting_id=draw(st.sampled_from(["9b495510261465ac72bdc2dfbf2b4442"]) | ids),
        created=created,
        updated=updated,
        subject=draw(texts),
        description=draw(st.sampled_from([""]) | texts),
        source=draw(st.sampled_from(["room:a", "room:b", "room:c"])),
        start=start,
        end=start + draw(st.integers(1, 44640)),
        organizer=draw(st.sampled_from(uids) | ids),
        statuses=statuses,
    )
    return single, draw(directories(uids))


@given(meetings())
def test_single_text_is_the_general_writers_text(drawn: tuple[ical.Single, ical.Directory]) -> None:
    single, directory = drawn
    lines = ical.Lines(directory)
    text = ical.single_text(single, lines)
    assert text == ical.open_vevent(ical.single_event(single, directory, NOW))
    assert ical.single_text(single, lines) == text  # with the lines kept from the first


def test_a_single_meeting_from_its_json() -> None:
    meeting = {
        "meetingId": "m1",
        "created": "2031-03-01T10:00:00Z",
        "updated": "2031-03-01T10:05:00.250Z",
        "subject": "Plan",
        "description": None,
        "sourceString": "room:a",
        "startDate": "2031-03-03T09:00:00Z",
        "endDate": "2031-03-03T10:30:00Z",
        "organizerId": "alice",
        "participants": [{"userId": "alice", "status": "accepted"}, {"userId": "bob", "status": "declined"}],
    }
    single = ical.Single.from_meeting(meeting)
    start = (datetime(2031, 3, 3, 9, tzinfo=UTC) - EPOCH) // timedelta(minutes=1)
    assert (single.start, single.end, single.description) == (start, start + 90, "")
    assert single.statuses == (("alice", "accepted"), ("bob", "declined"))
    written = ical.single_text(single, ical.Lines(ical.Directory({}, {}, "meet.example")))
    text = written.replace(b"\r\n ", b"").decode()
    assert "DTSTART:20310303T090000Z\r\nDTEND:20310303T103000Z\r\n" in text
    assert "LAST-MODIFIED:20310301T100500Z\r\nSEQUENCE:300\r\n" in text
    assert "PARTSTAT=DECLINED:urn:roomful:bob\r\n" in text and "DESCRIPTION" not in text


def test_an_email_stored_before_emails_were_checked_is_written_as_the_user_id() -> None:
    """A profile's email is written raw after `mailto:`: one with a line break (or anything
    that is no plain address) would end the line, so the user's id stands for it."""
    people = {
        "alice": ical.Person("alice", "Alice", "alice@x.test"),
        "eve": ical.Person("eve", "Eve", "eve@x.test\r\nEND:VEVENT\r\nBEGIN:VEVENT"),
        "mallory": ical.Person("mallory", "Mallory", "Mallory <m@x.test>"),
    }
    assert [ical.address(person) for person in people.values()] == [
        "mailto:alice@x.test",
        "urn:roomful:eve",
        "urn:roomful:mallory",
    ]
