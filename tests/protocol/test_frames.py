"""The client-frame reader, sans-IO: against wsproto as the reference on random byte streams
cut at random points, and case by case for the rules of RFC 6455 (the groups of the
Autobahn TestSuite's fuzzingclient: 1 framing, 2 pings and pongs, 3 reserved bits,
4 opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9 big messages, 10 misc)."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode, ParseFailed

from roomful_meetings.protocol.frames import (
    Binary,
    Close,
    FrameFailure,
    FrameReader,
    Ping,
    Pong,
    Received,
    unmask,
)

Outcome = tuple[list[tuple[object, ...]], int | None]  # what came out, then the failure code
LIMIT = 1 << 30


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes | None = None,
    length_bytes: int | None = None,
) -> bytes:
    """One client frame; `length_bytes` 0, 2 or 8 forces a length encoding (else minimal)."""
    size = len(payload)
    if length_bytes is None:
        length_bytes = 0 if size < 126 else (2 if size < 65536 else 8)
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if masked else 0
    if length_bytes == 0:
        head += bytes([bit | size])
    elif length_bytes == 2:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if not masked:
        return head + payload
    key = mask if mask is not None else os.urandom(4)
    return head + key + unmask(payload, key)


def ours(chunks: list[bytes], limit: int = LIMIT) -> Outcome:
    reader = FrameReader(limit)
    out: list[Received] = []
    try:
        for chunk in chunks:
            out += reader.feed(chunk)
    except FrameFailure as failure:
        return [normal(r) for r in out + failure.received], failure.code
    return [normal(r) for r in out], None


def normal(received: Received) -> tuple[object, ...]:
    if isinstance(received, bytes):
        return ("text", received.decode())
    if isinstance(received, Binary):
        return ("binary", received.payload)
    if isinstance(received, Ping):
        return ("ping", received.payload)
    if isinstance(received, Pong):
        return ("pong", received.payload)
    assert isinstance(received, Close)
    return ("close", received.code, received.reason)


def reference(chunks: list[bytes]) -> Outcome:
    """wsproto's server-side frame protocol, with messages joined as trio-websocket does."""
    protocol = FrameProtocol(client=False, extensions=[])
    out: list[tuple[object, ...]] = []
    text: list[str] = []
    data: list[bytes] = []
    try:
        for chunk in chunks:
            protocol.receive_bytes(chunk)
            for got in protocol.received_frames():
                if got.opcode is Opcode.PING:
                    out.append(("ping", bytes(got.payload)))  # type: ignore[arg-type]
                elif got.opcode is Opcode.PONG:
                    out.append(("pong", bytes(got.payload)))  # type: ignore[arg-type]
                elif got.opcode is Opcode.CLOSE:
                    code, reason = got.payload  # type: ignore[str-unpack]  # a (code, reason) pair for CLOSE
                    out.append(("close", int(code), reason))
                    return out, None
                elif got.opcode is Opcode.TEXT:
                    text.append(got.payload)  # type: ignore[arg-type]
                    if got.message_finished:
                        out.append(("text", "".join(text)))
                        text = []
                else:
                    data.append(bytes(got.payload))  # type: ignore[arg-type]
                    if got.message_finished:
                        out.append(("binary", b"".join(data)))
                        data = []
    except ParseFailed as failed:
        return out, int(failed.code)
    return out, None


# -- the differential property ----------------------------------------------------------------

