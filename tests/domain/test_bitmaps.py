from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.domain.bitmaps import from_bytes, from_intervals, merge, runs, to_bytes

intervals = st.lists(
    st.tuples(st.integers(0, 3000), st.integers(0, 3000)).map(sorted).map(tuple), max_size=30
)


@given(intervals)
def test_runs_of_a_bitmap_are_its_merged_intervals(items: list[tuple[int, int]]) -> None:
    assert runs(from_intervals(items)) == merge(items)


@given(intervals)
def test_merging_is_idempotent_and_order_free(items: list[tuple[int, int]]) -> None:
    once = merge(items)
    assert merge(once) == once
    assert merge(list(reversed(items))) == once
    assert all(a < b for a, b in once)
    assert all(once[i][1] < once[i + 1][0] for i in range(len(once) - 1))  # maximal: gaps between


@given(st.integers(0, 2**1500 - 1), st.integers(1, 1500))
def test_bytes_round_trip(bits: int, length: int) -> None:
    bits &= (1 << length) - 1
    data = to_bytes(bits, length)
    assert len(data) == (length + 7) // 8
    assert from_bytes(data) == bits


@given(intervals, intervals)
def test_subtracting_holes_equals_masking_them_out(
    free: list[tuple[int, int]], holes: list[tuple[int, int]]
) -> None:
    from roomful_meetings.domain.bitmaps import subtract

    free_bits = from_intervals(free)
    expected = runs(free_bits & ~from_intervals(holes))
    assert subtract(runs(free_bits), holes) == expected


@given(st.integers(0, 2**300 - 1), st.integers(-500, 500))
def test_runs_can_be_counted_from_an_origin(bits: int, origin: int) -> None:
    assert runs(bits, origin) == [(a + origin, b + origin) for a, b in runs(bits)]
