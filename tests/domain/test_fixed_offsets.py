"""Fixed-offset zones ("+05:30"): ASCII, within a day, nothing after (issue 13's `$` audit)."""

from __future__ import annotations

import pytest

from roomful_meetings.domain.zones import FIXED_OFFSET, is_valid_zone


@pytest.mark.parametrize("zone", ["+00:00", "+05:30", "-23:59", "+14:00", "-12:00"])
def test_offsets_within_a_day_are_zones(zone: str) -> None:
    assert FIXED_OFFSET.match(zone) and is_valid_zone(zone)


@pytest.mark.parametrize(
    "zone",
    ["+05:00\n", "\n+05:00", "+24:00", "+99:99", "+05:60", "+\u0660\u0665:00", "+5:00", "05:00", "+05:00:00"],
)
def test_anything_else_is_not_a_fixed_offset(zone: str) -> None:
    assert not FIXED_OFFSET.match(zone)
    assert not is_valid_zone(zone)
