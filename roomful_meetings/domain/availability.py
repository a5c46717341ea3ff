"""Availability and free-slot math (pure).

A user's availability for a local day: an explicit day bitmap (elapsed minutes since local
midnight, so 23- and 25-hour days fit), else the weekly pattern for that weekday (wall-clock
minutes, 1440 bits), else available all day. Everything is mapped onto a window of epoch
minutes and combined with integer bit operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Final

from roomful_meetings.domain.bitmaps import ones, runs, span, subtract
from roomful_meetings.domain.zones import LocalDay, days_between

DAY_WALL_MINUTES: Final = 1440
AVAILABLE: Final = "Available"
NOT_AVAILABLE: Final = "NotAvailable"


def wall_to_elapsed(pattern: int, day: LocalDay) -> int:
    """A wall-clock pattern (1440 bits) as the elapsed-minute bitmap of one local day."""
    if not day.shift and day.wall_start == 0 and day.length == DAY_WALL_MINUTES:
        return pattern
    before = day.shift_at if day.shift else day.length
    bits = (pattern >> day.wall_start) & ones(before)
    if day.shift:
        after = day.length - before
        wall_after = day.wall_start + before + day.shift
        bits |= ((pattern >> wall_after) & ones(after)) << before
    return bits


def day_bits(day: LocalDay, pattern: Mapping[int, int], explicit: Mapping[date, int]) -> int:
    """Elapsed-minute availability of one local day of a user."""
    if day.date in explicit:
        return explicit[day.date] & ones(day.length)
    weekly = pattern.get(day.weekday)
    if weekly is None:
        return ones(day.length)
    return wall_to_elapsed(weekly, day)


@dataclass(frozen=True, slots=True)
class UserAvailability:
    zone: str
    pattern: Mapping[int, int]  # weekday (0 = Sunday) -> 1440-bit wall-clock bitmap
    explicit: Mapping[date, int]  # local date -> elapsed-minute bitmap


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
    explicit: tuple[tuple[date, int], ...],
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
