"""Reading a client's websocket frames, sans-IO (RFC 6455, section 5): bytes in, messages out.

Theory of operation: `FrameReader.feed` takes whatever bytes the socket gave and returns
what they complete, in order: whole text messages (`bytes`, already checked to be UTF-8),
`Binary` messages and the control frames (`Ping`, `Pong`, `Close`). A violation raises
`FrameFailure` carrying the close code to fail the connection with: 1002 for a protocol
error, 1007 for text (or a close reason) that is not UTF-8, 1009 for a message over the
size limit. After a `Close` or a failure the reader takes nothing more.

It decides exactly what wsproto decides for a server (no extension negotiated), in the
same order, which the property test in tests/protocol/test_frames.py checks against
wsproto on random byte streams split at random points. Two choices of its own:

- The size limit (which wsproto does not have) is checked on each data frame's header,
  against the message so far plus the frame's declared length, so an oversized message is
  refused before its bytes arrive (trio-websocket counts what it has received).
- A message is handed out whole, so that the server never sees part of a request. The
  common case, one complete frame in one read, costs one header parse, one unmasking (as
  big integers) and one UTF-8 check.
"""

from __future__ import annotations

import codecs
from typing import Final

CLOSE_NORMAL: Final = 1000
CLOSE_NO_STATUS: Final = 1005  # the code reported for a close frame without one
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009

_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_KNOWN_OPCODES: Final = frozenset((_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG))
# Codes a peer may not send (RFC 6455, 7.4.1: 1005, 1006 and 1015 are for reports only),
# and those defined in the 1000-2999 range (the rest of it is reserved; 1012 and 1013 are
# registered with IANA and accepted, as wsproto does).
_LOCAL_ONLY: Final = frozenset((1005, 1006, 1015))
_DEFINED: Final = frozenset((*range(1000, 1004), *range(1005, 1014), 1015))
_EMPTY: Final = b""


class FrameFailure(Exception):
    """The peer broke the protocol: fail the connection with `code`. `received` holds what
    the same bytes completed before the violation (to be handled first, in order)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.received: list[Received] = []


class Binary:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Ping:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Pong:
    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class Close:
    """The peer's close frame: its code (1005 when it sent none) and reason."""

    __slots__ = ("code", "payload", "reason")

    def __init__(self, code: int, reason: str, payload: bytes) -> None:
        self.code = code
        self.reason = reason
        self.payload = payload  # as sent (unmasked): what the reply echoes


Received = bytes | Binary | Ping | Pong | Close


