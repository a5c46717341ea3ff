"""The connection-slot ledger, without sockets."""

from __future__ import annotations

import pytest

from roomful_meetings.transport.admission import USER_FULL, Admission


def test_slots_are_refused_at_each_cap_and_come_back_when_released() -> None:
    admission = Admission(max_connections=3, max_per_user=2)
    assert all(admission.accept() for _ in range(3))
    assert not admission.accept()  # a fourth connection, not even read: turned away
    assert admission.reserve("ann") is None
    assert admission.reserve("ann") is None
    assert admission.reserve("ann") == USER_FULL
    assert admission.reserve("ben") is None
    assert (admission.open, admission.held, admission.held_by("ann")) == (3, 3, 2)
    admission.release("ann")
    admission.close()
    assert admission.accept() and admission.reserve("cid") is None
    for user in ("ann", "ben", "cid"):
        admission.release(user)
        admission.close()
    assert (admission.open, admission.held, admission.held_by("ann")) == (0, 0, 0)


def test_connections_that_never_reach_the_token_check_count_too() -> None:
    # transport/admission.py: a connection holds a descriptor from its accept; silent ones
    # (no handshake yet) used to be counted by no cap at all.
    admission = Admission(max_connections=2, max_per_user=2)
    assert admission.accept() and admission.accept()
    assert not admission.accept()
    assert admission.held == 0
    admission.close()
    assert admission.accept()


def test_releasing_a_slot_never_taken_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        Admission(1, 1).release("ann")
    with pytest.raises(RuntimeError):
        Admission(1, 1).close()
