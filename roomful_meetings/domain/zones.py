"""Time zones and local days: IANA names or fixed offsets, DST-aware, cached per window.

A zone is a string: an IANA name ("Asia/Tokyo") or a fixed offset ("+09:00", "-05:30"),
the latter for callers with no stored zone whose request carries only an offset.
"""

from __future__ import annotations

import bisect
import io
import itertools
import re
import struct
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, available_timezones

import pendulum

from roomful_meetings.domain.time import EPOCH

EPOCH_DATE: Final = EPOCH.date()

# "+HH:MM" in ASCII digits (`\d` takes any Unicode digit), within a day, and nothing after
# (`$` would also take a final newline).
FIXED_OFFSET: Final = re.compile(r"\A([+-])([01][0-9]|2[0-3]):([0-5][0-9])\Z")


@lru_cache(maxsize=1024)
def is_valid_zone(name: str) -> bool:
    """A zone a request or a profile may name: an IANA name of the zone database (or a
    fixed offset), not a file that only sits beside them, such as "localtime" (each
    machine's own: instances would disagree), "Factory", "posixrules" or the "right/"
    (leap second) copies."""
    if FIXED_OFFSET.match(name) is None and name not in _iana_names():
        return False
    try:
        tz_of(name)
    except Exception:  # pendulum raises several kinds for unknown or malformed names
        return False
    return True


