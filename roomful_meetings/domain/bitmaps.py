"""Minute bitmaps as Python integers: bit i is minute i of a window (1 = free/available).

Redis keeps them as little-endian bytes (byte i // 8, bit i % 8), so `int.from_bytes(b,
"little")` reads one back with no bit shuffling.
"""

from __future__ import annotations


def ones(count: int) -> int:
    return (1 << count) - 1 if count > 0 else 0


def span(start: int, end: int) -> int:
    """Bits start..end-1 set."""
    return ones(end - start) << start if end > start else 0


def to_bytes(bits: int, length: int) -> bytes:
    return (bits & ones(length)).to_bytes((length + 7) // 8, "little")


def from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "little")


def runs(bits: int, origin: int = 0) -> list[tuple[int, int]]:
    """The maximal runs of set bits as [start, end) pairs, in order, counted from `origin`."""
    out = []
    position = origin
    while bits:
        zeros = (bits & -bits).bit_length() - 1
        bits >>= zeros
        position += zeros
        length = (~bits & (bits + 1)).bit_length() - 1
        out.append((position, position + length))
        bits >>= length
        position += length
    return out


def from_intervals(intervals: list[tuple[int, int]]) -> int:
    bits = 0
    for start, end in intervals:
        bits |= span(start, end)
    return bits


def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged, maximal intervals (touching ones join)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def subtract(runs_: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, disjoint `runs_` minus the `holes` (any order, may overlap): one sweep over
    both lists, which beats painting the holes into a window-long bitmap when there are a
    few hundred of them over a month."""
    out: list[tuple[int, int]] = []
    merged = merge(holes)
    h = 0
    for start, end in runs_:
        while h < len(merged) and merged[h][1] <= start:
            h += 1
        k, cursor = h, start
        while k < len(merged) and merged[k][0] < end:
            if merged[k][0] > cursor:
                out.append((cursor, merged[k][0]))
            cursor = max(cursor, merged[k][1])
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out
