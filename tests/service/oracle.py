"""A brute-force reading of the contract's scheduling rules (sections 4 and 5).

It knows nothing of the project's time code or of pendulum: it walks time a minute at a
time and asks stdlib `zoneinfo` for the local date and wall clock of each instant, then
applies the rules literally. Slow, and meant to be: nothing here is clever enough to share
a mistake with the server.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

AVAILABLE: Final = "Available"
Status = Literal["Available", "NotAvailable"]
WALL_MINUTES: Final = 1440


@cache
def zone_info(zone: str) -> ZoneInfo:
    return ZoneInfo(zone)


@lru_cache(maxsize=1 << 20)
def local(zone: str, minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, zone_info(zone))


def wall(zone: str, minute: int) -> int:
    at = local(zone, minute)
    return at.hour * 60 + at.minute


def text(zone: str, minute: int) -> str:
    """RFC 3339 with the offset the zone has at that instant."""
    return local(zone, minute).isoformat()


def minute_of(value: datetime) -> int:
    return int(value.timestamp()) // 60


@lru_cache(maxsize=1 << 14)
def day_start(zone: str, day: date) -> int:
    """The first minute whose local date is `day`, found by walking to it."""
    minute = minute_of(datetime(day.year, day.month, day.day, tzinfo=UTC)) - 15 * 60
    while local(zone, minute).date() < day:
        minute += 1
    return minute


def day_range(zone: str, day: date) -> range:
    return range(day_start(zone, day), day_start(zone, day + timedelta(days=1)))


def weekday(day: date) -> int:
    """0 = Sunday."""
    return (day.weekday() + 1) % 7


def runs(flags: list[bool], origin: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for index, flag in enumerate(flags):
        if not flag:
            continue
        if out and out[-1][1] == origin + index:
            out[-1] = (out[-1][0], origin + index + 1)
        else:
            out.append((origin + index, origin + index + 1))
    return out


@dataclass(frozen=True)
class DaySet:
    zone: str  # the user's zone when it was set
    day: date
    status: Status
    intervals: tuple[tuple[int, int], ...]  # epoch minutes
    local_date: int

    def available(self, minute: int) -> bool:
        listed = any(a <= minute < b for a, b in self.intervals)
        return listed if self.status == AVAILABLE else not listed

    def passes(self) -> dict[int, list[bool]]:
        """Per wall minute of the day in the zone it was set in, its value on each pass."""
        out: dict[int, list[bool]] = {}
        for minute in day_range(self.zone, self.day):
            out.setdefault(wall(self.zone, minute), []).append(self.available(minute))
        return out


@dataclass(frozen=True)
class PatternSet:
    zone: str
    weekdays: int  # bit d = weekday d (0 = Sunday)
    status: Status
    intervals: tuple[tuple[int, int], ...]  # epoch minutes
    local_date: int

    def walls(self) -> list[bool]:
        """The contract: each interval's time of day in the zone, cut at its day's end."""
        listed = [False] * WALL_MINUTES
        for a, b in self.intervals:
            start, end = local(self.zone, a), local(self.zone, b)
            wall_end = WALL_MINUTES if end.date() > start.date() else wall(self.zone, b)
            for w in range(wall(self.zone, a), wall_end):
                listed[w] = True
        return listed if self.status == AVAILABLE else [not flag for flag in listed]


@dataclass
class Person:
    id: str
    zone: str  # the zone every read sees (it may differ from the zone of a setting)
    settings: list[DaySet | PatternSet] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pattern: dict[int, list[bool]] = {}
        self.days: dict[date, DaySet] = {}
        self.memo: dict[tuple[int, int], list[bool]] = {}

    def replay(self) -> None:
        """Later settings replace earlier ones: a pattern its weekdays, a day its date."""
        for setting in self.settings:
            if isinstance(setting, DaySet):
                self.days[setting.day] = setting
            else:
                walls = setting.walls()
                for d in range(7):
                    if setting.weekdays >> d & 1:
                        self.pattern[d] = walls

    def from_pattern(self, minute: int) -> bool:
        at = local(self.zone, minute)
        weekly = self.pattern.get(weekday(at.date()))
        return True if weekly is None else weekly[at.hour * 60 + at.minute]

    def flags(self, window: range) -> list[bool]:
        """Availability of each minute of the window: its local day's explicit setting,
        else the pattern of its weekday at its wall-clock time, else available."""
        key = (window.start, window.stop)
        if key in self.memo:
            return self.memo[key]
        out = []
        for minute in window:
            at = local(self.zone, minute)
            day = at.date()
            setting = self.days.get(day)
            if setting is None:
                weekly = self.pattern.get(weekday(day))
                out.append(True if weekly is None else weekly[at.hour * 60 + at.minute])
            elif setting.zone == self.zone:
                out.append(setting.available(minute))
            else:
                out.append(moved_setting(setting, self.zone)[minute])
        self.memo[key] = out
        return out


@lru_cache(maxsize=256)
def moved_setting(setting: DaySet, zone: str) -> dict[int, bool]:
    """A day setting read in another zone than it was made in, by wall-clock time
    (docs/protocol.md): a wall minute passed twice by both days keeps each pass, one
    passed twice where it was set and once here is set if either pass was, and one the
    setting's day skipped is set when the wall minutes on both sides of the gap are."""
    passes = setting.passes()
    days = day_range(zone, setting.day)
    times = Counter(wall(zone, m) for m in days)
    seen: Counter[int] = Counter()
    out = {}
    for minute in days:
        w = wall(zone, minute)
        nth, seen[w] = seen[w], seen[w] + 1
        if w in passes:
            values = passes[w]
            out[minute] = values[0] if len(values) == 1 else values[nth] if times[w] == 2 else any(values)
            continue
        below, above = w, w
        while below >= 0 and below not in passes:
            below -= 1
        while above < WALL_MINUTES and above not in passes:
            above += 1
        out[minute] = (below < 0 or passes[below][0]) and (above >= WALL_MINUTES or passes[above][0])
    return out


