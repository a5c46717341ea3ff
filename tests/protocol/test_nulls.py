"""`null` for an optional field means "not given": taken out where the field does not take
null (a default stands), kept where it does (it may say something there)."""

from __future__ import annotations

import msgspec

from roomful_meetings.protocol import payloads as p
from roomful_meetings.protocol.nulls import without_default_nulls


def test_nulls_of_fields_with_a_default_go_also_inside_lists() -> None:
    data = (
        b'{"attendees": [{"roomful": "bob", "type": null}], "step": null, "timeZone": null, "duration": 60}'
    )
    cleaned = without_default_nulls(data, p.FindMeetingTimes)
    assert msgspec.json.decode(cleaned) == {
        "attendees": [{"roomful": "bob"}],
        "timeZone": None,
        "duration": 60,
    }


def test_nulls_that_say_something_stay() -> None:
    change = b'{"meetingId": "m1", "recurrence": null, "rejectConflicts": null}'
    assert msgspec.json.decode(without_default_nulls(change, p.UpdateMeeting)) == {
        "meetingId": "m1",
        "recurrence": None,  # makes a series a single meeting
    }
    upsert = b'{"users": [{"id": "bob", "email": null}]}'  # clears the email
    assert without_default_nulls(upsert, p.UpsertUsers) == upsert


def test_what_is_no_json_is_left_to_the_typed_decoding() -> None:
    assert without_default_nulls(b'{"step": null', p.FindMeetingTimes) == b'{"step": null'
    assert without_default_nulls(b'{"step": null, "duration": 1e999}', p.FindMeetingTimes).startswith(
        b'{"step"'
    )


def test_a_payload_with_no_field_to_strip_is_left_as_it_is() -> None:
    upsert = b'{"users": [{"id": "bob", "email": null, "firstName": null}]}'
    assert without_default_nulls(upsert, p.UpsertUsers) is upsert  # no pass at all
