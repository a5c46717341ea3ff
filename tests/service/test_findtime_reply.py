"""findMeetingTimes' reply, assembled from per-person JSON fragments picked by the states'
codes (service/findtime.py `answer`), is byte for byte what encoding the MeetingTimesReply
Structs gives, built from each person's words one by one (user ids that JSON must escape
included)."""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from roomful_meetings.domain import findtime as f
from roomful_meetings.domain.zones import days_between, offset_table
from roomful_meetings.protocol.replies import AttendeeAvailability, MeetingTimesReply, TimeSuggestion
from roomful_meetings.service.findtime import Search, answer
from tests.domain.test_findtime import ORIGIN, people

IDS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)


def expected(search: Search, grid: f.Grid, persons: list[f.Person], states: list[f.States]) -> bytes:
    required = [person.required for person in persons]
    chosen = f.rank(states, required, len(grid.starts), search.percentage, search.limit)
    if not chosen:
        reason = f.empty_reason(search.given, len(persons), None if search.organizer_optional else states[0])
        return msgspec.json.encode(MeetingTimesReply([], reason))
    table = offset_table(search.zone, search.start, search.end)
    return msgspec.json.encode(
        MeetingTimesReply(
            [
                TimeSuggestion(
                    table.format(grid.starts[s.index]),
                    table.format(grid.starts[s.index] + search.duration),
                    f.confidence(s.free, s.tentative, len(persons)),
                    [
                        AttendeeAvailability(p.user_id, person.word(s.index))
                        for p, person in zip(persons, states, strict=True)
                    ],
                )
                for s in chosen
            ],
            "",
        )
    )


@settings(max_examples=max(100, settings().max_examples // 2), deadline=None)
@given(
    st.integers(1, 2).flatmap(lambda days: st.tuples(st.just(days * 1440), people(days * 1440))),
    st.lists(IDS, min_size=6, max_size=6, unique=True),
    st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York"]),
    st.sampled_from([15, 30, 60]),
    st.integers(0, 100),
    st.integers(1, 100),
    st.booleans(),
)
def test_the_assembled_reply_is_the_encoded_structs(
    case: tuple[int, list[f.Person]],
    ids: list[str],
    zone: str,
    length: int,
    share: int,
    limit: int,
    organizer_optional: bool,
) -> None:
    window, drawn = case
    persons = [
        f.Person(uid, p.required, p.entries, p.available, p.origin, p.window)
        for uid, p in zip(ids, drawn, strict=False)
    ]
    start, end = ORIGIN, ORIGIN + window
    search = Search(zone, start, end, start, length, 30, 0, 0, share, limit, organizer_optional, len(persons))
    grid = f.candidate_starts(days_between(zone, start, end), start, end, length, 30, start)
    states = [f.person_states(p, grid, length, 0, 0) for p in persons]
    counted = [(p.user_id, p.required) for p in persons]
    got = msgspec.json.encode(answer(search, grid, counted, states, len(persons)))
    assert got == expected(search, grid, persons, states)
