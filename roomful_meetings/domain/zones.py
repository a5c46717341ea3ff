"""Time zones and local days: IANA names or fixed offsets, DST-aware, cached per window.

A zone is a string: an IANA name ("Asia/Tokyo") or a fixed offset ("+09:00", "-05:30"),
the latter for callers with no stored zone whose request carries only an offset.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Final

import pendulum

from roomful_meetings.domain.time import EPOCH

# "+HH:MM" in ASCII digits (`\d` takes any Unicode digit), within a day, and nothing after
# (`$` would also take a final newline).
FIXED_OFFSET: Final = re.compile(r"\A([+-])([01][0-9]|2[0-3]):([0-5][0-9])\Z")


@lru_cache(maxsize=1024)
def is_valid_zone(name: str) -> bool:
    try:
        tz_of(name)
    except Exception:  # pendulum raises several kinds for unknown or malformed names
        return False
    return True


@lru_cache(maxsize=1024)
def tz_of(zone: str) -> pendulum.Timezone | pendulum.FixedTimezone:
    fixed = FIXED_OFFSET.match(zone)
    if fixed:
        sign = -1 if fixed.group(1) == "-" else 1
        return pendulum.FixedTimezone(sign * (int(fixed.group(2)) * 3600 + int(fixed.group(3)) * 60))
    return pendulum.timezone(zone)


def offset_zone(value: datetime) -> str:
    """The fixed-offset zone carried by an aware datetime ("+01:00")."""
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def to_epoch_minute(value: datetime) -> int:
    return int((value - EPOCH).total_seconds()) // 60


def local_date_of(zone: str, minute: int) -> date:
    return datetime.fromtimestamp(minute * 60, tz_of(zone)).date()


@dataclass(frozen=True, slots=True)
class LocalDay:
    """One local day of a zone: [start, start + length) in epoch minutes.

    `wall_start` is the wall-clock minute at the day's start (0 unless midnight was skipped);
    on a day with an offset change, elapsed minute `shift_at` and later are `shift` minutes
    further on the wall clock (+60 when clocks spring forward, -60 when they fall back).
    """

    date: date
    start: int
    length: int
    wall_start: int = 0
    shift_at: int = 0
    shift: int = 0

    @property
    def weekday(self) -> int:
        """0 = Sunday ... 6 = Saturday."""
        return (self.date.weekday() + 1) % 7

    @property
    def end(self) -> int:
        return self.start + self.length


def _offset_minutes(tz: pendulum.Timezone | pendulum.FixedTimezone, minute: int) -> int:
    offset = datetime.fromtimestamp(minute * 60, tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds()) // 60


@lru_cache(maxsize=8192)
def local_day(zone: str, day: date) -> LocalDay:
    tz = tz_of(zone)
    start_dt = pendulum.datetime(day.year, day.month, day.day, tz=tz)
    end_dt = start_dt.add(days=1).start_of("day")
    start, end = to_epoch_minute(start_dt), to_epoch_minute(end_dt)
    wall_start = start_dt.hour * 60 + start_dt.minute
    first, last = _offset_minutes(tz, start), _offset_minutes(tz, end - 1)
    if first == last:
        return LocalDay(day, start, end - start, wall_start)
    low, high = 0, end - start - 1  # the first elapsed minute with the new offset
    while low < high:
        middle = (low + high) // 2
        if _offset_minutes(tz, start + middle) == first:
            low = middle + 1
        else:
            high = middle
    return LocalDay(day, start, end - start, wall_start, shift_at=low, shift=last - first)


@lru_cache(maxsize=8192)
def days_between(zone: str, start: int, end: int) -> tuple[LocalDay, ...]:
    """The local days of `zone` overlapping [start, end) epoch minutes, in order."""
    days: list[LocalDay] = []
    current = local_date_of(zone, start)
    while True:
        day = local_day(zone, current)
        if day.start >= end:
            return tuple(days)
        days.append(day)
        current += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class OffsetTable:
    """UTC offsets of a zone over a window, to format many local timestamps quickly."""

    starts: tuple[int, ...]
    offsets: tuple[int, ...]

    def format(self, minute: int) -> str:
        offset = self.offsets[bisect.bisect_right(self.starts, minute) - 1]
        day, of_day = divmod(minute + offset, 1440)
        hours, minutes = divmod(of_day, 60)
        return f"{_date_text(day)}T{hours:02d}:{minutes:02d}:00{_offset_text(offset)}"


# Formatting through datetime/strftime costs ~10 us a timestamp; a month of slots has
# dozens, so the date and offset texts are made once and the rest is integer math.
@lru_cache(maxsize=4096)
def _date_text(epoch_day: int) -> str:
    return (EPOCH + timedelta(days=epoch_day)).date().isoformat()


@lru_cache(maxsize=256)
def _offset_text(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    return f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"


@lru_cache(maxsize=4096)
def offset_table(zone: str, start: int, end: int) -> OffsetTable:
    tz = tz_of(zone)
    starts, offsets = [start], [_offset_minutes(tz, start)]
    for day in days_between(zone, start - 1440, end + 1440):
        if day.shift:
            starts.append(day.start + day.shift_at)
            offsets.append(offsets[-1] + day.shift)
    return OffsetTable(tuple(starts), tuple(offsets))
