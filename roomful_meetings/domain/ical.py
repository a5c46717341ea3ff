"""Meetings as iCalendar (contract 11): the subscription feed (RFC 5545, METHOD:PUBLISH)
and one meeting's invitation (RFC 5546, METHOD:REQUEST). Pure: the caller reads the
meetings, series and people first, and gives the clock.

A single meeting is one VEVENT in UTC. A series is one VEVENT whose DTSTART is the wall
time in the series' zone (TZID, with a VTIMEZONE), with its RRULE, an exact DURATION (every
occurrence lasts the same elapsed time, contract 9) and an EXDATE per cancelled instance;
an instance that differs from its series in anything shown here (times, subject,
description, someone's status) is one more VEVENT with the series' UID and a RECURRENCE-ID.
EXDATE and RECURRENCE-ID are written in UTC: they name the instant the rule produces,
which every reader compares as an instant whatever its zone handling of wall times.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, NamedTuple, Protocol
from zoneinfo import ZoneInfo

import icalendar
import msgspec

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain.emails import is_plain_email
from roomful_meetings.domain.ics import (
    Event,
    component,
    content_line,
    escape_text,
    fold,
    minute_value,
    text_line,
    utc_value,
)
from roomful_meetings.domain.meetings import MAX_MEETING_MINUTES
from roomful_meetings.domain.recurrence import first_wall, is_occurrence
from roomful_meetings.domain.time import to_minute
from roomful_meetings.domain.vtimezone import change_instants, vtimezone
from roomful_meetings.domain.zones import zone_info

PRODID: Final = "-//Roomful//Roomful Meetings//EN"
PARTSTAT: Final = {"received": "NEEDS-ACTION", "accepted": "ACCEPTED", "declined": "DECLINED"}
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# VTIMEZONEs list clock changes this far past the feed's range (readers expanding a
# never-ending series further keep the last offset listed).
ZONES_AHEAD: Final = timedelta(days=400)


@dataclass(frozen=True, slots=True)
class Person:
    user_id: str
    name: str  # shown as CN (the user id when the profile has no name)
    email: str  # "" when the profile has none


@dataclass(frozen=True, slots=True)
class Directory:
    """What the feed shows of the people and places its meetings name."""

    people: Mapping[str, Person]
    places: Mapping[str, str]  # sourceString of a room or prop -> its title
    domain: str  # UIDs are <meetingId>@<domain>

    def fingerprint(self) -> int:
        """Equal for equal directories (cache keys: one profile change misses them all once)."""
        return hash((tuple(sorted(self.people.items())), tuple(sorted(self.places.items())), self.domain))


class Single(NamedTuple):
    """What a feed shows of a single meeting (storage/feeds.py reads it from the meeting's
    hash; `from_meeting` takes it from the meeting's JSON). Hashable: the key of its text.
    A named tuple: a frozen dataclass took a tenth of a cold feed to construct."""

    meeting_id: str
    created: str  # RFC 3339, as stored
    updated: str
    subject: str
    description: str
    source: str  # sourceString
    start: int  # epoch minutes (startDate)
    end: int  # (endDate)
    organizer: str
    statuses: tuple[tuple[str, str], ...]  # (userId, status) of every participant, in order

    @classmethod
    def from_meeting(cls, meeting: Mapping[str, Any]) -> Single:
        """From a meeting object as the API shows it."""
        return cls(
            meeting["meetingId"],
            meeting["created"],
            meeting["updated"],
            meeting["subject"],
            meeting.get("description") or "",
            meeting["sourceString"],
            to_minute(datetime.fromisoformat(meeting["startDate"]), "startDate"),
            to_minute(datetime.fromisoformat(meeting["endDate"]), "endDate"),
            meeting["organizerId"],
            tuple((p["userId"], p["status"]) for p in meeting["participants"]),
        )

    @property
    def key(self) -> Single:
        return self

    def decode(self) -> Single:
        return self


class SingleSource(Protocol):
    """A single meeting as read (a Single, or storage/feeds.py StoredSingle): `key` is equal
    exactly when what `decode()` gives is (it may cover more), so a fetch that finds the
    meeting's text kept decodes nothing."""

    @property
    def key(self) -> Hashable: ...

    def decode(self) -> Single: ...


def minute_time(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def stamp_time(text: str) -> datetime:
    """A stored RFC 3339 stamp (`created`, `updated`) as an aware UTC datetime, to the second."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(microsecond=0)


def address(person: Person) -> str:
    """CAL-ADDRESS values are written as they are: an email stored before emails were
    checked (a line break in it would end the line) is left out like a missing one."""
    if person.email and is_plain_email(person.email):
        return f"mailto:{person.email}"
    return f"urn:roomful:{person.user_id}"


def person(directory: Directory, uid: str) -> Person:
    return directory.people.get(uid) or Person(uid, uid, "")


def sequence(created: str, updated: str) -> int:
    """SEQUENCE: seconds from creation to the last change. It grows with every change
    (time, rule and subject ones included), needs no counter of its own, and a reader
    that compares it sees each new version as newer."""
    if created == updated:  # never changed (most meetings): no parsing
        return 0
    return max(0, int((stamp_time(updated) - stamp_time(created)).total_seconds()))


Property = tuple[str, str, Mapping[str, str]]  # name, value, parameters


def organizer_property(directory: Directory, uid: str) -> Property:
    org = person(directory, uid)
    return "ORGANIZER", address(org), {"CN": org.name}


def attendee_property(directory: Directory, uid: str, status: str) -> Property:
    who = person(directory, uid)
    return "ATTENDEE", address(who), _attendee_parameters(who.name, status)


def _attendee_parameters(name: str, status: str) -> dict[str, str]:
    return {
        "CN": name,
        "CUTYPE": "INDIVIDUAL",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": PARTSTAT.get(status, "NEEDS-ACTION"),
    }


def _people(event: Event, directory: Directory, organizer: str, statuses: Mapping[str, str]) -> None:
    event.add(*organizer_property(directory, organizer))
    for uid, status in statuses.items():
        if uid != organizer:
            event.add(*attendee_property(directory, uid, status))


def _event(meeting: Mapping[str, Any], directory: Directory, uid: str, now: datetime) -> Event:
    """The fields every VEVENT has (times and people are added by the caller)."""
    event = Event()
    event.add("uid", f"{uid}@{directory.domain}")
    event.add("created", stamp_time(meeting["created"]))
    event.add("last-modified", stamp_time(meeting["updated"]))
    event.add("sequence", sequence(meeting["created"], meeting["updated"]))
    event.add("summary", meeting["subject"])
    if meeting.get("description"):
        event.add("description", meeting["description"])
    place = directory.places.get(meeting["sourceString"])
    if place:
        event.add("location", place)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def single_event(meeting: Single, directory: Directory, now: datetime) -> Event:
    """A single meeting's VEVENT as properties (the reference: the feed writes the same
    text with `single_text`)."""
    shown = {
        "created": meeting.created,
        "updated": meeting.updated,
        "subject": meeting.subject,
        "description": meeting.description,
        "sourceString": meeting.source,
    }
    event = _event(shown, directory, meeting.meeting_id, now)
    event.add("dtstart", minute_time(meeting.start))
    event.add("dtend", minute_time(meeting.end))
    _people(event, directory, meeting.organizer, dict(meeting.statuses))
    return event


class Lines:
    """The lines of one directory that VEVENTs share, each written once: a meeting's UID
    (its domain), LOCATION of a place, ORGANIZER of a person, ATTENDEE of a person with a
    status. 500 meetings with 6 people each name some 40 people and 10 places."""

    __slots__ = ("_locations", "_organizers", "_uid_tail", "attendees", "directory")

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self._uid_tail = escape_text(f"@{directory.domain}")
        self._locations: dict[str, bytes] = {}
        self._organizers: dict[str, bytes] = {}
        self.attendees: dict[tuple[str, str], bytes] = {}  # (user id, status) -> line

    def uid(self, meeting_id: str) -> bytes:
        """`text_line("UID", ...)`, escaping only the meeting id (ids are letters and
        digits, which need none: isalnum tells at the cost of one scan)."""
        mid = meeting_id if meeting_id.isalnum() else escape_text(meeting_id)
        return fold(f"UID:{mid}{self._uid_tail}")

    def location(self, source: str) -> bytes:
        """The LOCATION line of a place, b"" when it has no title."""
        line = self._locations.get(source)
        if line is None:
            place = self.directory.places.get(source)
            line = self._locations[source] = text_line("LOCATION", place) if place else b""
        return line

    def organizer(self, uid: str) -> bytes:
        line = self._organizers.get(uid)
        if line is None:
            line = self._organizers[uid] = content_line(*organizer_property(self.directory, uid))
        return line

    def attendee(self, uid: str, status: str) -> bytes:
        line = self.attendees.get((uid, status))
        if line is None:
            line = self.attendees[uid, status] = content_line(*attendee_property(self.directory, uid, status))
        return line

    def people(self, organizer: str, statuses: Iterable[tuple[str, str]]) -> bytes:
        """What `_people` adds, written: the organizer's line, then every other
        participant's (their lines looked up inline: 3,000 a cold feed)."""
        attendees = self.attendees
        lines = [attendees.get(pair) or self.attendee(*pair) for pair in statuses if pair[0] != organizer]
        return self.organizer(organizer) + b"".join(lines)


def single_text(meeting: Single, lines: Lines) -> bytes:
    """`open_vevent(single_event(meeting, ...))`, written straight from its fields and the
    shared lines (tests/domain/test_ical.py: the same bytes). Every call here is paid 500
    times a cold feed: the lines are written in three f-strings, and a meeting never
    changed has its stamp converted once."""
    created, updated = meeting.created, meeting.updated
    stamp = utc_value(created)
    return b"".join(
        [
            b"BEGIN:VEVENT\r\n",
            lines.uid(meeting.meeting_id),
            (
                f"CREATED:{stamp}\r\n"
                f"LAST-MODIFIED:{stamp if updated == created else utc_value(updated)}\r\n"
                f"SEQUENCE:{sequence(created, updated)}\r\n"
            ).encode(),
            text_line("SUMMARY", meeting.subject),
            text_line("DESCRIPTION", meeting.description) if meeting.description else b"",
            lines.location(meeting.source),
            (
                "STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\n"
                f"DTSTART:{minute_value(meeting.start)}\r\nDTEND:{minute_value(meeting.end)}\r\n"
            ).encode(),
            lines.people(meeting.organizer, meeting.statuses),
        ]
    )


def _series_statuses(obj: Mapping[str, Any], state: inst.SeriesState) -> dict[str, str]:
    return {uid: state.statuses.get(uid) or "received" for uid in obj["participantIds"]}


def _instance_statuses(obj: Mapping[str, Any], state: inst.SeriesState, orig: int) -> dict[str, str]:
    return {uid: inst.status(state, orig, uid) for uid in obj["participantIds"]}


def differs(obj: Mapping[str, Any], state: inst.SeriesState, orig: int) -> bool:
    """The instance shows something its series does not (times, subject, description,
    anyone's status): it needs a VEVENT of its own."""
    own = state.overrides.get(orig, {})
    if inst.times(state, orig) != (orig, orig + state.series.length):
        return True
    if any(name in own and own[name] != obj[name] for name in ("subject", "description")):
        return True
    statuses = _series_statuses(obj, state)
    statuses[state.organizer] = "accepted"
    return _instance_statuses(obj, state, orig) != statuses


def series_events(
    obj: Mapping[str, Any], state: inst.SeriesState, directory: Directory, now: datetime, low: int, high: int
) -> list[Event]:
    """The series' VEVENT, then one per instance overlapping [low, high) (where it is now
    or where the rule puts it) that differs from the series."""
    master = series_event(obj, state, directory, now)
    own = own_instances(obj, state, low, high)
    return [master, *(instance_event(obj, state, orig, directory, now) for orig in own)]


def series_event(
    obj: Mapping[str, Any], state: inst.SeriesState, directory: Directory, now: datetime
) -> Event:
    """The series' own VEVENT: its rule in its zone, and the cancelled instances."""
    event, organizer, statuses = _series_parts(obj, state, directory, now)
    _people(event, directory, organizer, statuses)
    return event


def _series_parts(
    obj: Mapping[str, Any], state: inst.SeriesState, directory: Directory, now: datetime
) -> tuple[Event, str, dict[str, str]]:
    """The series' VEVENT but its people (added last), and its people."""
    series = state.series
    master = _event(obj, directory, state.sid, now)
    # The wall time the rule runs from (it may lie in a clock change's gap: RFC 5545 3.3.5
    # reads it moved forward, as the start is).
    master.add("dtstart", first_wall(series).replace(tzinfo=zone_info(series.zone)))
    master.add("duration", timedelta(minutes=series.length))
    master.add("rrule", series.rule.text())
    cancelled = sorted(c for c in state.cancelled if is_occurrence(series, c))
    for orig in cancelled:
        master.add("exdate", minute_time(orig))
    return master, state.organizer, _series_statuses(obj, state)


def own_instances(
    obj: Mapping[str, Any],
    state: inst.SeriesState,
    low: int,
    high: int,
    listed: Sequence[tuple[int, int, int]] | None = None,
) -> list[int]:
    """The original starts, ascending, of the instances overlapping [low, high) (where they
    are now or where the rule puts them) that need a VEVENT of their own (`listed`: the
    series' inst.instances for [low, high), when the caller has them)."""
    series = state.series
    # Only an instance with something of its own can differ; it counts where it is now or
    # where the rule puts it, so a reader never shows it at the rule's time instead.
    candidates = {*state.overrides, *(orig for orig, _ in state.instance_statuses)}
    own = {orig for orig in candidates if _near(state, orig, low, high) and differs(obj, state, orig)}
    changes = [minute_of(at) for at, _, _ in change_instants(series.zone, *_days(low, high))]
    if changes:
        zone = zone_info(series.zone)
        wall = first_wall(series).time()
        count = len(changes)
        own |= {
            orig
            for orig, start, end in (inst.instances(state, low, high) if listed is None else listed)
            # only an instance within a day of a change can be unlike the rule (a cheap test,
            # inline: most instances are not near one)
            if (i := bisect.bisect_left(changes, start - 1440)) < count
            and changes[i] <= end + 1440
            and _unlike_the_rule(changes, zone, wall, start, end)
        }
    return sorted(own)


def _near(state: inst.SeriesState, orig: int, low: int, high: int) -> bool:
    """The instance exists and overlaps [low, high) where it is or where the rule puts it."""
    start, end = inst.times(state, orig)
    placed = (start < high and end > low) or (orig < high and orig + state.series.length > low)
    return placed and inst.exists(state, orig)


def _unlike_the_rule(changes: Sequence[int], zone: ZoneInfo, wall: time, start: int, end: int) -> bool:
    """Readers would show this instance otherwise than it is: a clock change falls inside
    it (straddles), or its wall time did not exist that day, so the rule moved it forward
    by the gap (contract 9) and a reader adding DURATION to the missing wall time would
    get its end wrong."""
    return straddles(changes, start, end) or minute_time(start).astimezone(zone).time() != wall


def straddles(changes: Sequence[int], start: int, end: int) -> bool:
    """A clock change (a sorted epoch minute) falls inside the instance. RFC 5545 makes
    DURATION exact time, but readers (recurring-ical-events among them) add it on the wall
    clock, so such an instance is written out in UTC with its own VEVENT: every reader then
    shows its true end."""
    i = bisect.bisect_right(changes, start)
    return i < len(changes) and changes[i] <= end  # ending at the change: the wall clock moved too


def _days(low: int, high: int) -> tuple[date, date]:
    """The days to look for clock changes in: those of every instance that overlaps [low,
    high), one that began up to a meeting's longest before `low` (and across a change
    there) included, and one day more on each side."""
    reach = timedelta(days=1, minutes=MAX_MEETING_MINUTES)
    return minute_time(low).date() - reach, later(minute_time(high).date(), reach)


def later(day: date, by: timedelta) -> date:
    """`day + by`, or the last date there is (times run to the end of year 9999)."""
    return day + min(by, date.max - day)


def minute_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() // 60)


def instance_event(
    obj: Mapping[str, Any], state: inst.SeriesState, orig: int, directory: Directory, now: datetime
) -> Event:
    """One instance as it differs from its series (or alone, in an invitation to it): the
    series' UID and a RECURRENCE-ID."""
    event, organizer, statuses = _instance_parts(obj, state, orig, directory, now)
    _people(event, directory, organizer, statuses)
    return event


def _instance_parts(
    obj: Mapping[str, Any], state: inst.SeriesState, orig: int, directory: Directory, now: datetime
) -> tuple[Event, str, dict[str, str]]:
    """The instance's VEVENT but its people (added last), and its people."""
    shown = inst.instance_object(obj, state, orig)
    event = _event(shown, directory, state.sid, now)
    event.add("recurrence-id", minute_time(orig))
    start, end = inst.times(state, orig)
    event.add("dtstart", minute_time(start))
    event.add("dtend", minute_time(end))
    return event, state.organizer, _instance_statuses(obj, state, orig)


PRELUDE: Final = (("PRODID", PRODID), ("VERSION", "2.0"), ("CALSCALE", "GREGORIAN"))


def calendar(
    method: str,
    events: Sequence[Event],
    now: datetime,
    zones_from: date,
    zones_to: date,
    *,
    name: str = "",
    with_icalendar: bool = False,
    written: Sequence[bytes] = (),
    written_zones: Iterable[str] = (),
) -> bytes:
    """A VCALENDAR of the events, each stamped `now` (DTSTAMP), with a VTIMEZONE per zone
    they name, right from `zones_from` to `zones_to` (domain/vtimezone.py), written by
    domain/ics.py or, with `with_icalendar`, by the icalendar package (the reference the
    tests compare with). `written`: VEVENTs already written (open: no DTSTAMP, no END),
    first, naming the `written_zones`."""
    head = [*PRELUDE, ("METHOD", method), *((("X-WR-CALNAME", name),) if name else ())]
    named = {zone.key for event in events if isinstance(zone := event.decoded("dtstart").tzinfo, ZoneInfo)}
    zones = sorted((named | set(written_zones)) - {"UTC"})
    if with_icalendar:
        return _with_icalendar(head, events, now, [vtimezone(z, zones_from, zones_to) for z in zones])
    stamp, end = content_line("DTSTAMP", now, {}), b"END:VEVENT\r\n"
    body = [b"BEGIN:VCALENDAR\r\n", *(content_line(k, v, {}) for k, v in head)]
    body += [_vtimezone_text(z, zones_from, zones_to) for z in zones]
    for text in [*written, *(open_vevent(event) for event in events)]:
        body += (text, stamp, end)
    body.append(b"END:VCALENDAR\r\n")
    return b"".join(body)


def content_digest(body: bytes, now: datetime) -> str:
    """SHA-256 (hex) of a calendar's text without its DTSTAMP lines (all of them `now`):
    what an ETag needs. A plain replace, whole lines only: the regex took 6 ms a feed."""
    line = b"\r\n" + content_line("DTSTAMP", now, {})
    return hashlib.sha256(body.replace(line, b"\r\n")).hexdigest()


def open_vevent(event: Event) -> bytes:
    """A VEVENT's text without its DTSTAMP and END line (calendar() adds both)."""
    return component("VEVENT", event.props)[: -len(b"END:VEVENT\r\n")]


@functools.lru_cache(maxsize=256)
def _vtimezone_text(name: str, first: date, last: date) -> bytes:
    """Cached: the span moves by a day a day, and a zone's changes take a while to find."""
    text: bytes = vtimezone(name, first, last).to_ical()
    return text


def _with_icalendar(
    head: list[tuple[str, str]], events: Sequence[Event], now: datetime, zones: list[icalendar.Timezone]
) -> bytes:
    cal = icalendar.Calendar()
    for key, value in head:
        cal.add(key, value)
    for zone in zones:
        cal.add_component(zone)
    for event in events:
        out = icalendar.Event()
        for prop, value, params in event.props:
            typed = icalendar.vRecur.from_ical(value) if prop == "RRULE" else value
            out.add(prop, typed, parameters=dict(params))
        out.add("dtstamp", now)
        cal.add_component(out)
    text: bytes = cal.to_ical()
    return text


def feed(
    singles: Sequence[SingleSource],
    series: Sequence[tuple[Mapping[str, Any], inst.SeriesState]],
    directory: Directory,
    now: datetime,
    low: int,
    high: int,
    *,
    with_icalendar: bool = False,
) -> bytes:
    """The subscription feed: every single meeting given, and every series given that has
    instances in [low, high), with its differing instances there."""
    shown = [(obj, state, listed) for obj, state in series if (listed := inst.instances(state, low, high))]
    first = min([low, *(state.series.start for _, state, _ in shown)])
    span = (minute_time(first).date() - timedelta(days=1), later(minute_time(high).date(), ZONES_AHEAD))
    name = "Roomful meetings"
    if with_icalendar:
        events = [single_event(meeting.decode(), directory, now) for meeting in singles]
        for obj, state, _ in shown:
            events += series_events(obj, state, directory, now, low, high)
        return calendar("PUBLISH", events, now, *span, name=name, with_icalendar=True)
    lines, fingerprint = Lines(directory), directory.fingerprint()
    written = _singles_text(singles, lines, fingerprint)
    for obj, state, listed in shown:
        written += _series_text(obj, state, lines, fingerprint, now, low, high, listed)
    zones = {state.series.zone for _, state, _ in shown}
    return calendar("PUBLISH", [], now, *span, name=name, written=written, written_zones=zones)


# A single meeting's VEVENT text, by the meeting (everything its text shows) and the
# directory: most of a feed is unchanged from one fetch to the next.
_WRITTEN: OrderedDict[Hashable, bytes] = OrderedDict()
WRITTEN_KEPT: Final = 50_000


def forget_written() -> None:
    """Drop the kept VEVENT texts (benchmarks of a fresh instance)."""
    _WRITTEN.clear()


def _series_text(
    obj: Mapping[str, Any],
    state: inst.SeriesState,
    lines: Lines,
    fingerprint: int,
    now: datetime,
    low: int,
    high: int,
    listed: Sequence[tuple[int, int, int]],
) -> list[bytes]:
    """The VEVENT texts of `series_events`, kept by the series' version and object and the
    directory (per instance for instances: which of them the feed shows moves with its
    window, what each shows does not; none shows `now`, calendar() adds DTSTAMP)."""
    series_key = (state.sid, state.version, msgspec.json.encode(obj), fingerprint)
    out = []
    for orig in [None, *own_instances(obj, state, low, high, listed)]:
        key = (series_key, orig)
        text: bytes | None = _WRITTEN.pop(key, None)
        if text is None:
            event, organizer, statuses = (
                _series_parts(obj, state, lines.directory, now)
                if orig is None
                else _instance_parts(obj, state, orig, lines.directory, now)
            )
            text = open_vevent(event) + lines.people(organizer, statuses.items())
        _WRITTEN[key] = text
        out.append(text)
    return out


def _singles_text(singles: Sequence[SingleSource], lines: Lines, fingerprint: int) -> list[bytes]:
    out = []
    for meeting in singles:
        key = (meeting.key, fingerprint)
        text: bytes | None = _WRITTEN.pop(key, None)
        if text is None:
            text = single_text(meeting.decode(), lines)
        _WRITTEN[key] = text
        out.append(text)
    while len(_WRITTEN) > WRITTEN_KEPT:
        _WRITTEN.popitem(last=False)
    return out


def invitation(events: Sequence[Event], now: datetime, start: int) -> bytes:
    """An RFC 5546 REQUEST of one meeting's events (series_events, instance_event or
    single_event), which starts at `start`: VTIMEZONEs from the day before it for ten times
    ZONES_AHEAD (to the end of year 9999 at most), and the organizer listed as an ATTENDEE
    too, with PARTSTAT=ACCEPTED. RFC 5546 3.2.2 wants at least one ATTENDEE in a REQUEST (a
    room booked alone has no invitee); Outlook and Google list the organizer so."""
    first = minute_time(start).date() - timedelta(days=1)
    return calendar(
        "REQUEST", [_organizer_attends(e) for e in events], now, first, later(first, 10 * ZONES_AHEAD)
    )


def _organizer_attends(event: Event) -> Event:
    """The event with an ATTENDEE line for its organizer right after the ORGANIZER one."""
    out = Event()
    for name, value, parameters in event.props:
        out.add(name, value, parameters)
        if name == "ORGANIZER":
            out.add("ATTENDEE", value, _attendee_parameters(parameters["CN"], "accepted"))
    return out
