"""The server's own text frames read back by wsproto, as a client would read them."""

from __future__ import annotations

import pytest
from wsproto.frame_protocol import FrameProtocol, Opcode

from roomful_meetings.protocol.websocket import text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_a_client_reads_the_frame_back_whole(size: int) -> None:
    payload = ("é" * size).encode()[:size]
    payload = payload[: len(payload.decode(errors="ignore").encode())]  # whole characters only
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(text_frame(payload))
    frames = list(client.received_frames())
    assert len(frames) == 1
    assert frames[0].opcode is Opcode.TEXT and frames[0].frame_finished and frames[0].message_finished
    assert frames[0].payload == payload.decode()


def test_several_frames_in_one_read_come_apart() -> None:
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(text_frame(b'{"a":1}') + text_frame(b"x" * 200) + text_frame(b""))
    assert [f.payload for f in client.received_frames()] == ['{"a":1}', "x" * 200, ""]
