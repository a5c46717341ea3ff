"""RFC 5545 recurrence rules (contract 9): parse and validate an RRULE value (pure).

Only the parts the contract lists are accepted; everything else, every combination RFC 5545
forbids and every BY part that can never meet is a 400 that names the part. The parsed
`Rule` keeps what was given (no defaults taken from a start), so it can be written back as
canonical text and expanded from any period start (domain/recurrence.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Final

from roomful_meetings.domain.time import EPOCH
from roomful_meetings.errors import BadRequest

MAX_RULE_LENGTH: Final = 500
MAX_COUNT: Final = 1000
MAX_INTERVAL: Final = 1000
FREQS: Final = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
DAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SUPPORTED: Final = (
    "FREQ",
    "INTERVAL",
    "COUNT",
    "UNTIL",
    "BYDAY",
    "BYMONTHDAY",
    "BYMONTH",
    "BYSETPOS",
    "WKST",
)
_BYDAY_ITEM: Final = re.compile(r"\A([+-]?)(\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)\Z", re.ASCII)
_UNTIL: Final = re.compile(r"\A(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z\Z", re.ASCII)
# The most days a month can have (February: 29), to refuse BYMONTH/BYMONTHDAY that never meet.
_MONTH_DAYS: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated rule, as given (no defaults from the start filled in)."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: int | None = None  # epoch minute, inclusive
    byday: tuple[tuple[int, int], ...] = ()  # (ordinal or 0, weekday 0 = Monday)
    bymonthday: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int = 0

    def text(self) -> str:
        """The canonical RRULE text (parts in a fixed order, defaults left out)."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            t = EPOCH + timedelta(minutes=self.until)
            parts.append(f"UNTIL={t:%Y%m%dT%H%M}00Z")
        if self.byday:
            parts.append("BYDAY=" + ",".join(f"{n or ''}{DAYS[d]}" for n, d in self.byday))
        for name, values in (("BYMONTHDAY", self.bymonthday), ("BYMONTH", self.bymonth)):
            if values:
                parts.append(f"{name}=" + ",".join(map(str, values)))
        if self.bysetpos:
            parts.append("BYSETPOS=" + ",".join(map(str, self.bysetpos)))
        if self.wkst:
            parts.append(f"WKST={DAYS[self.wkst]}")
        return ";".join(parts)


def _bad(where: str, message: str) -> BadRequest:
    return BadRequest(f"`{where}`: {message}")


