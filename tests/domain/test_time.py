"""Time formatting and request timestamps (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.time import (
    END_MINUTE,
    END_MS,
    format_instant,
    format_ms_utc,
    format_utc,
    to_minute,
    to_ms,
)
from roomful_meetings.errors import BadRequest


@given(st.integers(0, 253402300799999))
def test_millisecond_timestamps_format_like_strftime(ms: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).strftime(
        "%Y-%m-%dT%H:%M:%S.%f"
    )
    assert format_ms_utc(ms) == expected[:-3] + "Z"


@given(st.integers(0, 253402300799999 // 60_000))
def test_minute_timestamps_format_like_strftime(minute: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert format_utc(minute) == expected


@given(st.integers(0, END_MS - 1))
def test_instants_format_to_the_millisecond_with_a_fraction_only_when_there_is_one(ms: int) -> None:
    text = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S")
    assert format_instant(ms) == text + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


# --- request timestamps (issue 13: every accepted timestamp is representable) ---------------
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


def aware_between(low: datetime, high: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=low, max_value=high, timezones=offsets)


# Anywhere, and often near the ends of the accepted range, where the bugs were.
aware = st.one_of(
    aware_between(datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)),
    aware_between(datetime(1969, 12, 30), datetime(1970, 1, 2)),
    aware_between(datetime(9998, 12, 30), datetime(9999, 12, 31, 23, 59, 59)),
)


@given(aware)
def test_a_datetime_is_its_instant_in_minutes_or_a_400(value: datetime) -> None:
    # The reference: exact integer arithmetic on the wall clock and the offset.
    wall = value.replace(tzinfo=None)
    offset = value.utcoffset()
    assert offset is not None
    seconds = (
        (wall.toordinal() - datetime(1970, 1, 1).toordinal()) * 86400
        + (wall.hour * 3600 + wall.minute * 60 + wall.second)
        - int(offset.total_seconds())
    )
    if 0 <= seconds < END_MS // 1000:
        assert to_minute(value, "data.startDate") == seconds // 60
    else:
        with pytest.raises(BadRequest, match=r"`data\.startDate` must be from 1970"):
            to_minute(value, "data.startDate")


@pytest.mark.parametrize(
    "value",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(-timedelta(hours=23, minutes=59))),  # the issue's
        datetime(1, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=23, minutes=59))),
        datetime(9999, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        END_MS,
        -1,
        10**30,
        -(10**30),
        2**63,
    ],
)
def test_out_of_range_timestamps_are_a_400_naming_the_field(value: datetime | int) -> None:
    with pytest.raises(BadRequest, match=r"`data\.localDate`"):
        to_minute(value, "data.localDate")


def test_the_ends_of_the_range() -> None:
    assert to_minute(0, "f") == 0
    assert to_minute(END_MS - 1, "f") == END_MINUTE - 1
    assert to_minute(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), "f") == 0
    assert to_minute(datetime(9998, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "f") == END_MINUTE - 1
    assert format_utc(END_MINUTE - 1) == "9998-12-31T23:59:00Z"


def test_a_timestamp_kept_to_the_millisecond() -> None:
    # a Resource's timestamps (contract 4): its instant to the millisecond, below dropped
    plus_one = timezone(timedelta(hours=1))
    assert to_ms(datetime(1970, 1, 1, 1, 0, 0, 123999, tzinfo=plus_one), "f") == 123
    assert to_ms(1767225600250, "f") == 1767225600250
    with pytest.raises(BadRequest, match=r"`f` must be from 1970"):
        to_ms(datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "f")