@dataclass(frozen=True)
class Meeting:
    organizer: int
    invited: tuple[int, ...]
    declined: tuple[int, ...]
    start: int
    end: int

    def holds(self, person: int) -> bool:
        """Busy for, and counted for: the organizer and invitees who have not declined."""
        return person == self.organizer or (person in self.invited and person not in self.declined)


def spans(zone: str, intervals: list[tuple[int, int]]) -> list[dict[str, str]]:
    return [{"startDate": text(zone, a), "endDate": text(zone, b)} for a, b in intervals]


def availability(person: Person, window: range) -> dict[str, Any]:
    return {"status": AVAILABLE, "dates": spans(person.zone, runs(person.flags(window), window.start))}


def local_days(zone: str, first: date, last: date) -> range:
    return range(day_start(zone, first), day_start(zone, last))


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, date(first.year + first.month // 12, first.month % 12 + 1, 1)


def sunday_of(day: date) -> date:
    return day - timedelta(days=weekday(day))


def expected(
    people: list[Person], meetings: list[Meeting], query: int, duration: int | None
) -> dict[str, Any]:
    """Every answer the caller (people[0]) should get for a query at instant `query`."""
    caller = people[0]
    zone = caller.zone
    today = local(zone, query).date()
    sunday = sunday_of(today)
    month = local_days(zone, *month_of(today))
    pattern = []
    for offset in range(7):
        days = day_range(zone, sunday + timedelta(days=offset))
        flags = [caller.from_pattern(m) for m in days]
        pattern.append({"status": AVAILABLE, "dates": spans(zone, runs(flags, days.start))})

    def slots(window: range) -> list[dict[str, str]]:
        busy: set[int] = set()
        for meeting in meetings:
            if any(meeting.holds(i) for i in range(len(people))):
                busy.update(range(meeting.start, meeting.end))
        each = [person.flags(window) for person in people]
        flags = [m not in busy and all(f) for m, *f in zip(window, *each, strict=True)]
        found = runs(flags, window.start)
        return spans(zone, [(a, b) for a, b in found if b - a >= max(duration or 0, 1)])

    first = day_start(zone, today)
    counts: Counter[date] = Counter()
    for meeting in meetings:
        if meeting.holds(0):
            for day in {local(zone, m).date() for m in range(max(meeting.start, first), meeting.end)}:
                counts[day] += 1
    return {
        "day": {"availability": availability(caller, day_range(zone, today))},
        "week": {"availability": availability(caller, local_days(zone, sunday, sunday + timedelta(days=7)))},
        "month": {"availability": availability(caller, month)},
        "pattern": {"pattern": {"availabilities": pattern}},
        "day_slots": {"availableTimeSlots": slots(day_range(zone, today))},
        "month_slots": {"availableTimeSlots": slots(month)},
        "counts": {
            "meetingCounts": [
                {
                    "count": counts[day],
                    "startDate": text(zone, day_start(zone, day)),
                    "endDate": text(zone, day_start(zone, day + timedelta(days=1))),
                }
                for day in sorted(counts)
            ]
        },
    }
