"""Run the Autobahn TestSuite's fuzzingclient against the server's own frame path.

    PYENV_VERSION=2.7.18 python2 -m pip install --target .autobahn autobahntestsuite
    .venv/bin/python tools/autobahn.py [--site .autobahn] [--cases '1.*' '2.*' ...]

The TestSuite (`wstest`) is a Python 2 program (Twisted); its PyPI package installs under
Python 2.7 into a folder of its own, as above. This starts a private redis-server and a
server instance in this process whose request handling is replaced by an echo (the cases
send text and expect it back) and whose connection:ready push is left out (the cases
expect nothing they did not ask for). Everything else is the server's: trio-websocket's
handshake, the session's frame reader, its pongs, its close handling and its writes.
Binary messages stay refused with 1003 (the server's policy): the cases that send binary
report that. Prints one line per case that is not OK and a count per group, and writes
the suite's report to --report (index.json and an HTML page per case).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import trio

from roomful_meetings.app import run_server
from roomful_meetings.auth import mint_token
from roomful_meetings.config import Settings
from roomful_meetings.service.context import Caller, Services
from roomful_meetings.storage.embedded import RedisProcess
from roomful_meetings.transport import session

SECRET = "autobahn-secret-autobahn-secret-0123"
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*"]


def as_read(frame: bytes) -> bytes:
    return frame  # not decoded: the echo needs the frame as it came


def answered_inline(read: bytes) -> bool:
    return True  # an echo awaits nothing


async def echo(services: Services, caller: Caller, frame: bytes) -> bytes:
    return frame


async def no_ready(self: session.Session) -> None:
    self._delivery.go_live()


def wstest(site: Path, python2: str, spec: Path) -> int:
    code = (
        f"import site, sys; site.addsitedir({str(site)!r}); "
        f"sys.argv = ['wstest', '-m', 'fuzzingclient', '-s', {str(spec)!r}]; "
        "from autobahntestsuite import wstest; wstest.run()"
    )
    return subprocess.run([python2, "-c", code], check=False).returncode


async def main(opts: argparse.Namespace) -> int:
    session.read_request = as_read  # type: ignore[attr-defined,assignment]  # a test seam
    session.one_round_trip = answered_inline  # type: ignore[attr-defined,assignment]
    session.dispatch = echo  # type: ignore[attr-defined,assignment]  # the cases expect an echo
    session.Session._start = no_ready  # type: ignore[method-assign]  # and no push of ours
    with tempfile.TemporaryDirectory(prefix="roomful-autobahn-") as tmp:
        redis = RedisProcess(Path(tmp) / "redis")
        redis.start()
        try:
            settings = Settings(
                port=0,
                redis_url=redis.url,
                jwt_secret=SECRET,
                key_prefix="ab:",
                max_frame_bytes=64 * 1024 * 1024,
                rate_per_second=1e9,
                rate_burst=1_000_000_000,
                max_in_flight=1,  # the cases check the order of the echoes
                log_level="warning",
            )
            async with trio.open_nursery() as nursery:
                running = await nursery.start(run_server, settings)
                token = mint_token(SECRET, "autobahn", ttl_seconds=3600)
                spec = Path(tmp) / "spec.json"
                spec.write_text(
                    json.dumps(
                        {
                            "outdir": str(opts.report.resolve()),
                            "servers": [
                                {"agent": "roomful", "url": f"ws://127.0.0.1:{running.port}/?token={token}"}
                            ],
                            "cases": opts.cases,
                            "exclude-cases": [],
                            "exclude-agent-cases": {},
                        }
                    )
                )
                code = await trio.to_thread.run_sync(wstest, opts.site.resolve(), opts.python2, spec)
                nursery.cancel_scope.cancel()
        finally:
            redis.stop()
    return code if code else summarize(opts.report / "index.json")


def summarize(index: Path) -> int:
    results: dict[str, dict[str, Any]] = json.loads(index.read_text())["roomful"]
    groups: dict[str, Counter[str]] = {}

    def order(case: str) -> list[int]:
        return [int(part) for part in case.split(".")]

    for case in sorted(results, key=order):
        result = results[case]
        behavior, close = result["behavior"], result["behaviorClose"]
        groups.setdefault(case.split(".")[0], Counter())[behavior] += 1
        if behavior not in ("OK", "INFORMATIONAL"):
            print(f"{case}: {behavior} (close {close}, remote close code {result.get('remoteCloseCode')})")
    for group, counts in groups.items():
        print(f"group {group}: " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path(".autobahn"), help="where autobahntestsuite is")
    parser.add_argument("--python2", default="python2", help="the Python 2.7 to run wstest with")
    parser.add_argument("--report", type=Path, default=Path("tools/autobahn-report"))
    parser.add_argument("--cases", nargs="+", default=CASES)
    opts = parser.parse_args()
    os.environ.setdefault("PYENV_VERSION", "2.7.18")
    sys.exit(trio.run(main, opts))
