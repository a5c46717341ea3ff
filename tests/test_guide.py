"""docs/guide.md is a recording of a real session: re-recorded here, it must not change."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import StartServer, token

TOOL = Path(__file__).resolve().parents[1] / "tools" / "guide.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("guide_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["guide_tool"] = module
    spec.loader.exec_module(module)
    return module


async def test_the_guide_shows_what_the_server_really_answers(start_server: StartServer) -> None:
    server = await start_server(public_base_url="https://meet.example")  # the feed URLs
    tool = load_tool()
    recorded = await tool.record(server.url, lambda user: token(user, admin=user == "root"))
    assert recorded == tool.GUIDE.read_text(), (
        "docs/guide.md is stale: run tools/guide.py against a fresh server (see its docstring)"
    )


def test_the_guide_shows_every_endpoint_and_event() -> None:
    from roomful_meetings.protocol.events import EVENTS
    from roomful_meetings.service.endpoints import ENDPOINTS

    text = load_tool().GUIDE.read_text()
    missing = [name for name in ENDPOINTS if f"### {name}\n" not in text]
    assert missing == []
    shown = [name for name in EVENTS if f'"endpoint": "{name}"' in text]
    assert set(EVENTS) - set(shown) <= {
        "meeting:meetingUpdated",
        "meeting:meetingDeleted",
        "connection:recoveryIncomplete",
    }
