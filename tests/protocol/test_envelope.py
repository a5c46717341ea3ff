"""The envelope's hostile-input rules, without sockets (issue 13)."""

from __future__ import annotations

import msgspec
import pytest

from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol.envelope import (
    MAX_EVENT_ID,
    MAX_QUOTED,
    FrameError,
    decode_event_ref,
    decode_request,
    describe_validation_error,
    quoted,
)
from roomful_meetings.protocol.payloads import MeetingRef
from roomful_meetings.service.registry import ENDPOINTS


def test_quoted_text_is_cut_short_and_says_how_long_it_was() -> None:
    assert quoted("x" * MAX_QUOTED) == "x" * MAX_QUOTED
    assert quoted("x" * 900_000) == "x" * MAX_QUOTED + "... (900000 characters)"


def test_an_unknown_field_is_named_briefly_with_its_path() -> None:
    decoder = ENDPOINTS["meeting:getMeeting"].decoder
    assert decoder.type is MeetingRef
    with pytest.raises(msgspec.ValidationError) as raised:
        decoder.decode(b'{"meetingId":"m","' + b"k" * 5000 + b'":1}')
    message = describe_validation_error(raised.value, "data")
    assert message.endswith("(5032 characters) - at `data`") and len(message) < 2 * MAX_QUOTED


@pytest.mark.parametrize(
    "event", [b'{"id":"' + b"x" * (MAX_EVENT_ID + 1) + b'"}', b'{"id":9223372036854775808}']
)
def test_an_event_id_too_long_for_a_retry_key_is_a_400(event: bytes) -> None:
    with pytest.raises(BadRequest, match=r"`event\.id`"):
        decode_event_ref(msgspec.Raw(event))


def test_an_event_id_at_the_limit_is_read() -> None:
    ref = decode_event_ref(msgspec.Raw(b'{"id":"' + b"x" * MAX_EVENT_ID + b'"}'))
    assert ref is not None and ref.id == "x" * MAX_EVENT_ID


@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udc00b"', '"\\ud800\\u0041"'])
def test_a_lone_surrogate_is_not_json_text(text: str) -> None:
    with pytest.raises(FrameError, match="not valid JSON"):
        decode_request(
            '{"endpoint":"meeting:getMeeting","data":{"meetingId":"m"},"event":{"id":' + text + "}}"
        )
