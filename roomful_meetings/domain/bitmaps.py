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


def runs(bits: int) -> list[tuple[int, int]]:
    """The maximal runs of set bits as [start, end) pairs, in order."""
    out = []
    position = 0
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


def paint(flat: list[int], origin: int, length: int) -> int:
    """The bitmap of many intervals, given flat as [start, end, start, end, ...] minutes and
    clipped to [origin, origin + length). One linear pass: painting a text of binary digits
    and parsing it once beats a big-integer OR per interval."""
    digits = bytearray(b"0") * length
    one = b"1"
    for i in range(0, len(flat), 2):
        first, last = max(flat[i] - origin, 0), min(flat[i + 1] - origin, length)
        if last > first:
            digits[first:last] = one * (last - first)
    digits.reverse()  # bit 0 (minute 0) is the last digit
    return int(digits, 2) if length else 0


def merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged, maximal intervals (touching ones join)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
