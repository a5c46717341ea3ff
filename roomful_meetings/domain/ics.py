"""A small RFC 5545 writer for the feed's hot path (pure).

The `icalendar` package builds a feed of 540 VEVENTs in about 300 ms on this machine (most of
it in line folding and parameter objects), six times the feed's budget (bench/feed.py).
This writer serializes the handful of value types domain/ical.py uses (TEXT, UTC and zoned
DATE-TIME, DURATION, INTEGER, CAL-ADDRESS, RECUR) with RFC 5545's escaping, parameter
quoting and folding at 75 octets. domain/ical.py can build the same calendar with
icalendar instead (ICALENDAR), and tests/domain/test_ics.py checks that icalendar parses
both into equal components.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

_TEXT_ESCAPES: Final = str.maketrans({"\\": "\\\\", ";": "\\;", ",": "\\,", "\n": "\\n", "\r": ""})
# Properties whose values are TEXT (escaped); the others are written as they are.
TEXT: Final = frozenset({"SUMMARY", "DESCRIPTION", "LOCATION", "UID", "STATUS", "TRANSP", "X-WR-CALNAME"})


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


def _param(value: str) -> str:
    """A parameter value, quoted when it holds a separator (RFC 5545 3.2; DQUOTE itself
    cannot appear in a quoted value, so it becomes an apostrophe)."""
    if _QUOTED.search(value):
        return '"' + value.replace('"', "'") + '"'
    return value


def _value(name: str, value: Any) -> tuple[str, str]:
    """(extra parameters, value text)."""
    if isinstance(value, datetime):
        zone = value.tzinfo
        if isinstance(zone, ZoneInfo) and zone.key != "UTC":
            return f";TZID={zone.key}", value.strftime("%Y%m%dT%H%M%S")
        return "", value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    if isinstance(value, timedelta):
        return "", f"PT{int(value.total_seconds() // 60)}M"
    if isinstance(value, int):
        return "", str(value)
    if name in TEXT:
        return "", str(value).translate(_TEXT_ESCAPES)
    return "", str(value)


def fold(line: str) -> bytes:
    """A content line folded to lines of at most 75 octets, never inside a UTF-8 character."""
    raw = line.encode()
    if len(raw) <= 75:
        return raw + b"\r\n"
    out, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        out.append(raw[start:end])
        start, limit = end, 74  # continuation lines start with a space
    return b"\r\n ".join(out) + b"\r\n"


def content_line(name: str, value: Any, parameters: Mapping[str, str]) -> bytes:
    extra, text = _value(name, value)
    params = "".join([f";{key}={_param(val)}" for key, val in parameters.items()]) if parameters else ""
    return fold(f"{name}{params}{extra}:{text}")


def component(kind: str, props: list[tuple[str, Any, Mapping[str, str]]]) -> bytes:
    lines = [f"BEGIN:{kind}\r\n".encode()]
    lines += [content_line(name, value, params) for name, value, params in props]
    lines.append(f"END:{kind}\r\n".encode())
    return b"".join(lines)