texts = st.text(max_size=40).map(str.encode) | st.binary(max_size=12)  # valid and invalid UTF-8
payloads = texts | st.binary(min_size=120, max_size=300)
close_payloads = st.one_of(
    st.just(b""),
    st.binary(max_size=1),
    st.tuples(st.integers(0, 5100), texts).map(lambda cr: struct.pack("!H", cr[0]) + cr[1][:100]),
    st.tuples(st.sampled_from([1000, 1001, 1005, 1012, 1014, 2999, 3000, 4999]), texts).map(
        lambda cr: struct.pack("!H", cr[0]) + cr[1][:100]
    ),
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    opcode = draw(st.sampled_from([0, 1, 1, 1, 2, 0, 8, 9, 10]) | st.integers(0, 15))
    control = opcode >= 8
    payload = draw(close_payloads if opcode == 8 else (st.binary(max_size=130) if control else payloads))
    fin = draw(st.booleans()) if not control else draw(st.sampled_from([True, True, True, False]))
    rsv = draw(st.sampled_from([0, 0, 0, 0, 1, 4]))
    masked = draw(st.sampled_from([True] * 9 + [False]))
    minimal = 0 if len(payload) < 126 else 2
    length_bytes = draw(st.sampled_from([minimal] * 6 + [0, 2, 8])) if len(payload) < 126 else minimal
    if length_bytes == 0 and len(payload) >= 126:
        length_bytes = 2
    return frame(opcode, payload, fin=fin, rsv=rsv, masked=masked, length_bytes=length_bytes)


@st.composite
def streams(draw: st.DrawFn) -> list[bytes]:
    """Frames (valid ones mostly, with broken ones among them), their bytes cut anywhere,
    sometimes ending early."""
    data = b"".join(draw(st.lists(frames(), max_size=8)))
    if draw(st.booleans()):
        data += draw(st.binary(max_size=8))  # trailing garbage or a partial frame
    if data and draw(st.integers(0, 4)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_the_same_messages_and_failure_as_wsproto(chunks: list[bytes]) -> None:
    assert ours(chunks) == reference(chunks)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=4))
def test_random_bytes_fail_as_wsproto_does(data: bytes, cuts: list[int]) -> None:
    points = sorted(min(c, len(data)) for c in cuts)
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert ours(chunks) == reference(chunks)


def one_by_one(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


# -- case groups (Autobahn's numbering) ------------------------------------------------------


@pytest.mark.parametrize("size", [0, 125, 126, 127, 128, 65535, 65536, 1 << 20])
def test_1_text_and_binary_of_every_length_encoding(size: int) -> None:
    text = ("*" * size).encode()
    data = frame(1, text) + frame(2, bytes(size))
    assert ours([data]) == ([("text", text.decode()), ("binary", bytes(size))], None)
    if size <= 65536:
        assert ours(one_by_one(data))[0] == ours([data])[0]


def test_2_pings_are_handed_out_with_their_payload_and_big_ones_fail() -> None:
    assert ours([frame(9, b"hi") + frame(9) + frame(10, b"x" * 125)]) == (
        [("ping", b"hi"), ("ping", b""), ("pong", b"x" * 125)],
        None,
    )
    assert ours([frame(9, b"x" * 126)]) == ([], 1002)  # over 125 bytes
    assert ours([frame(9, b"x", fin=False)]) == ([], 1002)  # fragmented


@pytest.mark.parametrize("rsv", range(1, 8))
@pytest.mark.parametrize("opcode", [1, 2, 8, 9, 10])
def test_3_a_reserved_bit_fails_the_connection(rsv: int, opcode: int) -> None:
    payload = b"\x03\xe8" if opcode == 8 else b"x"
    assert ours([frame(1, b"ok") + frame(opcode, payload, rsv=rsv) + frame(9)]) == ([("text", "ok")], 1002)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_4_a_reserved_opcode_fails_the_connection(opcode: int) -> None:
    assert ours([frame(1, b"ok") + frame(opcode, b"x") + frame(1, b"later")]) == ([("text", "ok")], 1002)


def test_5_fragments_join_with_control_frames_between_them() -> None:
    data = frame(1, b"frag", fin=False) + frame(9, b"p") + frame(0, b"men", fin=False) + frame(0, b"ts")
    assert ours([data]) == ([("ping", b"p"), ("text", "fragments")], None)
    assert ours(one_by_one(data)) == ours([data])
    binary = frame(2, b"\x00", fin=False) + frame(10) + frame(0, b"\x01")
    assert ours([binary]) == ([("pong", b""), ("binary", b"\x00\x01")], None)


@pytest.mark.parametrize(
    "data",
    [
        frame(0, b"x"),  # continuation with nothing begun
        frame(1, b"a", fin=False) + frame(1, b"b"),  # a new message inside one
        frame(1, b"a", fin=False) + frame(2, b"b"),
        frame(0, b"x", fin=False) + frame(1, b"a"),
    ],
    # Named: the frames carry random masks, and ids must be the same in every collection.
    ids=["lone-continuation", "text-in-text", "binary-in-text", "text-after-continuation"],
)
def test_5_fragments_out_of_sequence_fail(data: bytes) -> None:
    assert ours([data])[1] == 1002


def test_6_utf8_is_checked_across_fragments_and_fails_fast() -> None:
    euro = "€".encode()  # 3 bytes, split over fragments
    data = frame(1, b"a" + euro[:1], fin=False) + frame(0, euro[1:2], fin=False) + frame(0, euro[2:])
    assert ours([data]) == ([("text", "a€")], None)
    assert ours(one_by_one(data)) == ([("text", "a€")], None)
    # An invalid byte fails at once, before the message (or even its frame) is complete.
    assert ours([frame(1, b"ok") + frame(1, b"\xce\xba\xff" + b"x" * 50)[:10]]) == ([("text", "ok")], 1007)
    assert ours([frame(1, euro[:2])]) == ([], 1007)  # ends inside a character
    assert ours([frame(1, b"\xed\xa0\x80")]) == ([], 1007)  # a surrogate
    assert ours([frame(1, b"\xf4\x90\x80\x80")]) == ([], 1007)  # above U+10FFFF
    assert ours([frame(2, b"\xff")]) == ([("binary", b"\xff")], None)  # binary is not checked


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"", ([("close", 1005, "")], None)),
        (b"\x03", ([], 1002)),
        (struct.pack("!H", 1000) + "bye €".encode(), ([("close", 1000, "bye €")], None)),
        (struct.pack("!H", 1000) + b"\xff", ([], 1007)),
        (struct.pack("!H", 3000), ([("close", 3000, "")], None)),
        (struct.pack("!H", 4999), ([("close", 4999, "")], None)),
        *[
            (struct.pack("!H", c), ([], 1002))
            for c in (0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2999, 5000)
        ],
        *[(struct.pack("!H", c), ([("close", c, "")], None)) for c in (1001, 1003, 1007, 1011, 1012, 1013)],
    ],
)
def test_7_close_codes_and_reasons(payload: bytes, expected: Outcome) -> None:
    assert ours([frame(8, payload)]) == expected


