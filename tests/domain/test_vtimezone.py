"""domain/vtimezone.py: each VTIMEZONE, read back by icalendar and by vobject (dateutil's
reader, the one Radicale uses), gives the offsets zoneinfo gives, every hour of the span."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import vobject

from roomful_meetings.domain.vtimezone import vtimezone

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Asia/Tokyo", "UTC"]
FIRST, LAST = date(2031, 1, 28), date(2032, 4, 1)


@pytest.mark.parametrize("name", ZONES)
def test_the_vtimezone_gives_the_zone_offsets_through_its_span(name: str) -> None:
    text = vtimezone(name, FIRST, LAST).to_ical().decode()
    read = vobject.readOne("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n" + text + "END:VCALENDAR\r\n")
    theirs = read.vtimezone.gettzinfo()
    zone = ZoneInfo(name)
    at = datetime.combine(FIRST, datetime.min.time(), UTC)
    while at.date() < LAST:
        wall = at.astimezone(zone).replace(tzinfo=None)
        if wall.replace(tzinfo=zone, fold=1).utcoffset() == wall.replace(tzinfo=zone, fold=0).utcoffset():
            assert wall.replace(tzinfo=theirs).utcoffset() == at.astimezone(zone).utcoffset(), (name, wall)
        at += timedelta(hours=1)


def test_a_zone_with_dst_is_written_as_two_yearly_rules() -> None:
    text = vtimezone("Europe/London", FIRST, LAST).to_ical().decode()
    assert (
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text and "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    )
    assert "RDATE" not in text
