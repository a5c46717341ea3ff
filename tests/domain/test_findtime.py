"""domain/findtime.py against plain Python: the vectorised states and ranking give what a
candidate-by-candidate loop over the same rule gives (both ranking paths: levels with few
candidates and with many). People have single meetings and series instances (shared by
several people, each at their level, some with levels of their own per instance); the
loop reads every entry one by one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from roomful_meetings.domain import findtime as f
from roomful_meetings.domain.bitmaps import span
from roomful_meetings.domain.busy import (
    BUSY,
    FREE,
    TENTATIVE,
    Entries,
    Entry,
    Instances,
    SeriesEntries,
    level_over,
)
from roomful_meetings.domain.zones import days_between

ORIGIN = 30_000_000 // 1440 * 1440  # a UTC midnight


def naive_word(person: f.Person, start: int, length: int, before: int, after: int) -> str:
    found = level_over(person.entries, start - before, start + length + after)
    if found == BUSY:
        return f.BUSY_WORD
    if found == TENTATIVE:
        return f.TENTATIVE_WORD
    minutes = range(start - person.origin, start - person.origin + length)
    if any(not person.available >> m & 1 for m in minutes):
        return f.UNAVAILABLE_WORD
    return f.FREE_WORD


LEVELS = st.sampled_from([BUSY, TENTATIVE, FREE])


@st.composite
def instances(draw: st.DrawFn, sid: str, window: int) -> Instances:
    """A series' instances in the window: a daily-ish run, some moved (overlapping others)."""
    first = draw(st.integers(ORIGIN - 600, ORIGIN + window))
    every, length = draw(st.sampled_from([60, 240, 1440])), draw(st.integers(5, 300))
    origs = range(first, ORIGIN + window, every)[: draw(st.integers(0, 8))]
    items = sorted((orig + draw(st.sampled_from([0, 0, 0, -90, 45])), orig, length) for orig in origs)
    return Instances(
        sid,
        tuple(orig for _, orig, _ in items),
        tuple(start for start, _, _ in items),
        tuple(start + length for start, _, length in items),
    )


@st.composite
def series_entries(draw: st.DrawFn, shared: list[Instances]) -> list[SeriesEntries]:
    out = []
    for found in draw(st.lists(st.sampled_from(shared), max_size=3, unique_by=id)) if shared else []:
        own = draw(st.dictionaries(st.sampled_from(found.origs), LEVELS)) if found.origs else {}
        out.append(SeriesEntries(found, draw(LEVELS), own))
    return out


@st.composite
def people(draw: st.DrawFn, window: int) -> list[f.Person]:
    out = []
    shared = [draw(instances(f"s{k}", window)) for k in range(draw(st.integers(0, 3)))]
    for i in range(draw(st.integers(1, 6))):
        singles = [
            Entry(f"m{k}", a, a + draw(st.integers(5, 300)), draw(st.sampled_from([BUSY, TENTATIVE])))
            for k, a in enumerate(draw(st.lists(st.integers(ORIGIN - 300, ORIGIN + window), max_size=6)))
        ]
        entries = Entries(singles, draw(series_entries(shared)))
        available = 0
        for a in draw(st.lists(st.integers(0, window), max_size=5)):
            available |= span(a, min(window, a + draw(st.integers(30, 900))))
        if draw(st.booleans()):
            available = (1 << window) - 1
        out.append(f.Person(f"u{i}", draw(st.booleans()), entries, available, ORIGIN, window))
    return out


@settings(max_examples=max(150, settings().max_examples // 2), deadline=None)
@given(
    st.integers(1, 3).flatmap(lambda days: st.tuples(st.just(days * 1440), people(days * 1440))),
    st.sampled_from([5, 15, 30, 60]),
    st.sampled_from([5, 30, 60, 120]),
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 100),
    st.integers(1, 100),
)
def test_vectorised_equals_one_candidate_at_a_time(
    case: tuple[int, list[f.Person]], step: int, length: int, before: int, after: int, share: int, limit: int
) -> None:
    window, persons = case
    grid = f.candidate_starts(
        days_between("UTC", ORIGIN, ORIGIN + window), ORIGIN, ORIGIN + window, length, step, 0
    )
    assert list(grid.starts) == [
        s for s in range(ORIGIN, ORIGIN + window - length + 1, step) if (s - ORIGIN) % 1440 % step == 0
    ]
    shared: dict[Instances, int] = {}
    states = [f.person_states(p, grid, length, before, after, shared) for p in persons]
    words = [[naive_word(p, s, length, before, after) for p in persons] for s in grid.starts]
    for i, row in enumerate(words):
        assert [state.word(i) for state in states] == row
    expected = []
    for i, row in enumerate(words):
        free = row.count(f.FREE_WORD)
        needed = all(w == f.FREE_WORD for w, p in zip(row, persons, strict=True) if p.required)
        if needed and free * 100 >= share * len(persons):
            expected.append((-free, -row.count(f.TENTATIVE_WORD), i))
    got = f.rank(states, [p.required for p in persons], len(grid.starts), share, limit)
    assert [(-s.free, -s.tentative, s.index) for s in got] == sorted(expected)[:limit]


def test_confidence_is_floored() -> None:
    assert f.confidence(1, 1, 3) == 50  # (1 + 0.5) / 3 = 50 %
    assert f.confidence(2, 0, 3) == 66
    assert f.confidence(0, 1, 3) == 16
