"""`roomful-meetings serve` as a real process, for the tests that need one."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from roomful_meetings.storage.embedded import free_port

CLI = [sys.executable, "-m", "roomful_meetings"]


def clean_env() -> dict[str, str]:
    """This environment without ROOMFUL_* settings, so only the given flags count."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ROOMFUL_")}


def wait_listening(port: int, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"server did not listen on {port}")


@contextmanager
def serving(
    *flags: str, quiet: bool = False, descriptors: int | None = None, log: Path | None = None
) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`serve --port <free> <flags>` until the block ends, then stopped as an operator would
    (SIGTERM, so it drains and stops an embedded Redis too; SIGKILL after 30 s).
    `descriptors`: the most the process may have open (its RLIMIT_NOFILE, soft and hard);
    `log`: a file its standard error goes to."""
    port = free_port()

    def limited() -> None:
        if descriptors is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (descriptors, descriptors))

    with contextlib.ExitStack() as files:
        stderr = files.enter_context(log.open("w")) if log else None
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), *flags],
            stdout=subprocess.DEVNULL if quiet else subprocess.PIPE,
            stderr=stderr or (subprocess.DEVNULL if quiet else subprocess.PIPE),
            text=True,
            env=clean_env(),
            preexec_fn=limited if descriptors is not None else None,
        )
    try:
        wait_listening(port, proc)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
