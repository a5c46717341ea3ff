"""Time formatting (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.time import format_ms_utc, format_utc


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