@lru_cache(maxsize=1024)
def stored_zone(name: str) -> str | None:
    """The zone a profile's stored name stands for, or None: stored before names were held
    to the database, "posix/Europe/Berlin" and "right/Europe/Berlin" (off by leap seconds,
    below a minute) are Europe/Berlin; "localtime" (each machine's own) is no zone."""
    for candidate in (name, name.removeprefix("posix/"), name.removeprefix("right/")):
        if is_valid_zone(candidate):
            return candidate
    return None


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones() - {"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1024)
def tz_of(zone: str) -> pendulum.Timezone | pendulum.FixedTimezone:
    fixed = FIXED_OFFSET.match(zone)
    if fixed:
        sign = -1 if fixed.group(1) == "-" else 1
        return pendulum.FixedTimezone(sign * (int(fixed.group(2)) * 3600 + int(fixed.group(3)) * 60))
    return pendulum.timezone(zone)


@lru_cache(maxsize=256)
def zone_info(zone: str) -> ZoneInfo:
    """The zone as a ZoneInfo, for code that writes zones out (iCalendar's VTIMEZONE and
    TZID): an IANA name's own, or for a fixed offset one made from a TZif with no change
    (`key` is the offset, "+05:30"), so a series in a fixed-offset zone writes like any."""
    fixed = FIXED_OFFSET.match(zone)
    if not fixed:
        return ZoneInfo(zone)
    sign, hours, minutes = fixed.group(1), int(fixed.group(2)), int(fixed.group(3))
    seconds = (-1 if sign == "-" else 1) * (hours * 3600 + minutes * 60)
    name = f"{sign}{hours:02d}{minutes:02d}".encode()
    block = b"TZif2" + bytes(15) + struct.pack(">6l", 0, 0, 0, 0, 1, len(name) + 1)
    block += struct.pack(">lBB", seconds, 0, 0) + name + b"\0"
    # The footer's POSIX TZ string counts west of Greenwich as positive.
    posix = b"<" + name + b">" + ("-" if sign == "+" else "+").encode() + f"{hours}:{minutes:02d}".encode()
    return ZoneInfo.from_file(io.BytesIO(block + block + b"\n" + posix + b"\n"), key=zone)


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

    `offsets` holds the day's runs of one UTC offset as (elapsed minute the run begins,
    offset in minutes), the first at 0: one run on most days, two on a day the clocks
    change. Each offset is read from the zone itself, never derived from another day's,
    so a change on one day cannot leak into the offsets of the next.
    """

    date: date
    start: int
    length: int
    offsets: tuple[tuple[int, int], ...]

    @property
    def weekday(self) -> int:
        """0 = Sunday ... 6 = Saturday."""
        return (self.date.weekday() + 1) % 7

    @property
    def end(self) -> int:
        return self.start + self.length

    def runs(self) -> Iterator[tuple[int, int, int]]:
        """(first elapsed minute, end elapsed minute, wall-clock minute at the first) of each
        run of one offset: within a run, wall-clock time and elapsed time move together."""
        midnight = (self.date - EPOCH_DATE).days * 1440  # local midnight read as if UTC
        bounds = [at for at, _ in self.offsets[1:]] + [self.length]
        for (at, offset), until in zip(self.offsets, bounds, strict=True):
            wall = self.start + at + offset - midnight
            if wall < 0:
                # The clocks fell back across midnight (St. John's until 2011: 00:01 became
                # 23:01 of the day before): the evening's wall minutes are passed twice,
                # once now and once at the day's end.
                yield at, min(at - wall, until), wall + 1440
                at, wall = at - wall, 0
                if at >= until:
                    continue
            yield at, until, wall


def _offset_minutes(tz: tzinfo, minute: int) -> int:
    offset = datetime.fromtimestamp(minute * 60, tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds()) // 60


def _midnight(tz: tzinfo, day: date) -> int:
    """The first minute of `day` in `tz`: midnight, its first occurrence when it repeats,
    or the instant the clocks jump to when it is skipped (fold 0 reads a skipped wall time
    with the offset before the change, which lands exactly on the change)."""
    return to_epoch_minute(datetime(day.year, day.month, day.day, tzinfo=tz))


def _changes(tz: tzinfo, start: int, end: int, step: int = 60) -> list[tuple[int, int]]:
    """(first minute, offset) of each run of one offset in [start, end), the first at
    `start`. Sampled every `step` minutes, then bisected: no zone changes twice within an
    hour."""
    samples = [*range(start, end, step), end - 1]
    runs = [(start, _offset_minutes(tz, start))]
    for before, after in itertools.pairwise(samples):
        offset = _offset_minutes(tz, after)
        if offset == runs[-1][1]:
            continue
        low, high = before + 1, after  # the first minute with the new offset
        while low < high:
            middle = (low + high) // 2
            if _offset_minutes(tz, middle) == offset:
                high = middle
            else:
                low = middle + 1
        runs.append((low, offset))
    return runs


# Offset runs are kept per UTC year, from 1969 (a wall time of 1970 in a zone behind UTC)
# to a few days before the calendar ends (where a zone ahead of UTC is in year 10000).
_FIRST_RUN_YEAR: Final = 1969
_LAST_RUN_MINUTE: Final = (date(9999, 12, 29) - EPOCH_DATE).days * 1440
# A year's runs are sampled daily, then bisected: a zone that changed its offset and back
# within a day would be missed. The zone database has no such pair: since 1969 its closest
# two changes of offset are a week apart (Brazil in October 2000, Gaza and Hebron's rules
# from 2040); tests/domain/test_zones.py checks daily against hourly sampling there.
_YEAR_STEP: Final = 1440


def _year_start(year: int) -> int:
    return (date(year, 1, 1) - EPOCH_DATE).days * 1440


@lru_cache(maxsize=4096)
def _year_runs(zone: str, year: int) -> tuple[tuple[int, int], ...]:
    """(first minute, offset) of each run of one UTC offset in the UTC year `year`."""
    start = _year_start(year)
    end = _year_start(year + 1) if year < 9999 else _LAST_RUN_MINUTE
    return tuple(_changes(tz_of(zone), start, min(end, _LAST_RUN_MINUTE), _YEAR_STEP))


def utc_runs(zone: str, start: int, end: int) -> tuple[list[int], list[int]]:
    """The runs of one UTC offset of `zone` that cover [start, end) epoch minutes (within
    1969 .. 9999-12-28): their first minutes (the first run's is at or before `start`) and
    their offsets, each run's offset other than its predecessor's. Sampled as local days
    are (hourly, then bisected), and kept per year, so a window of ten years costs ten
    cached lookups: the integer arithmetic of recurring series and counts reads offsets
    here instead of asking datetime once per instance."""
    firsts: list[int] = []
    offsets: list[int] = []
    year = max(_FIRST_RUN_YEAR, (EPOCH_DATE + timedelta(days=start // 1440)).year)
    while year <= 9999 and _year_start(year) < min(end, _LAST_RUN_MINUTE):
        for at, offset in _year_runs(zone, year):
            if not offsets or offset != offsets[-1]:
                firsts.append(at)
                offsets.append(offset)
        year += 1
    if not firsts:  # all of it after the last run's start: that run goes on
        last = min(start, _LAST_RUN_MINUTE - 1)
        return [last], [_offset_minutes(tz_of(zone), last)]
    return firsts, offsets


def count_local_days(
    zone: str, starts: Sequence[int], ends: Sequence[int], clip: tuple[int, int], counts: Counter[int]
) -> None:
    """Add 1 to `counts` for each local day of `zone` that each span [starts[i], ends[i])
    overlaps once cut to `clip` (epoch minutes, starts ascending, every span non-empty once
    cut, before 9999-01-01), the day by its number (`day_date`): the days `days_between`
    gives, in integer arithmetic (a minute's local date is that of the minute plus its
    offset), run of one offset by run of one offset. Spans that begin before `clip` or end
    after it or after their run (a few) are counted one by one."""
    if not starts:
        return
    low, high = clip
    firsts, offsets = utc_runs(zone, max(starts[0], low), min(max(ends), high))
    days: list[int] = []
    odd: list[tuple[int, int]] = []
    begin = bisect.bisect_left(starts, low)
    odd += zip(starts[:begin], ends[:begin], strict=True)
    for run, offset in enumerate(offsets):
        stop = bisect.bisect_left(starts, firsts[run + 1]) if run + 1 < len(firsts) else len(starts)
        if stop <= begin:
            continue
        limit = min(firsts[run + 1] if run + 1 < len(firsts) else high, high)
        pairs = [
            ((a + offset) // 1440, (b - 1 + offset) // 1440) if b <= limit else (a, b)
            for a, b in zip(starts[begin:stop], ends[begin:stop], strict=True)
        ]
        days += [first for first, last in pairs if first == last]
        for i in [i for i, (first, last) in enumerate(pairs) if first != last]:
            if ends[begin + i] <= limit:
                days.extend(range(pairs[i][0], pairs[i][1] + 1))
            else:
                odd.append((starts[begin + i], ends[begin + i]))
        begin = stop
    for a, b in odd:
        a, last = max(a, low), min(b, high) - 1
        first_day = (a + offsets[bisect.bisect_right(firsts, a) - 1]) // 1440
        days.extend(range(first_day, (last + offsets[bisect.bisect_right(firsts, last) - 1]) // 1440 + 1))
    counts.update(days)


def day_date(number: int) -> date:
    """The date of a local day's number (days since 1970-01-01)."""
    return EPOCH_DATE + timedelta(days=number)


@lru_cache(maxsize=8192)
def local_day(zone: str, day: date) -> LocalDay:
    tz = tz_of(zone)
    start, end = _midnight(tz, day), _midnight(tz, day + timedelta(days=1))
    offsets = tuple((at - start, offset) for at, offset in _changes(tz, start, end))
    return LocalDay(day, start, end - start, offsets)


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
    """The offsets in force over [start, end], taken from the local days that hold it."""
    starts, offsets = [start], [_offset_minutes(tz_of(zone), start)]
    for day in days_between(zone, start, end + 1):
        for at, offset in day.offsets:
            if day.start + at > start and offset != offsets[-1]:
                starts.append(day.start + at)
                offsets.append(offset)
    return OffsetTable(tuple(starts), tuple(offsets))
