"""Time as the server keeps it: whole minutes since the Unix epoch (seconds are dropped)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Final

from roomful_meetings.errors import BadRequest

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH: Final = datetime(1970, 1, 1)
_MILLISECOND: Final = timedelta(milliseconds=1)
# Accepted instants end (exclusive) at 9999-01-01T00:00Z, not at the end of 9999: the
# local days, weeks and months around an instant, in any zone (offsets up to 14 hours, a
# month either way), must still be dates Python can hold (years 1 to 9999).
END_MS: Final = 253_370_764_800_000  # 9999-01-01T00:00:00Z
END_MINUTE: Final = END_MS // 60_000
RANGE_TEXT: Final = "from 1970-01-01T00:00:00Z up to (not including) 9999-01-01T00:00:00Z"


def to_minute(value: datetime | int, field: str) -> int:
    """A request timestamp as epoch minutes; 400 naming `field` when out of range."""
    return to_ms(value, field) // 60_000


def to_ms(value: datetime | int, field: str) -> int:
    """A request timestamp as epoch milliseconds; 400 naming `field` when out of range."""
    if isinstance(value, int):
        if not 0 <= value < END_MS:
            raise BadRequest(f"`{field}` must be {RANGE_TEXT} (got {value} ms)")
        return value
    offset = value.utcoffset()
    if offset is None:
        raise BadRequest(f"`{field}` needs a UTC offset")
    # Wall clock minus offset, in timedeltas: converting to UTC first overflows when the
    # offset crosses the ends of the calendar (9999-12-31T23:00:00-23:59 is in year 10000).
    wall = value.replace(tzinfo=None)
    if type(wall) is not datetime:  # a subclass (pendulum's) subtracts into its own types
        wall = datetime(*wall.timetuple()[:6], wall.microsecond)
    ms = (wall - _NAIVE_EPOCH - offset) // _MILLISECOND
    if not 0 <= ms < END_MS:
        raise BadRequest(f"`{field}` must be {RANGE_TEXT} (got {value.isoformat()})")
    return ms


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


def format_instant(ms: int) -> str:
    """RFC 3339 in UTC to the millisecond, with a fraction only when there is one: a
    timestamp that is not a meeting's time (those are kept to the minute) as it is stored
    and shown, whether it came as text or as epoch milliseconds (a Resource's)."""
    t = EPOCH + timedelta(milliseconds=ms)
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return f"{text}.{t.microsecond // 1000:03d}Z" if t.microsecond else f"{text}Z"


@lru_cache(maxsize=4)
def _second_text(seconds: int) -> str:
    t = EPOCH + timedelta(seconds=seconds)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
