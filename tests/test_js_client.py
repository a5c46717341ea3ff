"""The TypeScript client (clients/js) and the demo page (examples/web), from the Python suite.

So that the README's one test command runs everything: these shell out to Node's test
runner, which starts its own redis-server and `roomful-meetings serve` processes (this
interpreter, this suite's redis-server binary) and, for the page, Debian's Chromium. They
skip, saying what to install, where node/npm or Chromium are missing; `.ci/run` installs them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from roomful_meetings.storage.embedded import find_redis_server

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "clients" / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE, NPM = shutil.which("node"), shutil.which("npm")


def node_major() -> int:
    if NODE is None:
        return 0
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, timeout=30).stdout
    return int(version.lstrip("v").split(".")[0] or 0)


# Node 20 brings the test runner's --test-timeout and --test-concurrency; 18 does not.
NODE_MAJOR = node_major()
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed (apt-get install nodejs npm)")
needs_npm = pytest.mark.skipif(
    NODE is None or NPM is None or NODE_MAJOR < 20,
    reason=f"node >= 20 and npm are needed (found node {NODE_MAJOR or 'none'}, npm {NPM or 'none'})",
)


def node_env() -> dict[str, str]:
    return os.environ | {
        "ROOMFUL_PYTHON": sys.executable,
        "ROOMFUL_REDIS_SERVER": find_redis_server(),
        "CHROMIUM": CHROMIUM,
        "NO_COLOR": "1",
    }


def npm(*args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    return subprocess.run(
        [NPM, *args], cwd=CLIENT, env=node_env(), capture_output=True, text=True, timeout=timeout
    )


def assert_all_passed(run: subprocess.CompletedProcess[str]) -> None:
    """Exit 0, and every test of the run passed: none failed, none skipped, some ran."""
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    counts = dict(re.findall(r"^# (tests|pass|fail|skipped|cancelled) (\d+)$", run.stdout, re.M))
    assert int(counts.get("tests", 0)) > 0, run.stdout[-3000:]
    assert counts.get("pass") == counts["tests"], run.stdout[-3000:]


@pytest.fixture(scope="module")
def installed() -> None:
    """`npm ci` (the pinned devDependencies: typescript, ws, playwright-core) unless the
    installed tree already matches the lockfile; it also builds dist/."""
    marker = CLIENT / "node_modules" / ".package-lock.json"
    lock = CLIENT / "package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        run = npm("ci", "--no-audit", "--no-fund")
        assert run.returncode == 0, run.stdout + run.stderr


@needs_node
def test_the_generated_typescript_follows_docs_asyncapi_json() -> None:
    assert NODE is not None
    run = subprocess.run(
        [NODE, str(CLIENT / "scripts" / "generate.mjs"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr + "\nregenerate: npm --prefix clients/js run regenerate"


@needs_npm
@pytest.mark.timeout(300)  # npm ci on first use, then a dozen servers started and stopped
def test_the_typescript_client_against_a_real_server(installed: None) -> None:
    assert_all_passed(npm("test"))


@needs_npm
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)
@pytest.mark.timeout(300)
def test_the_demo_page_in_headless_chromium_two_users(installed: None) -> None:
    assert_all_passed(npm("run", "test:browser"))