def test_7_nothing_is_read_after_a_close() -> None:
    reader = FrameReader(LIMIT)
    assert [normal(r) for r in reader.feed(frame(8, b"\x03\xe8") + frame(1, b"late"))] == [
        ("close", 1000, "")
    ]
    assert reader.feed(frame(1, b"later")) == []


def test_9_big_messages_within_the_limit_and_1009_beyond_it() -> None:
    big = os.urandom(4 << 20)
    fragmented = b"".join(frame(0 if i else 2, big[i : i + 65536], fin=i + 65536 >= len(big))
                          for i in range(0, len(big), 65536))  # fmt: skip
    assert ours([fragmented[i : i + 4096] for i in range(0, len(fragmented), 4096)]) == (
        [("binary", big)],
        None,
    )
    assert ours([frame(1, b"x" * 101)], limit=100) == ([], 1009)
    # The limit counts the whole message: refused on the header of the fragment past it.
    assert ours([frame(1, b"x" * 60, fin=False) + frame(0, b"y" * 41)[:14]], limit=100) == ([], 1009)
    assert ours([frame(1, b"x" * 100)], limit=100) == ([("text", "x" * 100)], None)


def test_9_a_message_in_many_small_fragments() -> None:
    """Autobahn 9.3.1: 4 MB of text in 64-byte fragments (the size check once summed the
    parts per fragment: quadratic, minutes for this one)."""
    text = b"*" * (4 << 20)
    mask = b"\x01\x02\x03\x04"
    data = b"".join(
        frame(0 if i else 1, text[i : i + 64], fin=i + 64 >= len(text), mask=mask)
        for i in range(0, len(text), 64)
    )
    reader = FrameReader(LIMIT)
    out: list[Received] = []
    for i in range(0, len(data), 65536):
        out += reader.feed(data[i : i + 65536])
    assert out == [text]


def test_10_unmasked_and_non_minimal_lengths_fail() -> None:
    assert ours([frame(1, b"x", masked=False)]) == ([], 1002)
    assert ours([frame(1, b"x" * 10, length_bytes=2)]) == ([], 1002)
    assert ours([frame(1, b"x" * 200, length_bytes=8)]) == ([], 1002)
    top_bit = bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 63) + bytes(4)
    assert ours([top_bit]) == reference([top_bit]) == ([], 1002)


def test_a_mask_of_any_value_unmasks() -> None:
    for mask in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x01\x02\x03\x04"):
        assert ours([frame(1, b"hello world", mask=mask)]) == ([("text", "hello world")], None)
