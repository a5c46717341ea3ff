"""What one connection has been sent, and what waits: the delivery state machine (sans-IO).

A connection starts HOLDING: live events that arrive while it sends connection:ready and
replays what the client missed wait in `held`, so that replayed events go first. Going
LIVE releases the held events that the replay did not already cover. After a pub/sub
outage it holds again while it catches up from its stream. Ids order each user's events,
so "already sent" is one comparison with the newest id sent (or settled: events up to
connection:ready's lastEventId are not the connection's to send).

    HOLDING --go_live()--> LIVE --hold()--> HOLDING

The session does the I/O: it sends what `offer`, `replayed` and `go_live` tell it to.
"""

from __future__ import annotations

import enum

from roomful_meetings.fanout.event import Event, event_order


class Verdict(enum.Enum):
    SEND = "send"  # write it now
    HELD = "held"  # kept until go_live()
    DUPLICATE = "duplicate"  # already sent or settled
    OVERFLOW = "overflow"  # more held than the connection may queue: close it as too slow


class Delivery:
    __slots__ = ("_held", "_limit", "holding", "last")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held: list[Event] = []
        self.holding = True
        self.last: tuple[int, int] = (-1, -1)  # order of the newest event sent or settled

    def offer(self, event: Event) -> Verdict:
        """A live event for this connection."""
        if self.holding:
            self._held.append(event)
            return Verdict.OVERFLOW if len(self._held) > self._limit else Verdict.HELD
        return Verdict.SEND if self._advance(event) else Verdict.DUPLICATE

    def replayed(self, event: Event) -> bool:
        """An event read back from the stream while holding: True to send it."""
        return self._advance(event)

    def go_live(self) -> list[Event]:
        """Stop holding; the held events still to send, in the order they came."""
        held, self._held = self._held, []
        self.holding = False
        return [event for event in held if self._advance(event)]

    def settle(self, event_id: str) -> None:
        """Everything up to `event_id` counts as sent (it predates what was asked for)."""
        self.last = max(self.last, event_order(event_id))

    def hold(self) -> str | None:
        """Hold for a catch-up: the id to read the stream after ("" from the start), or None
        when already holding (a start or a catch-up is under way and will release)."""
        if self.holding:
            return None
        self.holding = True
        return f"{self.last[0]}-{self.last[1]}" if self.last >= (0, 0) else ""

    def _advance(self, event: Event) -> bool:
        if event.order <= self.last:
            return False
        self.last = event.order
        return True
