from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.calendar import month_bounds, request_intervals, wall_interval, week_start
from roomful_meetings.domain.zones import local_day
from roomful_meetings.errors import BadRequest


@given(st.dates(date(1971, 1, 1), date(9998, 12, 1)))
def test_a_week_starts_on_the_sunday_at_or_before_the_day(day: date) -> None:
    sunday = week_start(day)
    assert sunday.isoweekday() == 7
    assert timedelta(0) <= day - sunday < timedelta(days=7)


def test_month_bounds_cover_month_ends_and_leap_days() -> None:
    assert month_bounds(date(2032, 2, 29)) == (date(2032, 2, 1), date(2032, 3, 1))
    assert month_bounds(date(2031, 12, 31)) == (date(2031, 12, 1), date(2032, 1, 1))
    assert month_bounds(date(2031, 1, 31)) == (date(2031, 1, 1), date(2031, 2, 1))


def test_request_intervals_become_epoch_minutes_and_an_empty_one_is_refused() -> None:
    ten = datetime(2031, 3, 31, 10, tzinfo=timezone(timedelta(hours=1)))
    assert request_intervals([(ten, ten + timedelta(minutes=90, seconds=59))]) == [
        (int(ten.timestamp()) // 60, int(ten.timestamp()) // 60 + 90)
    ]
    with pytest.raises(BadRequest, match=r"dates\[1\]\.endDate` must be after"):
        request_intervals([(ten, ten + timedelta(hours=1)), (ten, ten)])


def test_wall_interval_reads_the_zones_clock_and_cuts_at_midnight() -> None:
    day = local_day("Europe/London", date(2031, 3, 30))  # 01:00 GMT -> 02:00 BST
    assert wall_interval("Europe/London", day.start + 30, day.start + 90) == (30, 150)
    late = int(datetime(2031, 6, 1, 22, tzinfo=UTC).timestamp()) // 60  # 23:00 BST
    assert wall_interval("Europe/London", late, late + 180) == (23 * 60, 1440)
