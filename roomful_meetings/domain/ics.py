"""A small RFC 5545 writer for the feed's hot path (pure).

The `icalendar` package builds a feed of 540 VEVENTs in about 300 ms on this machine (most of
it in line folding and parameter objects), six times the feed's budget (bench/feed.py).
This writer serializes the handful of value types domain/ical.py uses (TEXT, UTC and zoned
DATE-TIME, DURATION, INTEGER, CAL-ADDRESS, RECUR) with RFC 5545's escaping, parameter
quoting and folding at 75 octets. domain/ical.py can build the same calendar with
icalendar instead (`with_icalendar`), and tests/domain/test_ics.py checks that icalendar
parses both into equal components.

A feed writes some 20,000 lines, most of them short and ASCII: `fold` returns those as they
are, cuts long ASCII ones by slicing, and steps through UTF-8 only for the rest; `text_line`,
`utc_value` and `minute_value` are the cheap forms of `content_line` that domain/ical.py's
single-meeting writer uses (tests/domain/test_ics.py: the same bytes as `content_line`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

# Properties whose values are TEXT (escaped); the others are written as they are.
TEXT: Final = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "UID", "STATUS", "TRANSP", "X-WR-CALNAME"})


# RFC 5545 3.1 and 3.3.11 allow no control character but HTAB in a content line (a vertical
# tab is a line break pasted from Word, ESC comes from a terminal). A vertical tab and a
# form feed become the line break they stand for; the others go, and so does a carriage
# return (CRLF is one line break, written as the LF's escape).
_CONTROLS: Final = [*range(9), *range(11, 32), 127]
_LINE_BREAKS: Final = {"\n": "\\n", "\x0b": "\\n", "\x0c": "\\n"}
_TEXT_ESCAPES: Final = str.maketrans(
    {chr(c): None for c in _CONTROLS} | {"\\": "\\\\", ";": "\\;", ",": "\\,"} | _LINE_BREAKS
)
_NO_CONTROLS: Final = str.maketrans(dict.fromkeys([*_CONTROLS, ord("\n")]))


def escape_text(text: str) -> str:
    """A TEXT value escaped (RFC 5545 3.3.11): backslash, semicolon and comma get a
    backslash, line breaks become `\\n`, other control characters but tabs go. Text
    without any (isprintable: one scan) takes three replaces: a replace that finds nothing
    costs a scan, three times less than str.translate with a table
    (tests/domain/test_ics.py)."""
    if not text.isprintable():  # a control character, a tab or a rare non-printable letter
        return text.translate(_TEXT_ESCAPES)
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")


class Event:
    """The part of icalendar.Event that domain/ical.py uses: properties in order."""

    __slots__ = ("props",)

    def __init__(self) -> None:
        self.props: list[tuple[str, Any, Mapping[str, str]]] = []

    def add(self, name: str, value: Any, parameters: Mapping[str, str] | None = None) -> None:
        self.props.append((name.upper(), value, parameters or {}))

    def decoded(self, name: str) -> Any:
        wanted = name.upper()
        return next(value for prop, value, _ in self.props if prop == wanted)


_QUOTED: Final = re.compile(r'[:;,"]')
_PARAM_SPECIAL: Final = re.compile(r'[:;,"^\x00-\x08\x0a-\x1f\x7f]')
# RFC 6868 for a line break (a vertical tab or a form feed too, as in TEXT) and the caret (a
# name on two lines stays one content line, as icalendar writes it); other control
# characters cannot stand in a parameter value.
_PARAM_ESCAPES: Final = str.maketrans(
    {chr(c): None for c in _CONTROLS} | {"^": "^^", '"': "'"} | dict.fromkeys(_LINE_BREAKS, "^n")
)


def _param(value: str) -> str:
    """A parameter value, quoted when it holds a separator (RFC 5545 3.2; DQUOTE itself
    cannot appear in a quoted value, so it becomes an apostrophe)."""
    if _PARAM_SPECIAL.search(value) is None:
        return value
    text = value.translate(_PARAM_ESCAPES)
    return f'"{text}"' if _QUOTED.search(value) else text


def _value(name: str, value: Any) -> tuple[str, str]:
    """(extra parameters, value text)."""
    if type(value) is str:  # most values (UID, SUMMARY, STATUS, RRULE, addresses): tested first
        if name in TEXT:
            return "", escape_text(value)
        # Other values have no escapes: a control character (a line break ending the line
        # early) cannot stand in them, whoever let it through.
        return "", value if value.isprintable() else value.translate(_NO_CONTROLS)
    if isinstance(value, datetime):
        zone = value.tzinfo
        if isinstance(zone, ZoneInfo) and zone.key != "UTC":
            return f";TZID={_param(zone.key)}", wall_value(value)
        return "", wall_value(value.astimezone(UTC)) + "Z"
    if isinstance(value, timedelta):
        return "", f"PT{int(value.total_seconds() // 60)}M"
    if isinstance(value, int):
        return "", str(value)
    if name in TEXT:
        return "", escape_text(str(value))
    return "", str(value)


def fold(line: str) -> bytes:
    """A content line folded to lines of at most 75 octets, never inside a UTF-8 character."""
    raw = line.encode()
    size = len(raw)
    if size <= 75:
        return raw + b"\r\n"
    if size == len(line):  # ASCII: one octet a character, cut anywhere
        return b"\r\n ".join([raw[:75], *[raw[i : i + 74] for i in range(75, size, 74)]]) + b"\r\n"
    out, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        out.append(raw[start:end])
        start, limit = end, 74  # continuation lines start with a space
    return b"\r\n ".join(out) + b"\r\n"


def text_line(name: str, text: str) -> bytes:
    """`content_line(name, text, {})` for a TEXT property (escaped, folded)."""
    return fold(f"{name}:{escape_text(text)}")


# RFC 3339 in UTC as this server stores it (`2030-03-01T12:00:00Z`, maybe with a fraction).
_UTC_STAMP: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?Z"
)


def utc_value(stamp: str) -> str:
    """An RFC 3339 stamp as a UTC DATE-TIME value, to the second: what `content_line` writes
    for `datetime.fromisoformat(stamp)`. A stamp already in UTC is cut and joined (strftime
    was a tenth of a feed's time); any other goes through datetime."""
    found = _UTC_STAMP.fullmatch(stamp)
    if found is None:
        return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    year, month, day, hour, minute, second = found.groups()
    return f"{year}{month}{day}T{hour}{minute}{second}Z"


@functools.lru_cache(maxsize=4096)
def _day_value(ordinal: int) -> str:
    return date.fromordinal(ordinal).strftime("%Y%m%d")


_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_CLOCK_VALUES: Final = tuple(f"T{hour:02d}{minute:02d}00" for hour in range(24) for minute in range(60))


def wall_value(moment: datetime) -> str:
    """`moment.strftime("%Y%m%dT%H%M%S")` from the day's text (kept: a feed's times fall on
    a few hundred days) and the minute of the day's (strftime took 10 us a value)."""
    day = _day_value(moment.toordinal())
    if moment.second:
        return f"{day}T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    return day + _CLOCK_VALUES[moment.hour * 60 + moment.minute]


def minute_value(minute: int) -> str:
    """An epoch minute as a UTC DATE-TIME value: what `content_line` writes for it as a
    datetime."""
    day, rest = divmod(minute, 1440)
    return f"{_day_value(_EPOCH_ORDINAL + day)}{_CLOCK_VALUES[rest]}Z"


def content_line(name: str, value: Any, parameters: Mapping[str, str]) -> bytes:
    extra, text = _value(name, value)
    params = "".join([f";{key}={_param(val)}" for key, val in parameters.items()]) if parameters else ""
    return fold(f"{name}{params}{extra}:{text}")


def component(kind: str, props: list[tuple[str, Any, Mapping[str, str]]]) -> bytes:
    lines = [f"BEGIN:{kind}\r\n".encode()]
    lines += [content_line(name, value, params) for name, value, params in props]
    lines.append(f"END:{kind}\r\n".encode())
    return b"".join(lines)
