"""domain/busy.py's series path against the plain reading: a person's entries one by one
(`Entries` iterated, each series instance under its instance id) give the same
rejectConflicts answer as the series worked out once for everyone (`Intervals`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain import findtime as f
from roomful_meetings.domain.busy import BLOCKING, Entries, Intervals, blocks_any, is_own
from roomful_meetings.domain.recurrence import instance_id
from tests.domain.test_findtime import ORIGIN, people


def plain(entries: Entries, times: list[tuple[int, int]], ignore: set[str]) -> bool:
    return any(
        entry.level >= BLOCKING
        and any(a < entry.end and b > entry.start for a, b in times)
        and not is_own(entry.meeting_id, ignore)
        for entry in entries
    )


@given(
    people(3 * 1440),
    st.lists(st.tuples(st.integers(ORIGIN - 600, ORIGIN + 3 * 1440), st.integers(5, 600)), max_size=12),
    st.sets(st.sampled_from(["s0", "s1", "m0", "m3", "other"])),
    st.booleans(),
)
def test_series_checked_once_give_the_plain_answer(
    persons: list[f.Person], times: list[tuple[int, int]], ignore: set[str], one_instance: bool
) -> None:
    intervals = sorted((a, a + length) for a, length in times)
    if one_instance:  # an instance id among the ignored: that instance alone is left out
        for person in persons:
            for series in person.entries.series:
                if series.instances.origs:
                    ignore.add(instance_id(series.instances.sid, series.instances.origs[0]))
    against = Intervals(intervals)  # shared by everyone, as service/conflicts.py does
    for person in persons:
        assert blocks_any(person.entries, against, ignore=ignore) == plain(person.entries, intervals, ignore)
