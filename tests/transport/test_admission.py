"""The connection-slot ledger, without sockets."""

from __future__ import annotations

import pytest

from roomful_meetings.transport.admission import FULL, USER_FULL, Admission


def test_slots_are_refused_at_each_cap_and_come_back_when_released() -> None:
    admission = Admission(max_connections=3, max_per_user=2)
    assert admission.reserve("ann") is None
    assert admission.reserve("ann") is None
    assert admission.reserve("ann") == USER_FULL
    assert admission.reserve("ben") is None
    assert admission.reserve("cid") == FULL
    assert admission.held == 3 and admission.held_by("ann") == 2
    admission.release("ann")
    assert admission.reserve("cid") is None
    admission.release("ann")
    admission.release("ben")
    admission.release("cid")
    assert admission.held == 0 and admission.held_by("ann") == 0


def test_releasing_a_slot_never_taken_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        Admission(1, 1).release("ann")
