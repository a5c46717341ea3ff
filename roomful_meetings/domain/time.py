"""Time as the server keeps it: whole minutes since the Unix epoch (seconds are dropped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from roomful_meetings.errors import BadRequest

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


def to_minute(value: datetime | int, field: str) -> int:
    """A request timestamp as epoch minutes; 400 naming `field` when out of range."""
    if isinstance(value, int):
        if not 0 <= value <= MAX_MS:
            raise BadRequest(f"`{field}` must be between 1970 and 9999 (got {value} ms)")
        return value // 60_000
    if value.tzinfo is None:
        raise BadRequest(f"`{field}` needs a UTC offset")
    if value < EPOCH:
        raise BadRequest(f"`{field}` must not be before 1970")
    return int((value - EPOCH).total_seconds()) // 60


@lru_cache(maxsize=4096)
def format_utc(minute: int) -> str:
    """RFC 3339 in UTC, as every non-local output timestamp is written. Cached: the same
    minutes come back (the current one, the common meeting times), and this showed in the
    profile of a meeting's creation even without strftime."""
    t = EPOCH + timedelta(minutes=minute)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:00Z"


def format_ms_utc(ms: int) -> str:
    """RFC 3339 with milliseconds. Every script call passes "now" in this form, so the
    strftime of the current second is reused: it was a visible cost per request."""
    seconds, millis = divmod(ms, 1000)
    return f"{_second_text(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=4)
def _second_text(seconds: int) -> str:
    t = EPOCH + timedelta(seconds=seconds)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