def _int(where: str, name: str, text: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[+-]?[0-9]{1,5}", text) or not low <= int(text) <= high:
        raise _bad(where, f"{name} must be a whole number from {low} to {high}, got {text!r}")
    return int(text)


def _int_list(where: str, name: str, text: str, low: int, high: int) -> tuple[int, ...]:
    values = tuple(dict.fromkeys(_int(where, name, item, -high, high) for item in text.split(",")))
    for value in values:
        if value == 0 or (value < 0 and low > 0) or abs(value) < abs(low):
            raise _bad(where, f"{name} value {value} is out of range")
    return tuple(sorted(values))


def _byday(where: str, text: str) -> tuple[tuple[int, int], ...]:
    out = []
    for item in text.split(","):
        match = _BYDAY_ITEM.match(item)
        if not match:
            raise _bad(where, f"BYDAY item {item!r} is not like MO, 2TU or -1FR")
        sign, number, day = match.groups()
        ordinal = int(number) * (-1 if sign == "-" else 1) if number else 0
        if number is not None and not 1 <= int(number) <= 53:
            raise _bad(where, f"BYDAY ordinal in {item!r} must be 1..53 or -53..-1")
        out.append((ordinal, DAYS.index(day)))
    return tuple(sorted(dict.fromkeys(out)))


def _until(where: str, text: str) -> int:
    match = _UNTIL.match(text)
    if not match:
        raise _bad(where, f"UNTIL must be a UTC instant like 20311231T235900Z, got {text!r}")
    try:
        year, month, day, hour, minute, second = map(int, match.groups())
        instant = datetime(year, month, day, hour, minute, second, tzinfo=EPOCH.tzinfo)
    except ValueError:
        raise _bad(where, f"UNTIL {text!r} is not a valid date") from None
    return int((instant - EPOCH).total_seconds()) // 60


@lru_cache(maxsize=1024)
def parse_rule(text: str, where: str = "data.recurrence.rule") -> Rule:
    """Parse and validate an RRULE value; 400 naming the part that is wrong. Cached: every
    series state read parses its stored rule, and most series share a few rules."""
    if len(text) > MAX_RULE_LENGTH:
        raise _bad(where, f"a rule may be at most {MAX_RULE_LENGTH} characters")
    text = text.strip().upper()
    if text.startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        if not sep or not name or not value:
            raise _bad(where, f"{part!r} is not NAME=VALUE")
        if name not in SUPPORTED:
            raise _bad(where, f"{name} is not supported (supported: {', '.join(SUPPORTED)})")
        if name in parts:
            raise _bad(where, f"{name} is given twice")
        parts[name] = value
    if "FREQ" not in parts:
        raise _bad(where, "FREQ is required")
    freq = parts["FREQ"]
    if freq not in FREQS:
        raise _bad(where, f"FREQ={freq} is not supported (DAILY, WEEKLY, MONTHLY or YEARLY)")
    rule = Rule(freq=freq)
    if "INTERVAL" in parts:
        rule = replace(rule, interval=_int(where, "INTERVAL", parts["INTERVAL"], 1, MAX_INTERVAL))
    if "COUNT" in parts and "UNTIL" in parts:
        raise _bad(where, "COUNT and UNTIL cannot both be given")
    if "COUNT" in parts:
        rule = replace(rule, count=_int(where, "COUNT", parts["COUNT"], 1, MAX_COUNT))
    if "UNTIL" in parts:
        rule = replace(rule, until=_until(where, parts["UNTIL"]))
    if "BYDAY" in parts:
        rule = replace(rule, byday=_byday(where, parts["BYDAY"]))
    if "BYMONTHDAY" in parts:
        rule = replace(rule, bymonthday=_int_list(where, "BYMONTHDAY", parts["BYMONTHDAY"], -1, 31))
    if "BYMONTH" in parts:
        rule = replace(rule, bymonth=_int_list(where, "BYMONTH", parts["BYMONTH"], 1, 12))
    if "BYSETPOS" in parts:
        rule = replace(rule, bysetpos=_int_list(where, "BYSETPOS", parts["BYSETPOS"], -1, 366))
    if "WKST" in parts:
        if parts["WKST"] not in DAYS:
            raise _bad(where, f"WKST must be one of {', '.join(DAYS)}")
        rule = replace(rule, wkst=DAYS.index(parts["WKST"]))
    _check_combination(rule, where)
    return rule


def _check_combination(rule: Rule, where: str) -> None:
    """The combinations RFC 5545 forbids, and BY parts that can never meet."""
    ordinals = [n for n, _ in rule.byday if n]
    if ordinals and rule.freq not in ("MONTHLY", "YEARLY"):
        raise _bad(where, "BYDAY ordinals (like 2TU) need FREQ=MONTHLY or YEARLY")
    in_month = rule.freq == "MONTHLY" or bool(rule.bymonth)
    if in_month and any(abs(n) > 5 for n in ordinals):
        raise _bad(where, "BYDAY ordinals within a month must be 1..5 or -5..-1")
    if rule.bymonthday and rule.freq == "WEEKLY":
        raise _bad(where, "BYMONTHDAY cannot be used with FREQ=WEEKLY")
    if rule.bysetpos and not (rule.byday or rule.bymonthday or rule.bymonth):
        raise _bad(where, "BYSETPOS needs BYDAY, BYMONTHDAY or BYMONTH beside it")
    if rule.bymonth and rule.bymonthday:
        fits = any(abs(day) <= _MONTH_DAYS[month - 1] for month in rule.bymonth for day in rule.bymonthday)
        if not fits:
            raise _bad(where, "BYMONTHDAY names no day that the months of BYMONTH have")
