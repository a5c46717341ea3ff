"""domain/rrule.py: every unsupported part and bad combination is a 400 naming the part."""

from __future__ import annotations

import pytest

from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.errors import BadRequest


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("FREQ=HOURLY", "FREQ"),
        ("INTERVAL=2", "FREQ"),
        ("FREQ=DAILY;BYHOUR=9", "BYHOUR"),
        ("FREQ=DAILY;BYWEEKNO=3", "BYWEEKNO"),
        ("FREQ=DAILY;COUNT=2;UNTIL=20300101T000000Z", "COUNT and UNTIL"),
        ("FREQ=DAILY;COUNT=1001", "COUNT"),
        ("FREQ=DAILY;COUNT=0", "COUNT"),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL"),
        ("FREQ=DAILY;UNTIL=20300101", "UNTIL"),
        ("FREQ=DAILY;UNTIL=20300231T000000Z", "UNTIL"),
        ("FREQ=WEEKLY;BYDAY=2MO", "BYDAY"),
        ("FREQ=MONTHLY;BYDAY=6MO", "BYDAY"),
        ("FREQ=MONTHLY;BYDAY=XX", "BYDAY"),
        ("FREQ=WEEKLY;BYMONTHDAY=3", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY"),
        ("FREQ=YEARLY;BYMONTH=13", "BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=-1", "BYMONTH"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30,31", "BYMONTHDAY"),
        ("FREQ=DAILY;BYSETPOS=1", "BYSETPOS"),
        ("FREQ=DAILY;WKST=XX", "WKST"),
        ("FREQ=DAILY;FREQ=WEEKLY", "FREQ"),
        ("FREQ=DAILY;;", "NAME=VALUE"),
        ("FREQ=DAILY;" + "BYMONTH=1;" * 60, "at most"),
    ],
)
def test_bad_rules_are_400_naming_the_part(text: str, part: str) -> None:
    with pytest.raises(BadRequest, match=part):
        parse_rule(text)


def test_rule_text_round_trips() -> None:
    text = "FREQ=MONTHLY;INTERVAL=2;UNTIL=20310101T090000Z;BYDAY=-1FR,2TU;BYSETPOS=1;WKST=SU"
    rule = parse_rule(text.lower())
    assert parse_rule(rule.text()) == rule


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;COUNT=\u0661\u0660",
        "FREQ=MONTHLY;BYDAY=\u0662MO",
        "FREQ=DAILY;UNTIL=\u0662\u0660310101T000000Z",
    ],
)
def test_numbers_in_a_rule_are_ascii_digits(text: str) -> None:
    """Python's \\d and int() take any script's digits; RFC 5545 numbers are ASCII."""
    with pytest.raises(BadRequest):
        parse_rule(text)


def test_an_instance_id_with_non_ascii_digits_is_no_instance() -> None:
    from roomful_meetings.domain.recurrence import parse_instance_id

    assert parse_instance_id("s1_\u0662\u0660310106T0900Z") is None
