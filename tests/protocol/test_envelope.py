"""The envelope and the payloads, sans-IO: whatever text a client sends, decoding ends in a
request or a 400 that still echoes what it can, never in another exception; and the
hostile-input rules (issue 13) at their boundaries."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given

from roomful_meetings.errors import BadRequest
from roomful_meetings.protocol.envelope import (
    MAX_EVENT_ID,
    MAX_QUOTED,
    FrameError,
    decode_event_ref,
    decode_request,
    describe_validation_error,
    encode_error,
    quoted,
)
from roomful_meetings.protocol.payloads import MeetingRef, cut_long_fractions
from roomful_meetings.service.endpoints import ENDPOINTS
from tests.frames import text_frames


@given(text_frames)
def test_any_text_decodes_to_a_request_or_a_400_that_echoes_what_it_can(frame: str) -> None:
    try:
        request = decode_request(frame)
    except FrameError as refused:
        assert refused.code == 400 and refused.message
        answer = json.loads(encode_error(refused.endpoint, refused.event, refused))
        assert answer["error"] == {"status": True, "code": 400, "message": refused.message}
        return
    spec = ENDPOINTS.get(request.endpoint)
    if spec is None or bytes(request.data) == b"null":
        return  # unknown endpoint (404) or no data: not a payload question
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        spec.decoder.decode(request.data)  # poisoned: never a valid payload


def test_the_event_is_echoed_byte_for_byte_even_when_the_data_is_refused() -> None:
    frame = '{"endpoint": "meeting:getMeeting", "data": 7, "event": {"id": "c-1",  "x": [1]}}'
    request = decode_request(frame)
    assert bytes(request.event) == b'{"id": "c-1",  "x": [1]}'


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        ("[]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"data": {}}', "`frame`"),
        ('{"endpoint": "meeting:getMeeting", "event": 5}', "`event` must be an object"),
    ],
)
def test_a_frame_that_is_no_request_is_a_400_saying_why(frame: str, needle: str) -> None:
    with pytest.raises(FrameError) as refused:
        decode_request(frame)
    assert needle in refused.value.message


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


def test_only_timestamp_fields_lose_their_fraction_past_6_digits() -> None:
    data = (
        b'{"startDate": "2030-03-04T09:59:59.9999999Z", "endDate": "2030-03-04T10:00:00.5+01:00",'
        b' "localDate":"2030-03-04t23:59:59.123456789-05:00", "subject": "at 09:59:59.9999999Z",'
        b' "description": "\\"endDate\\": \\"2030-03-04T09:59:59.9999999Z\\""}'
    )
    assert cut_long_fractions(data) == (
        b'{"startDate": "2030-03-04T09:59:59.999999Z", "endDate": "2030-03-04T10:00:00.5+01:00",'
        b' "localDate":"2030-03-04t23:59:59.123456-05:00", "subject": "at 09:59:59.9999999Z",'
        b' "description": "\\"endDate\\": \\"2030-03-04T09:59:59.9999999Z\\""}'
    )


def test_a_lone_surrogate_in_the_data_is_refused_with_the_event_echoed() -> None:
    # JSON.stringify("Party 🎉".slice(0, 7)) writes "\ud83c": valid JSON no UTF-8 can say.
    # The client matches the 400 to its request by the event.
    frame = (
        '{"endpoint": "meeting:createMeeting", "event": {"id": "c-9"}, "data": {"subject": "Party \\ud83c"}}'
    )
    with pytest.raises(FrameError) as refused:
        decode_request(frame)
    assert "not valid JSON" in refused.value.message
    assert refused.value.endpoint == "meeting:createMeeting"
    assert refused.value.event is not None and json.loads(bytes(refused.value.event)) == {"id": "c-9"}


def test_a_lone_surrogate_in_the_event_or_endpoint_is_not_echoed() -> None:
    with pytest.raises(FrameError) as refused:
        decode_request('{"endpoint": "x\\ud800", "event": {"id": "c-\\ud800"}, "data": {}}')
    assert refused.value.endpoint is None and refused.value.event is None
