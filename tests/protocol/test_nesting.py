"""The explicit bound on nesting, checked against Python's own json module."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.protocol.envelope import FrameError, decode_request
from roomful_meetings.protocol.nesting import MAX_NESTING, nesting_depth, too_deep

# Strings full of brackets and escapes: they must not count.
tricky_text = st.text(alphabet='[]{}"\\ab\u00e9\n', max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=30,
)


def reference_depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    return 0


@given(json_values)
def test_depth_is_what_json_parses(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False).encode()
    assert nesting_depth(text) == reference_depth(value)
    assert too_deep(text, limit=2) == too_deep(text.decode(), limit=2) == (reference_depth(value) > 2)


def frame_nested(levels: int) -> str:
    """A getMeeting request whose frame nests `levels` deep (the envelope is level 1)."""
    inner = '{"a":' * (levels - 2) + "1" + "}" * (levels - 2)
    return '{"endpoint":"meeting:getMeeting","data":{"meetingId":"m","x":' + inner + "}}"


def test_the_frame_at_the_limit_is_decoded_and_one_more_level_is_refused() -> None:
    assert nesting_depth(frame_nested(MAX_NESTING).encode()) == MAX_NESTING
    assert decode_request(frame_nested(MAX_NESTING)).endpoint == "meeting:getMeeting"
    with pytest.raises(FrameError, match=f"more than {MAX_NESTING} levels"):
        decode_request(frame_nested(MAX_NESTING + 1))


@pytest.mark.parametrize("levels", [500, 1000, 100_000])
@pytest.mark.parametrize("bracket", ["[]", "{}"])
def test_deep_frames_are_a_400_not_a_recursion_error(levels: int, bracket: str) -> None:
    opening, closing = bracket[0], bracket[1]
    body = opening * levels + closing * levels
    for frame in (
        body,
        f'{{"endpoint":"meeting:getMeeting","data":{body}}}',
        f'{{"endpoint":"x","event":{body}}}',
    ):
        with pytest.raises(FrameError) as raised:
            decode_request(frame)
        assert raised.value.code == 400
