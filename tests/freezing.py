"""Helpers of the tests that freeze a redis-server (SIGSTOP: the kernel still accepts its
connections and takes their bytes; nothing answers, as with a hung host or a partition
that keeps TCP open) and check what is left running afterwards."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import trio

from tests.topologies import command


class HasProcess(Protocol):
    @property
    def proc(self) -> subprocess.Popen[bytes] | None: ...


@contextmanager
def frozen(server: HasProcess) -> Iterator[None]:
    """The block runs with `server` stopped (SIGSTOP); it goes on after (SIGCONT)."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)


async def until(check: Callable[[], bool], within: float = 5.0) -> float:
    """Seconds until `check()` holds (polled; fails the test after `within`)."""
    began = trio.current_time()
    with trio.fail_after(within):
        while not check():  # noqa: ASYNC110 - what it waits for is another process
            await trio.sleep(0.01)
    return trio.current_time() - began


def task_names() -> list[str]:
    """The name of every task of this trio run."""
    names, todo = [], [trio.lowlevel.current_root_task()]
    while todo:
        task = todo.pop()
        if task is not None:
            names.append(task.name)
            todo += [child for nursery in task.child_nurseries for child in nursery.child_tasks]
    return names


def client_count(port: int) -> int:
    """The connections the redis-server on `port` has (the one asking among them)."""
    listing = command(port, "CLIENT", "LIST")
    assert isinstance(listing, bytes)
    return len(listing.splitlines())
