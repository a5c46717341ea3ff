"""findMeetingTimes (contract 10): candidates, each person's state at each, ranking (pure).

Everything is vectorised over candidates: per person, one Python integer per state (bit i
= candidate i), built from one bisection per busy entry and per unavailable run; counts
of free and tentative people per candidate are bit-sliced counters (a binary number per
candidate, one integer per bit), so 17,856 candidates x 100 people costs a few thousand
big-integer operations, not 1.8 million Python steps. Each person's word at every
candidate is also kept as one byte string (`States.codes`), so that the words of the
chosen candidates are C-level indexing, not a bit test per person and candidate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from roomful_meetings.domain.bitmaps import ones
from roomful_meetings.domain.busy import Entries, Instances, candidate_levels, touched
from roomful_meetings.domain.zones import LocalDay

FREE_WORD: Final = "free"
TENTATIVE_WORD: Final = "tentative"
BUSY_WORD: Final = "busy"
UNAVAILABLE_WORD: Final = "unavailable"
NOT_FOUND: Final = "attendeesNotFound"
ORGANIZER_UNAVAILABLE: Final = "organizerUnavailable"
ATTENDEES_UNAVAILABLE: Final = "attendeesUnavailable"
# A candidate's word is WORDS[code]: the codes of States.codes, by priority.
WORDS: Final = (FREE_WORD, TENTATIVE_WORD, BUSY_WORD, UNAVAILABLE_WORD)
_ONES: Final = re.compile("1+")
# A level mask with at most this many candidates is ranked candidate by candidate;
# a larger one level by level of tentative count (both bounded).
SMALL_LEVEL: Final = 256


@dataclass(frozen=True, slots=True, eq=False)
class Grid:
    """The candidate starts of one search, ascending; equal (and hashed) by what made them,
    so that per-person results can be cached without hashing thousands of starts."""

    starts: tuple[int, ...]
    made_from: tuple[object, ...]

    def __hash__(self) -> int:
        return hash(self.made_from)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.made_from == other.made_from


def candidate_starts(
    days: Sequence[LocalDay], start: int, end: int, length: int, step: int, earliest: int
) -> Grid:
    """Each local midnight plus multiples of `step` elapsed minutes (up to the next
    midnight), lying wholly inside [start, end) and not before `earliest`; ascending."""
    out: list[int] = []
    midnights = []
    for day in days:
        first = max(day.start, start, earliest)
        # the first multiple of step from this midnight at or after `first`
        minute = day.start + -(-(first - day.start) // step) * step
        stop = min(day.end, end - length + 1)
        out.extend(range(minute, stop, step))
        midnights.append(day.start)
    return Grid(tuple(out), (tuple(midnights), max(start, earliest), end, length, step))


@dataclass(frozen=True, slots=True)
class Person:
    """One counted person: their busy entries and available minutes (bit 0 = `origin`)."""

    user_id: str
    required: bool
    entries: Entries
    available: int
    origin: int
    window: int  # length of `available` in minutes


@dataclass(frozen=True, slots=True)
class States:
    """One person's candidate bitmaps, disjoint: busy, tentative, unavailable; free is the
    rest. `codes` holds the same as one byte per candidate: the index of its word in WORDS."""

    busy: int
    tentative: int
    unavailable: int
    free: int
    codes: bytes

    def word(self, index: int) -> str:
        return WORDS[self.codes[index]]

    def size(self) -> int:
        """Bytes held, about (for bounded caches)."""
        bits = self.busy.bit_length() + self.tentative.bit_length() + self.unavailable.bit_length()
        return (bits + self.free.bit_length()) // 8 + len(self.codes) + 200


def person_states(
    person: Person,
    grid: Grid,
    length: int,
    before: int,
    after: int,
    shared: dict[Instances, int] | None = None,
) -> States:
    """One person's word at each candidate, as four disjoint bitmaps and their codes. Pass
    the same `shared` for every person of one search: each series is worked out once."""
    starts = grid.starts
    everyone = ones(len(starts))
    busy, tentative = candidate_levels(person.entries, starts, length, before, after, shared)
    away = 0
    for a, b in _away_runs(person.available, person.origin, person.window):
        away |= touched(starts, a, b, length)
    unavailable = away & ~busy & ~tentative
    free = everyone & ~(busy | tentative | unavailable)
    return States(busy, tentative, unavailable, free, _codes(tentative, busy, unavailable, len(starts)))


def _codes(tentative: int, busy: int, unavailable: int, count: int) -> bytes:
    """Byte i = candidate i's code: bit 0 of the code is tentative-or-unavailable, bit 1
    busy-or-unavailable (the three are disjoint). Each is written as binary text ("0"/"1",
    candidate count-1 first) and read back as a big-endian integer, so that byte i holds
    candidate i's digit plus ord("0"); the digits are summed and the "0"s taken off in
    integer arithmetic (no carries: every byte stays 0..3). All C-level, about 70 us for
    17,856 candidates."""
    if not count:
        return b""
    low = int.from_bytes(format(tentative | unavailable, f"0{count}b").encode(), "big")
    high = int.from_bytes(format(busy | unavailable, f"0{count}b").encode(), "big")
    return (low + 2 * high - 3 * _zeros(count)).to_bytes(count, "little")


@lru_cache(maxsize=64)
def _zeros(count: int) -> int:
    """The integer of `count` bytes b"0"."""
    return int.from_bytes(b"0" * count, "big")


@lru_cache(maxsize=8192)
def _away_runs(available: int, origin: int, window: int) -> list[tuple[int, int]]:
    """The runs of unavailable minutes. Read with a regular expression over the binary
    text (C speed): bitmaps.runs shifts a window-long integer per run, 2 ms for 62 days."""
    text = format(~available & ones(window), f"0{window}b")[::-1]  # minute 0 first
    return [(origin + m.start(), origin + m.end()) for m in _ONES.finditer(text)]


def _add(slices: list[int], bits: int) -> None:
    """Add 1 to the counter of every candidate in `bits` (a ripple-carry over bit slices)."""
    for j in range(len(slices)):
        if not bits:
            return
        slices[j], bits = slices[j] ^ bits, slices[j] & bits
    if bits:
        raise AssertionError("counter overflow")  # sized for the number of people


def _equal(slices: list[int], value: int, everyone: int) -> int:
    out = everyone
    for j, bits in enumerate(slices):
        out &= bits if value >> j & 1 else ~bits
    return out


def _value(slices: list[int], index: int) -> int:
    return sum((bits >> index & 1) << j for j, bits in enumerate(slices))


def _indices(bits: int) -> list[int]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out


@dataclass(frozen=True, slots=True)
class Suggestion:
    index: int  # into the candidate starts
    free: int
    tentative: int


def rank(
    states: Sequence[States], required: Sequence[bool], count: int, percentage: int, limit: int
) -> list[Suggestion]:
    """The best `limit` qualifying candidates: every required person free, free share at
    least `percentage`; by free people (desc), tentative people (desc), then start."""
    everyone = ones(count)
    qualify = everyone
    width = max(len(states), 1).bit_length()
    free_count, tentative_count = [0] * width, [0] * width
    for person, needed in zip(states, required, strict=True):
        if needed:
            qualify &= person.free
        _add(free_count, person.free)
        _add(tentative_count, person.tentative)
    out: list[Suggestion] = []
    people = len(states)
    least = -(-percentage * people // 100)  # free * 100 >= percentage * people
    for free in range(people, least - 1, -1):
        level = qualify & _equal(free_count, free, everyone)
        if level:
            out += _rank_level(level, tentative_count, free, people - free, everyone, limit - len(out))
        if len(out) >= limit:
            break
    return out


def _rank_level(
    level: int, tentative_count: list[int], free: int, most: int, everyone: int, limit: int
) -> list[Suggestion]:
    """Candidates with the same free count, by tentative count (desc) then start."""
    if level.bit_count() <= SMALL_LEVEL:
        found = [Suggestion(i, free, _value(tentative_count, i)) for i in _indices(level)]
        found.sort(key=lambda s: (-s.tentative, s.index))
        return found[:limit]
    out: list[Suggestion] = []
    for tentative in range(most, -1, -1):
        bits = level & _equal(tentative_count, tentative, everyone)
        while bits and len(out) < limit:
            low = bits & -bits
            out.append(Suggestion(low.bit_length() - 1, free, tentative))
            bits ^= low
        if len(out) >= limit:
            break
    return out


def confidence(free: int, tentative: int, counted: int) -> int:
    """floor(100 * (free + tentative / 2) / counted), in integers."""
    return (200 * free + 100 * tentative) // (2 * counted)


def empty_reason(given: int, matched: int, organizer: States | None) -> str:
    """Why there is no suggestion (contract 10's order of reasons)."""
    if given and not matched:
        return NOT_FOUND
    if organizer is not None and not organizer.free:
        return ORGANIZER_UNAVAILABLE
    return ATTENDEES_UNAVAILABLE
