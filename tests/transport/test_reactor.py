"""The instance's epoll (transport/reactor.py) on real sockets: told once per arrival,
whoever has read or not, until removed; one connection's failure stops nobody else's."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from roomful_meetings.transport.reactor import ENDED, PASS, Reactor


@pytest.fixture
async def reactor(nursery: trio.Nursery) -> AsyncIterator[Reactor]:
    reactor = Reactor()
    nursery.start_soon(reactor.run)
    yield reactor


class Told:
    """An on_readable that keeps what it was told: (now, epoll flags) per report."""

    def __init__(self) -> None:
        self.reports: list[tuple[float, int]] = []

    def __call__(self, now: float, events: int) -> None:
        self.reports.append((now, events))

    def __len__(self) -> int:
        return len(self.reports)


def pair() -> tuple[socket.socket, socket.socket]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    return ours, theirs


async def settle() -> None:
    await trio.testing.wait_all_tasks_blocked()


async def test_each_arrival_is_reported_once_read_or_not(reactor: Reactor) -> None:
    ours, theirs = pair()
    told = Told()
    reactor.add(ours.fileno(), told)
    await settle()
    assert len(told) == 0
    theirs.send(b"one")
    await settle()
    assert len(told) == 1 and told.reports[0][0] <= trio.current_time()
    await settle()
    assert len(told) == 1  # edge-triggered: the unread bytes are not reported again
    theirs.send(b"two")
    await settle()
    assert len(told) == 2
    assert ours.recv(100) == b"onetwo"
    ours.close()
    theirs.close()


async def test_the_peer_closing_is_an_arrival(reactor: Reactor) -> None:
    ours, theirs = pair()
    told = Told()
    reactor.add(ours.fileno(), told)
    theirs.close()
    await settle()
    assert len(told) == 1 and told.reports[0][1] & ENDED  # said so: read until the end
    assert ours.recv(100) == b""
    ours.close()


async def test_a_removed_socket_is_not_reported(reactor: Reactor) -> None:
    ours, theirs = pair()
    told = Told()
    reactor.add(ours.fileno(), told)
    reactor.remove(ours.fileno(), told)
    theirs.send(b"x")
    await settle()
    assert len(told) == 0
    ours.close()
    theirs.close()


async def test_a_failing_reader_does_not_stop_the_others(reactor: Reactor) -> None:
    bad, bad_peer = pair()
    good, good_peer = pair()

    def fails(now: float, events: int) -> None:
        raise RuntimeError("a bug in one connection")

    told = Told()
    reactor.add(bad.fileno(), fails)
    reactor.add(good.fileno(), told)
    bad_peer.send(b"x")
    good_peer.send(b"y")
    await settle()
    good_peer.send(b"z")
    await settle()
    assert len(told) == 2
    for s in (bad, bad_peer, good, good_peer):
        s.close()


async def test_a_closed_connections_number_reused_reports_to_its_new_owner(reactor: Reactor) -> None:
    first, first_peer = pair()
    number = first.fileno()
    old = Told()
    reactor.add(number, old)
    reactor.remove(number, old)
    first.close()
    first_peer.close()
    second, second_peer = pair()
    reused = os.dup2(second.fileno(), number)  # the number, now another connection's
    new = Told()
    reactor.add(reused, new)
    # The old owner's late second removal (a stream closed twice) leaves the new one be.
    reactor.remove(reused, old)
    second_peer.send(b"x")
    await settle()
    assert len(old) == 0 and len(new) == 1
    reactor.remove(reused, new)
    if reused != second.fileno():  # (the kernel may have given it the number already)
        os.close(reused)
    second.close()
    second_peer.close()


async def test_a_connection_closing_after_the_reactor_stopped_is_harmless() -> None:
    # At shutdown the reactor and the connections are cancelled together, in any order.
    reactor = Reactor()
    ours, theirs = pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reactor.run)
        told = Told()
        reactor.add(ours.fileno(), told)
        await settle()
        nursery.cancel_scope.cancel()
    reactor.remove(ours.fileno(), told)
    ours.close()
    theirs.close()


async def test_more_ready_sockets_than_one_pass_takes_are_all_reported(reactor: Reactor) -> None:
    pairs = [pair() for _ in range(PASS + 44)]
    told: list[int] = []
    for ours, _ in pairs:
        reactor.add(ours.fileno(), functools.partial(lambda fd, now, events: told.append(fd), ours.fileno()))
    for _, theirs in pairs:
        theirs.send(b"x")
    await settle()
    assert sorted(told) == sorted(ours.fileno() for ours, _ in pairs)
    for ours, theirs in pairs:
        ours.close()
        theirs.close()
