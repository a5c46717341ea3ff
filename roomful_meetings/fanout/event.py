"""One event on its way to connections: its id, its order, its frame, framed once."""

from __future__ import annotations

from roomful_meetings.protocol.websocket import text_frame


class Event:
    """An event as published (or replayed): `frame` is the JSON push, `wire` the websocket
    frame carrying it, built on first use and shared by every connection it goes to."""

    __slots__ = ("_wire", "frame", "id", "order")

    def __init__(self, event_id: str, frame: bytes) -> None:
        self.id = event_id
        self.order = event_order(event_id)
        self.frame = frame
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.frame)
        return self._wire


def event_order(event_id: str) -> tuple[int, int]:
    """Event ids are "<ms>-<seq>"; they sort by this pair."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)
