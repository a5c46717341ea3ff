"""The AsyncAPI document: generated from the Structs, committed, and valid AsyncAPI 3."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from roomful_meetings.asyncapi import document, render
from roomful_meetings.protocol.events import EVENTS
from roomful_meetings.service.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "asyncapi.json"
CHECKER = ROOT / "tools" / "asyncapi"


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is stale: run `roomful-meetings schema --output docs/asyncapi.json`"
    )


def test_the_documented_server_is_the_default_port() -> None:
    from roomful_meetings.config import Settings

    assert document()["servers"]["local"]["host"] == f"localhost:{Settings().port}"


def test_every_endpoint_and_event_is_described_with_its_payload() -> None:
    doc = document()
    sent = {m["name"] for key, m in doc["components"]["messages"].items() if key.endswith(".request")}
    assert sent == set(ENDPOINTS)
    for name, (payload, _summary) in EVENTS.items():
        message = doc["components"]["messages"][name.replace(":", ".")]
        assert message["payload"]["properties"]["data"] == {
            "$ref": f"#/components/schemas/{payload.__name__}"
        }
        assert payload.__name__ in doc["components"]["schemas"]
    create = doc["components"]["messages"]["meeting.createMeeting.request"]["payload"]
    assert create["properties"]["data"] == {"$ref": "#/components/schemas/CreateMeeting"}
    reply = doc["components"]["messages"]["meeting.getMeeting.response"]["payload"]["properties"]["data"]
    assert doc["components"]["schemas"][reply["$ref"].rsplit("/", 1)[1]]["properties"]["meeting"] == {
        "$ref": "#/components/schemas/Meeting"
    }


@pytest.mark.skipif(shutil.which("npm") is None, reason="needs Node.js and npm for the official parser")
def test_the_official_asyncapi_parser_accepts_the_document(tmp_path: Path) -> None:
    if not (CHECKER / "node_modules" / "@asyncapi" / "parser").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=CHECKER,
            check=True,
            capture_output=True,
            timeout=300,
        )
    ok = subprocess.run(["node", "validate.mjs", str(COMMITTED)], cwd=CHECKER, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # and the parser does reject a broken one, so this check can fail
    broken = json.loads(COMMITTED.read_text())
    broken["operations"]["meeting.getMeeting"]["action"] = "call"
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    bad = subprocess.run(
        ["node", "validate.mjs", str(tmp_path / "broken.json")], cwd=CHECKER, capture_output=True, text=True
    )
    assert bad.returncode == 1 and "action" in bad.stdout


def test_the_schema_command_writes_the_document(tmp_path: Path) -> None:
    from roomful_meetings.cli import main

    main(["schema", "--output", str(tmp_path / "asyncapi.json")])
    assert (tmp_path / "asyncapi.json").read_text() == COMMITTED.read_text()
