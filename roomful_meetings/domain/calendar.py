"""Calendar maths of the availability endpoints (pure): weeks, months, request intervals and
the wall-clock times of an interval in a zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from roomful_meetings.domain.time import to_minute
from roomful_meetings.domain.zones import tz_of
from roomful_meetings.errors import BadRequest


def week_start(day: date) -> date:
    """The Sunday starting the week of `day`."""
    return day - timedelta(days=(day.weekday() + 1) % 7)


def month_bounds(day: date) -> tuple[date, date]:
    """The first day of the month of `day`, and of the month after."""
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def request_intervals(
    dates: Sequence[tuple[datetime | int, datetime | int]], where: str = "data.availability.dates"
) -> list[tuple[int, int]]:
    """(start, end) timestamps as epoch-minute intervals; 400 naming the entry at fault
    when one is out of range or does not end after it starts."""
    out = []
    for index, (start_date, end_date) in enumerate(dates):
        field = f"{where}[{index}]"
        start, end = to_minute(start_date, f"{field}.startDate"), to_minute(end_date, f"{field}.endDate")
        if end <= start:
            raise BadRequest(f"`{field}.endDate` must be after its startDate")
        out.append((start, end))
    return out


def wall_interval(zone: str, start: int, end: int) -> tuple[int, int]:
    """Time of day of an interval in `zone`; one crossing midnight is cut at the day's end."""
    tz = tz_of(zone)
    first = datetime.fromtimestamp(start * 60, tz)
    last = datetime.fromtimestamp(end * 60, tz)
    wall_start = first.hour * 60 + first.minute
    wall_end = 1440 if last.date() > first.date() else last.hour * 60 + last.minute
    return wall_start, wall_end
