"""The envelope and the payloads, sans-IO: whatever text a client sends, decoding ends in a
request or a 400 that still echoes what it can, never in another exception."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given

from roomful_meetings.protocol.envelope import FrameError, decode_request, encode_error
from roomful_meetings.service.registry import ENDPOINTS
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
