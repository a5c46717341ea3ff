"""Hostile frames for the fuzz tests: random JSON, mutated requests, deep nesting, binary.

Request data is always "poisoned" with an unknown field or a wrong type, so no frame here
can be a valid change: every one must be refused with a contract error and change nothing.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

from roomful_meetings.service.endpoints import ENDPOINTS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=15,
)


def poisoned(data: object) -> object:
    return {**data, "\u0000unknown": 1} if isinstance(data, dict) else data


mutated = st.builds(
    lambda endpoint, data, event: json.dumps({"endpoint": endpoint, "data": poisoned(data), "event": event}),
    st.sampled_from(sorted(ENDPOINTS)) | st.text(max_size=30),
    json_values,
    st.none() | st.fixed_dictionaries({"id": st.text(max_size=20)}) | json_values,
)
text_frames = st.one_of(
    mutated,
    st.text(max_size=200),
    st.integers(1, 5000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 5000).map(lambda n: '{"endpoint":"meeting:getMeeting","data":' + "{" * n + "}" * n + "}"),
    # Valid JSON nested deeply (the line above is malformed after one level, so it never was).
    st.integers(1, 5000).map(lambda n: '{"endpoint":"meeting:getMeeting","data":' + "[" * n + "]" * n + "}"),
    st.integers(1, 5000).map(lambda n: '{"endpoint":"x","event":' + '{"a":' * n + "1" + "}" * n + "}"),
    st.sampled_from(
        ["1e999999", "-1e999999", "9" * 5000, '{"endpoint":"meeting:getMeeting","data":{"meetingId":1e999}}']
    ),
)
frames = text_frames | st.binary(max_size=64)
