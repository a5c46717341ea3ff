"""The instances of a series (pure): their objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from roomful_meetings.domain.instances import SeriesState, instance_object
from roomful_meetings.domain.recurrence import Series
from roomful_meetings.domain.rrule import parse_rule
from roomful_meetings.domain.time import to_minute

FIRST = to_minute(datetime(2030, 3, 4, 9, tzinfo=UTC), "start")


def state(own: dict[str, Any]) -> SeriesState:
    series = Series(parse_rule("FREQ=DAILY;COUNT=3"), "UTC", FIRST, 30)
    return SeriesState("s1", "v1", series, "alice", ("alice",), {}, {FIRST: own}, frozenset(), {})


@pytest.mark.parametrize(
    ("series_updated", "own_updated", "shown"),
    [
        # made at 10:00:20 (written to the minute), one instance renamed at 10:00:00.500
        ("2030-03-04T10:00:00Z", "2030-03-04T10:00:00.500Z", "2030-03-04T10:00:00.500Z"),
        ("2030-03-04T10:00:00Z", "2030-03-04T10:01:00.000Z", "2030-03-04T10:01:00.000Z"),
        # the series changed after the instance did: the series' change shows
        ("2030-03-04T10:05:00.000Z", "2030-03-04T10:00:00.500Z", "2030-03-04T10:05:00.000Z"),
        ("2030-03-04T10:00:00Z", None, "2030-03-04T10:00:00Z"),
    ],
)
def test_an_instance_shows_the_later_of_its_own_change_and_its_series(
    series_updated: str, own_updated: str | None, shown: str
) -> None:
    own = {"subject": "Renamed"} if own_updated is None else {"subject": "Renamed", "updated": own_updated}
    series_object = {"updated": series_updated, "participantIds": ["alice"]}
    assert instance_object(series_object, state(own), FIRST)["updated"] == shown
