"""Event ids handed back by clients (since=): strictly what Redis accepts as a stream id."""

from __future__ import annotations

import pytest

from roomful_meetings.protocol.event_ids import MAX_PART, parse_event_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0-0", (0, 0)),
        ("1764000000000-3", (1764000000000, 3)),
        (f"{MAX_PART}-{MAX_PART}", (MAX_PART, MAX_PART)),
    ],
)
def test_stream_ids_redis_accepts_are_parsed(text: str, expected: tuple[int, int]) -> None:
    assert parse_event_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1",
        "1-",
        "-1",
        "-",
        "+",
        "$",
        "1-2-3",
        "+1-0",
        "1-+0",
        " 1-0",
        "1-0 ",
        "1-0\n",
        "1\n-0",
        f"{MAX_PART + 1}-0",
        f"0-{MAX_PART + 1}",
        "99999999999999999999999-1",
        "1-99999999999999999999999",
        "0" * 21 + "-0",
        "\u0663-1",  # ARABIC-INDIC DIGIT THREE: str.isdigit() is True
        "\u00b2-1",  # SUPERSCRIPT TWO: isdigit() True, int() fails
        "1-\uff11",  # FULLWIDTH DIGIT ONE: int() accepts it, Redis does not
        "1_0-0",  # int() accepts underscores
    ],
)
def test_anything_else_is_not_an_event_id(text: str) -> None:
    assert parse_event_id(text) is None
