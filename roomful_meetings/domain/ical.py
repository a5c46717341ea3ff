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
import json
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import icalendar

from roomful_meetings.domain import instances as inst
from roomful_meetings.domain.ics import Event, component, content_line
from roomful_meetings.domain.recurrence import is_occurrence
from roomful_meetings.domain.vtimezone import change_instants, vtimezone

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


def minute_time(minute: int) -> datetime:
    return EPOCH + timedelta(minutes=minute)


def stamp_time(text: str) -> datetime:
    """A stored RFC 3339 stamp (`created`, `updated`) as an aware UTC datetime, to the second."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(microsecond=0)


def address(person: Person) -> str:
    return f"mailto:{person.email}" if person.email else f"urn:roomful:{person.user_id}"


def person(directory: Directory, uid: str) -> Person:
    return directory.people.get(uid) or Person(uid, uid, "")


def sequence(meeting: Mapping[str, Any]) -> int:
    """SEQUENCE: seconds from creation to the last change. It grows with every change
    (time, rule and subject ones included), needs no counter of its own, and a reader
    that compares it sees each new version as newer."""
    return max(0, int((stamp_time(meeting["updated"]) - stamp_time(meeting["created"])).total_seconds()))


def _people(event: Event, directory: Directory, organizer: str, statuses: Mapping[str, str]) -> None:
    org = person(directory, organizer)
    event.add("organizer", address(org), parameters={"CN": org.name})
    for uid, status in statuses.items():
        if uid == organizer:
            continue
        who = person(directory, uid)
        event.add(
            "attendee",
            address(who),
            parameters={
                "CN": who.name,
                "CUTYPE": "INDIVIDUAL",
                "ROLE": "REQ-PARTICIPANT",
                "PARTSTAT": PARTSTAT.get(status, "NEEDS-ACTION"),
            },
        )


def _event(meeting: Mapping[str, Any], directory: Directory, uid: str, now: datetime) -> Event:
    """The fields every VEVENT has (times and people are added by the caller)."""
    event = Event()
    event.add("uid", f"{uid}@{directory.domain}")
    event.add("created", stamp_time(meeting["created"]))
    event.add("last-modified", stamp_time(meeting["updated"]))
    event.add("sequence", sequence(meeting))
    event.add("summary", meeting["subject"])
    if meeting.get("description"):
        event.add("description", meeting["description"])
    place = directory.places.get(meeting["sourceString"])
    if place:
        event.add("location", place)
    event.add("status", "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def single_event(meeting: Mapping[str, Any], directory: Directory, now: datetime) -> Event:
    event = _event(meeting, directory, meeting["meetingId"], now)
    event.add("dtstart", datetime.fromisoformat(meeting["startDate"]).astimezone(UTC))
    event.add("dtend", datetime.fromisoformat(meeting["endDate"]).astimezone(UTC))
    statuses = {p["userId"]: p["status"] for p in meeting["participants"]}
    _people(event, directory, meeting["organizerId"], statuses)
    return event


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
    series = state.series
    zone = ZoneInfo(series.zone)
    master = _event(obj, directory, state.sid, now)
    master.add("dtstart", minute_time(series.start).astimezone(zone))
    master.add("duration", timedelta(minutes=series.length))
    master.add("rrule", series.rule.text())
    cancelled = sorted(c for c in state.cancelled if is_occurrence(series, c))
    for orig in cancelled:
        master.add("exdate", minute_time(orig))
    _people(master, directory, state.organizer, _series_statuses(obj, state))
    events = [master]
    # Only an instance with something of its own can differ; it counts where it is now or
    # where the rule puts it, so a reader never shows it at the rule's time instead.
    candidates = {*state.overrides, *(orig for orig, _ in state.instance_statuses)}
    own = {orig for orig in candidates if _near(state, orig, low, high) and differs(obj, state, orig)}
    changes = [minute_of(at) for at, _, _ in change_instants(series.zone, *_days(low, high))]
    if changes:
        wall = minute_time(series.start).astimezone(zone).time()
        own |= {
            orig
            for orig, start, end in inst.instances(state, low, high)
            if _unlike_the_rule(changes, zone, wall, start, end)
        }
    events += [instance_event(obj, state, orig, directory, now) for orig in sorted(own)]
    return events


def _near(state: inst.SeriesState, orig: int, low: int, high: int) -> bool:
    """The instance exists and overlaps [low, high) where it is or where the rule puts it."""
    start, end = inst.times(state, orig)
    placed = (start < high and end > low) or (orig < high and orig + state.series.length > low)
    return placed and inst.exists(state, orig)


def _unlike_the_rule(changes: Sequence[int], zone: ZoneInfo, wall: time, start: int, end: int) -> bool:
    """Readers would show this instance otherwise than it is: a clock change falls inside
    it (straddles), or its wall time did not exist that day, so the rule moved it forward
    by the gap (contract 9) and a reader adding DURATION to the missing wall time would
    get its end wrong. Only instances within a day of a change are looked at."""
    i = bisect.bisect_left(changes, start - 1440)
    if i == len(changes) or changes[i] > end + 1440:
        return False
    return straddles(changes, start, end) or minute_time(start).astimezone(zone).time() != wall


def straddles(changes: Sequence[int], start: int, end: int) -> bool:
    """A clock change (a sorted epoch minute) falls inside the instance. RFC 5545 makes
    DURATION exact time, but readers (recurring-ical-events among them) add it on the wall
    clock, so such an instance is written out in UTC with its own VEVENT: every reader then
    shows its true end."""
    i = bisect.bisect_right(changes, start)
    return i < len(changes) and changes[i] <= end  # ending at the change: the wall clock moved too


def _days(low: int, high: int) -> tuple[date, date]:
    return minute_time(low).date() - timedelta(days=1), minute_time(high).date() + timedelta(days=1)


def minute_of(moment: datetime) -> int:
    return int((moment - EPOCH).total_seconds() // 60)


def instance_event(
    obj: Mapping[str, Any], state: inst.SeriesState, orig: int, directory: Directory, now: datetime
) -> Event:
    """One instance as it differs from its series (or alone, in an invitation to it): the
    series' UID and a RECURRENCE-ID."""
    shown = inst.instance_object(obj, state, orig)
    event = _event(shown, directory, state.sid, now)
    event.add("recurrence-id", minute_time(orig))
    start, end = inst.times(state, orig)
    event.add("dtstart", minute_time(start))
    event.add("dtend", minute_time(end))
    _people(event, directory, state.organizer, _instance_statuses(obj, state, orig))
    return event


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
) -> bytes:
    """A VCALENDAR of the events, each stamped `now` (DTSTAMP), with a VTIMEZONE per zone
    they name, right from `zones_from` to `zones_to` (domain/vtimezone.py), written by
    domain/ics.py or, with `with_icalendar`, by the icalendar package (the reference the
    tests compare with). `written`: VEVENTs already written (open: no DTSTAMP, no END)."""
    head = [*PRELUDE, ("METHOD", method), *((("X-WR-CALNAME", name),) if name else ())]
    zones = sorted(
        {
            zone.key
            for event in events
            if isinstance(zone := event.decoded("dtstart").tzinfo, ZoneInfo) and zone.key != "UTC"
        }
    )
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
    singles: Sequence[bytes],
    series: Sequence[tuple[Mapping[str, Any], inst.SeriesState]],
    directory: Directory,
    now: datetime,
    low: int,
    high: int,
    *,
    with_icalendar: bool = False,
) -> bytes:
    """The subscription feed: every single meeting given (as its JSON), and every series
    with its differing instances in [low, high)."""
    events: list[Event] = []
    written: list[bytes] = []
    fingerprint = directory.fingerprint()
    for meeting in singles:
        if with_icalendar:
            events.append(single_event(json.loads(meeting), directory, now))
        else:
            written.append(_single_text(meeting, directory, fingerprint, now))
    for obj, state in series:
        events += series_events(obj, state, directory, now, low, high)
    first = min([low, *(state.series.start for _, state in series)])
    span = (minute_time(first).date() - timedelta(days=1), minute_time(high).date() + ZONES_AHEAD)
    return calendar(
        "PUBLISH", events, now, *span, name="Roomful meetings", with_icalendar=with_icalendar, written=written
    )


# A single meeting's VEVENT text, by its JSON (as the owner reads it) and the directory:
# most of a feed is unchanged from one fetch to the next, and writing 500 VEVENTs again
# costs twice the feed's budget. The key holds everything the text shows.
_WRITTEN: OrderedDict[Hashable, bytes] = OrderedDict()
WRITTEN_KEPT: Final = 50_000


def forget_written() -> None:
    """Drop the kept VEVENT texts (benchmarks of a fresh instance)."""
    _WRITTEN.clear()


def _single_text(meeting: bytes, directory: Directory, fingerprint: int, now: datetime) -> bytes:
    key = (meeting, fingerprint)
    text: bytes | None = _WRITTEN.pop(key, None)
    if text is None:
        text = open_vevent(single_event(json.loads(meeting), directory, now))
    _WRITTEN[key] = text
    if len(_WRITTEN) > WRITTEN_KEPT:
        _WRITTEN.popitem(last=False)
    return text


def zone_span(start: int) -> tuple[date, date]:
    """The VTIMEZONE span of an invitation to something that starts at `start`."""
    first = minute_time(start).date() - timedelta(days=1)
    return first, first + 10 * ZONES_AHEAD
