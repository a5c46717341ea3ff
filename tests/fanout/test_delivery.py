"""The delivery state machine, without sockets: replay first, then live, each event once."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from roomful_meetings.fanout.delivery import Delivery, Verdict
from roomful_meetings.fanout.event import Event


def ev(n: int) -> Event:
    return Event(f"{1000 + n}-0", f"frame {n}".encode())


def test_live_events_wait_while_starting_and_follow_the_replay() -> None:
    delivery = Delivery(limit=10)
    assert delivery.offer(ev(3)) is Verdict.HELD  # live, while the replay is read
    sent = [e.id for e in (ev(1), ev(2), ev(3)) if delivery.replayed(e)]
    sent += [e.id for e in delivery.go_live()]
    assert sent == ["1001-0", "1002-0", "1003-0"]  # 3 came live and in the replay: once


def test_once_live_an_old_or_repeated_event_is_a_duplicate() -> None:
    delivery = Delivery(limit=10)
    delivery.go_live()
    assert delivery.offer(ev(5)) is Verdict.SEND
    assert delivery.offer(ev(5)) is Verdict.DUPLICATE
    assert delivery.offer(ev(4)) is Verdict.DUPLICATE


def test_events_up_to_the_settled_id_are_not_sent() -> None:
    delivery = Delivery(limit=10)
    delivery.settle(ev(7).id)  # connection:ready said lastEventId = 7
    assert delivery.go_live() == []
    assert delivery.offer(ev(7)) is Verdict.DUPLICATE
    assert delivery.offer(ev(8)) is Verdict.SEND


def test_holding_more_than_the_limit_overflows() -> None:
    delivery = Delivery(limit=2)
    assert [delivery.offer(ev(i)) for i in range(3)] == [Verdict.HELD, Verdict.HELD, Verdict.OVERFLOW]


def test_a_catch_up_holds_from_the_newest_sent_and_only_once() -> None:
    delivery = Delivery(limit=10)
    assert delivery.hold() is None  # still starting: the start will release
    delivery.go_live()
    assert delivery.hold() == ""  # nothing sent yet: from the oldest retained
    delivery.go_live()
    delivery.offer(ev(2))
    assert delivery.hold() == "1002-0"
    assert delivery.hold() is None  # already catching up


@given(
    live=st.lists(st.integers(0, 30), max_size=30),
    replay_end=st.integers(0, 30),
    split=st.integers(0, 30),
)
def test_any_interleaving_sends_every_event_once_in_order(
    live: list[int], replay_end: int, split: int
) -> None:
    """The stream holds events 0..replay_end-1 when read; live events (published in order,
    some of them also in the stream) arrive partly before the replay is read (`split`),
    partly during it, partly after going live. Each must be sent once, in id order."""
    published = sorted(set(live))
    delivery = Delivery(limit=1000)
    sent: list[str] = []
    early, late = published[:split], published[split:]
    for n in early:
        assert delivery.offer(ev(n)) is Verdict.HELD
    for n in range(replay_end):
        if delivery.replayed(ev(n)):
            sent.append(ev(n).id)
    sent += [e.id for e in delivery.go_live()]
    for n in late:
        if delivery.offer(ev(n)) is Verdict.SEND:
            sent.append(ev(n).id)
    everything = sorted({*range(replay_end), *published})
    assert sent == [ev(n).id for n in everything]  # all of them, each once, in order
