"""Availability and free-slot math (pure).

A user's availability for a local day: an explicit day setting, else the weekly pattern for
that weekday, else available all day. Settings and patterns are wall-clock minutes of the
user's zone (1440 bits; a day setting has a second pass for the hour a fall-back repeats),
laid onto the elapsed minutes of the day as the zone has it (23 or 25 hours, or any other).
Everything is mapped onto a window of epoch minutes and combined with integer bit operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Final

from roomful_meetings.domain.bitmaps import from_bytes, ones, runs, span, subtract, to_bytes
from roomful_meetings.domain.zones import LocalDay, days_between

DAY_WALL_MINUTES: Final = 1440
WALL_BYTES: Final = DAY_WALL_MINUTES // 8
AVAILABLE: Final = "Available"
NOT_AVAILABLE: Final = "NotAvailable"


def wall_to_elapsed(first: int, day: LocalDay, second: int | None = None) -> int:
    """Wall-clock bitmaps (1440 bits) as the elapsed-minute bitmap of one local day. When
    the clocks go back and a wall minute comes round twice, the first pass takes its bit
    from `first` and the second from `second` (by default `first` again); a minute the day
    passes once is set when either has it, so a setting made on a day with a repeated hour
    keeps both of its passes on a day without one."""
    again = first if second is None else second
    twice = _repeated(day)
    once = (first | again) & ~twice
    bits = seen = 0
    for at, until, wall in day.runs():
        passed = span(wall, wall + until - at)
        source = (once & passed) | (first & twice & passed & ~seen) | (again & twice & passed & seen)
        bits |= (source >> wall) << at
        seen |= passed
    return bits


def elapsed_to_wall(bits: int, day: LocalDay) -> tuple[int, int]:
    """The inverse of wall_to_elapsed: an elapsed-minute bitmap of `day` as (first pass,
    second pass) wall-clock bitmaps. A wall minute the day passes once has the same bit
    in both; one the day skips is set when the minutes on both sides of the gap are (a
    gap inside an interval belongs to it, a gap at its edge does not)."""
    first = again = seen = 0
    for at, until, wall in day.runs():
        passed = span(wall, wall + until - at)
        piece = ((bits >> at) & ones(until - at)) << wall
        first |= piece & passed & ~seen
        again |= piece & passed & seen
        seen |= passed
    for gap_start, gap_end in runs(ones(DAY_WALL_MINUTES) & ~seen):
        before = gap_start == 0 or bool(first >> (gap_start - 1) & 1)
        after = gap_end == DAY_WALL_MINUTES or bool(first >> gap_end & 1)
        if before and after:
            first |= span(gap_start, gap_end)
    repeated = _repeated(day)
    return first, (again & repeated) | (first & ~repeated)


def _repeated(day: LocalDay) -> int:
    """The wall minutes `day` passes twice."""
    seen = twice = 0
    for at, until, wall in day.runs():
        passed = span(wall, wall + until - at)
        twice |= seen & passed
        seen |= passed
    return twice


@dataclass(frozen=True, slots=True)
class DaySetting:
    """An explicit setting for one local day, in wall-clock time of the user's zone (so it
    keeps its meaning when the zone's day is laid out differently, or the zone changes).

    `first` holds each wall minute the first time the day passes it, `second` the second
    pass over the minutes a fall-back repeats (elsewhere equal to `first`). `elapsed` is a
    setting stored before that (data format 2): an elapsed-minute bitmap of its day.
    """

    first: int
    second: int
    elapsed: bool = False

    def bits(self, day: LocalDay) -> int:
        if self.elapsed:
            return self.first & ones(day.length)
        return wall_to_elapsed(self.first, day, self.second)

    @classmethod
    def of_day(cls, bits: int, day: LocalDay) -> DaySetting:
        return cls(*elapsed_to_wall(bits, day))

    def encode(self) -> bytes:
        """180 bytes, or 360 when the second pass differs from the first."""
        head = to_bytes(self.first, DAY_WALL_MINUTES)
        return head if self.second == self.first else head + to_bytes(self.second, DAY_WALL_MINUTES)

    @classmethod
    def decode(cls, data: bytes) -> DaySetting:
        """Any other length than 180 or 360 bytes is a format-2 elapsed bitmap of a day with
        a clock change: those were 23, 23.5, 24.5 or 25 hours long, never 24 or 48 hours."""
        if len(data) == WALL_BYTES:
            first = from_bytes(data)
            return cls(first, first)
        if len(data) == 2 * WALL_BYTES:
            return cls(from_bytes(data[:WALL_BYTES]), from_bytes(data[WALL_BYTES:]))
        return cls(from_bytes(data), 0, elapsed=True)


def day_bits(day: LocalDay, pattern: Mapping[int, int], explicit: Mapping[date, DaySetting]) -> int:
    """Elapsed-minute availability of one local day of a user."""
    if day.date in explicit:
        return explicit[day.date].bits(day)
    weekly = pattern.get(day.weekday)
    if weekly is None:
        return ones(day.length)
    return wall_to_elapsed(weekly, day)


@dataclass(frozen=True, slots=True)
class UserAvailability:
    zone: str
    pattern: Mapping[int, int]  # weekday (0 = Sunday) -> 1440-bit wall-clock bitmap
    explicit: Mapping[date, DaySetting]  # local date -> its explicit setting


def window_bits(user: UserAvailability, start: int, end: int) -> int:
    """The user's available minutes within [start, end), bit 0 = minute `start`."""
    return _window_bits(
        user.zone, start, end, tuple(sorted(user.pattern.items())), tuple(sorted(user.explicit.items()))
    )


@lru_cache(maxsize=4096)
def _window_bits(
    zone: str,
    start: int,
    end: int,
    pattern: tuple[tuple[int, int], ...],
    explicit: tuple[tuple[date, DaySetting], ...],
) -> int:
    # Keyed by content, so a changed pattern or day is simply another entry: repeated
    # searches over the same people and window skip the day-by-day assembly.
    weekly, days_set = dict(pattern), dict(explicit)
    bits = 0
    for day in days_between(zone, start, end):
        offset = day.start - start
        day_value = day_bits(day, weekly, days_set)
        bits |= day_value << offset if offset >= 0 else day_value >> -offset
    return bits & ones(end - start)


def free_slots(
    users: list[UserAvailability], busy: list[int], start: int, end: int, *, now: int, duration: int = 0
) -> list[tuple[int, int]]:
    """Maximal [start, end) intervals within the window where every user is available and
    nobody is busy (`busy`: flat [start, end, ...] epoch minutes of all their meetings), not
    before `now`, at least `duration` minutes long."""
    length = end - start
    free = ones(length)
    for user in users:
        free &= window_bits(user, start, end)
        if not free:
            return []
    if now > start:
        free &= ~ones(now - start)
    holes = [(busy[i], busy[i + 1]) for i in range(0, len(busy), 2)]
    shortest = max(duration, 1)
    return [(a, b) for a, b in subtract(runs(free, start), holes) if b - a >= shortest]


def set_bits(status: str, intervals: list[tuple[int, int]], length: int) -> int:
    """A day or pattern bitmap from a setUserAvailability request: Available means exactly
    these intervals, NotAvailable means everything but them."""
    listed = 0
    for a, b in intervals:
        listed |= span(max(a, 0), min(b, length))
    return listed if status == AVAILABLE else ones(length) & ~listed