def unmask(payload: bytes, mask: bytes) -> bytes:
    """XOR `payload` with the repeated 4-byte `mask` (big integers: no loop per byte)."""
    size = len(payload)
    if not size:
        return _EMPTY
    key = int.from_bytes(mask * (size // 4 + 1), "little") & ((1 << (size * 8)) - 1)
    return (int.from_bytes(payload, "little") ^ key).to_bytes(size, "little")


def _rotated(mask: bytes, offset: int) -> bytes:
    shift = offset % 4
    return mask[shift:] + mask[:shift]


class FrameReader:
    """The frames of one client connection (the server side: client frames are masked)."""

    __slots__ = (
        "_buffer",
        "_decoder",
        "_done",
        "_got",
        "_header",
        "_message",
        "_opcode",
        "_size",
        "max_message",
    )

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._buffer = _EMPTY  # bytes not yet consumed
        self._done = False  # a close was read, or the peer failed
        # The frame whose header was read: (opcode, fin, length, mask); `_got` of its
        # payload (unmasked) consumed so far, kept in `_message`.
        self._header: tuple[int, bool, int, bytes] | None = None
        self._got = 0
        # The data message in progress (fragmented or partly received): its opcode, the
        # unmasked bytes so far (one buffer: a part each would cost ~40 bytes per 1-byte
        # fragment or read, 50 times the message limit), and for text the UTF-8 decoder
        # checking them as they come.
        self._opcode: int | None = None
        self._message = bytearray()
        self._size = 0  # bytes of the message in progress so far (declared by its frames)
        self._decoder: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> list[Received]:
        """What `data` completes, in order. Raises FrameFailure (with what came before)."""
        if self._done:
            return []
        if not self._buffer and self._header is None and self._opcode is None:
            whole = self._one_text_frame(data)
            if whole is not None:
                return [whole]
        buffer = self._buffer + data if self._buffer else data
        out: list[Received] = []
        try:
            position = self._consume(buffer, out)
        except FrameFailure as failure:
            self._done = True
            self._buffer = _EMPTY
            failure.received = out
            raise
        self._buffer = buffer[position:] if position < len(buffer) else _EMPTY
        return out

    def _one_text_frame(self, data: bytes) -> bytes | None:
        """The payload when `data` is exactly one final, masked, valid text frame under the
        limit (a request, read whole: the common case, without the general machinery);
        None for anything else, left to the general path (which decides the same)."""
        size = len(data)
        if size < 6 or data[0] != 0x81:
            return None
        length = data[1] ^ 0x80  # the mask bit must be set: anything else is >= 128 now
        if length < 126:
            start = 6
        elif length == 126 and size >= 8:
            length = (data[2] << 8) | data[3]
            start = 8
            if length < 126:
                return None  # not minimal: the general path fails it
        else:
            return None
        if size != start + length or length > self.max_message:
            return None
        payload = unmask(data[start:], data[start - 4 : start])
        try:
            payload.decode()
        except UnicodeDecodeError:
            return None  # the general path fails it with 1007
        return payload

    @property
    def in_message(self) -> bool:
        """A data message has begun and not ended (only control frames may come now)."""
        return self._opcode is not None

    def _consume(self, buffer: bytes, out: list[Received]) -> int:
        position, end = 0, len(buffer)
        while not self._done:
            if self._header is None:
                parsed = self._parse_header(buffer, position)
                if parsed is None:
                    return position
                position = parsed
            opcode, fin, length, mask = self._header  # type: ignore[misc]  # set just above
            wanted = length - self._got
            available = end - position
            if opcode >= _CLOSE:  # control frames are taken whole (at most 125 bytes)
                if available < wanted:
                    return position
                payload = unmask(buffer[position : position + wanted], mask)
                position += wanted
                self._header = None
                out.append(self._control(opcode, payload))
                continue
            take = wanted if available >= wanted else available
            if take == 0 and wanted:
                return position
            if not self._got:  # checked with the first payload byte, as wsproto does
                self._check_sequence(opcode)
            part = unmask(
                buffer[position : position + take], _rotated(mask, self._got) if self._got else mask
            )
            position += take
            self._got += take
            finished = self._got == length
            if finished:
                self._header = None
                self._got = 0
            self._add_part(part, finished and fin, out)
            if not finished:
                return position
        return position

    def _parse_header(self, buffer: bytes, position: int) -> int | None:
        """Read one frame header at `position`: the position after it, or None for more bytes.
        The checks come in wsproto's order, so that a stream cut short fails where it does."""
        end = len(buffer)
        if end - position < 2:
            return None
        first, second = buffer[position], buffer[position + 1]
        fin, opcode = bool(first & 0x80), first & 0x0F
        if opcode not in _KNOWN_OPCODES:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, f"invalid opcode {opcode:#x}")
        control = opcode >= _CLOSE
        if control and not fin:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
        length = second & 0x7F
        if control and length > 125:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, "control frame with payload over 125 bytes")
        at = position + 2
        if length == 126:
            if end - at < 2:
                return None
            length = int.from_bytes(buffer[at : at + 2], "big")
            at += 2
            if length <= 125:
                raise FrameFailure(CLOSE_PROTOCOL_ERROR, "payload length in 2 bytes where 1 would do")
        elif length == 127:
            if end - at < 8:
                return None
            length = int.from_bytes(buffer[at : at + 8], "big")
            at += 8
            if length <= 0xFFFF:
                raise FrameFailure(CLOSE_PROTOCOL_ERROR, "payload length in 8 bytes where 2 would do")
            if length >> 63:
                raise FrameFailure(CLOSE_PROTOCOL_ERROR, "8-byte payload length with the top bit set")
        if first & 0x70:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, "reserved bit set (no extension was negotiated)")
        if not second & 0x80:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, "client frame not masked")
        if end - at < 4:
            return None
        if not control:
            self._check_size(length)  # before the payload comes (wsproto has no limit)
        self._header = (opcode, fin, length, buffer[at : at + 4])
        self._got = 0
        return at + 4

    def _check_size(self, length: int) -> None:
        # A running count: a sum over the parts per frame made a message of 65,536 small
        # fragments quadratic (Autobahn case 9.3.1 timed out).
        size = (self._size if self._opcode is not None else 0) + length
        if size > self.max_message:
            raise FrameFailure(CLOSE_TOO_BIG, f"message over {self.max_message} bytes")
        self._size = size

    def _check_sequence(self, opcode: int) -> None:
        if self._opcode is None:
            if opcode == _CONTINUATION:
                raise FrameFailure(CLOSE_PROTOCOL_ERROR, "continuation frame without a message begun")
            self._opcode = opcode
            self._decoder = None  # made only for text that does not come whole (_add_part)
        elif opcode != _CONTINUATION:
            raise FrameFailure(CLOSE_PROTOCOL_ERROR, "new message begun before the last one ended")

    def _add_part(self, part: bytes, last: bool, out: list[Received]) -> None:
        text = self._opcode == _TEXT
        if last and not self._message:  # the common case: a message in one frame, whole
            if text:
                if self._decoder is not None:  # earlier parts were empty
                    self._check_utf8(self._decoder, part, True)
                else:
                    self._check_whole(part)
                out.append(part)
            else:
                out.append(Binary(part))
            self._opcode = None
            self._decoder = None
            return
        if text:
            if self._decoder is None:
                self._decoder = codecs.getincrementaldecoder("utf-8")()
            self._check_utf8(self._decoder, part, last)
        self._message += part
        if last:
            message = bytes(self._message)
            self._message = bytearray()
            out.append(message if text else Binary(message))
            self._opcode = None
            self._decoder = None

    @staticmethod
    def _check_whole(part: bytes) -> None:
        try:
            part.decode()
        except UnicodeDecodeError as exc:
            raise FrameFailure(CLOSE_INVALID_DATA, f"text is not valid UTF-8: {exc.reason}") from None

    @staticmethod
    def _check_utf8(decoder: codecs.IncrementalDecoder, part: bytes, last: bool) -> None:
        try:
            decoder.decode(part, last)
        except UnicodeDecodeError as exc:
            raise FrameFailure(CLOSE_INVALID_DATA, f"text is not valid UTF-8: {exc.reason}") from None

    def _control(self, opcode: int, payload: bytes) -> Received:
        if opcode == _PING:
            return Ping(payload)
        if opcode == _PONG:
            return Pong(payload)
        self._done = True
        return close_frame_of(payload)


def close_frame_of(payload: bytes) -> Close:
    """A close frame's payload read as code and reason, checked as RFC 6455 7.4 says."""
    if not payload:
        return Close(CLOSE_NO_STATUS, "", payload)
    if len(payload) == 1:
        raise FrameFailure(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code < 1000 or code > 4999:
        raise FrameFailure(CLOSE_PROTOCOL_ERROR, f"close code {code} out of range")
    if code in _LOCAL_ONLY:
        raise FrameFailure(CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")
    if code <= 2999 and code not in _DEFINED:
        raise FrameFailure(CLOSE_PROTOCOL_ERROR, f"close code {code} is reserved")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise FrameFailure(CLOSE_INVALID_DATA, "close reason is not valid UTF-8") from None
    return Close(code, reason, payload)
