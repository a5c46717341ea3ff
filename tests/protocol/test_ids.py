"""Ids in requests and tokens: no colon, white space or control character anywhere (issue 13:
a pattern anchored with `$` let "r\\n" through, since `$` also matches before a final newline)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from roomful_meetings.protocol import payloads as p

BAD_IDS = [
    "r\n",
    "\nr",
    "r\nx",
    "r\r",
    "r\x00",
    "r\x00x",
    "\x07",
    "r\x1b[31m",
    "r\x7f",
    "r\x85",
    "r\u2028",
    "r x",
    "r:x",
    "",
    "x" * 129,
]
GOOD_IDS = ["r", "room-1_A.b", "é", "会議室", "\U0001f600", "x" * 128, "a$", "^a"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_ids_with_a_newline_or_control_character_anywhere_are_refused(bad: str) -> None:
    cases: list[tuple[type[msgspec.Struct], Callable[[str], dict[str, Any]]]] = [
        (p.RoomRef, lambda v: {"roomId": v}),
        (p.MeetingRef, lambda v: {"meetingId": v}),
        (p.UpsertRooms, lambda v: {"rooms": [{"id": v}]}),
        (p.UpsertProps, lambda v: {"props": [{"roomId": "r", "id": v}]}),
        (p.UpsertGroups, lambda v: {"groups": [{"id": "g", "memberIds": [v]}]}),
        (p.UpsertSocialSessions, lambda v: {"sessions": [{"id": "s", "roomId": "r", "propId": v or "\n"}]}),
        (p.UserRef, lambda v: {"userId": v}),
        (
            p.LegacyCreate,
            lambda v: {
                "meeting": {"startDate": 0, "endDate": 1, "subject": "", "roomId": "r", "propId": v or "\n"}
            },
        ),
    ]
    for payload, build in cases:
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(msgspec.json.encode(build(bad)), type=payload)


@pytest.mark.parametrize("good", GOOD_IDS)
def test_ordinary_ids_are_taken(good: str) -> None:
    assert msgspec.json.decode(msgspec.json.encode({"roomId": good}), type=p.RoomRef).roomId == good
    legacy = {"meeting": {"startDate": 0, "endDate": 1, "subject": "", "roomId": good, "propId": ""}}
    assert msgspec.json.decode(msgspec.json.encode(legacy), type=p.LegacyCreate).meeting.propId == ""


PACKAGE = Path(__file__).resolve().parents[2] / "roomful_meetings"
REGEX_CALLS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}


def regex_literals(tree: ast.AST) -> list[tuple[int, str, bool]]:
    """(line, pattern, multiline?) of each literal pattern given to `re` or to msgspec's Meta."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        pattern: ast.expr | None = None
        is_re = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "re"
        if is_re and isinstance(func, ast.Attribute) and func.attr in REGEX_CALLS and node.args:
            pattern = node.args[0]
        for keyword in node.keywords:
            if keyword.arg == "pattern":
                pattern = keyword.value
        if isinstance(pattern, ast.Constant) and isinstance(pattern.value, str | bytes):
            text = pattern.value if isinstance(pattern.value, str) else pattern.value.decode()
            found.append((node.lineno, text, "MULTILINE" in ast.dump(node) or "re.M" in ast.unparse(node)))
    return found


def test_no_pattern_in_the_package_is_anchored_with_a_dollar() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text, multiline in regex_literals(ast.parse(path.read_text()))
        if re.search(r"(?<!\\)\$\)?\Z", text) and not multiline
    ]
    assert offenders == []


def test_the_audit_sees_the_mistake() -> None:
    source = "\n".join(
        ["import re", 'A = re.compile(r"^[a-z]+$")', 'B = Meta(pattern="^x$")', 'C = re.compile(r"a\\Z")']
    )
    tree = ast.parse(source)
    assert [text for _, text, _ in regex_literals(tree)] == ["^[a-z]+$", "^x$", "a\\Z"]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js for an ECMA-262 regex engine")
def test_the_published_pattern_means_the_same_in_json_schema() -> None:
    """docs/asyncapi.json carries the id pattern; JSON Schema reads it as ECMA-262."""
    script = "const [p, ids] = JSON.parse(process.argv[1]); console.log(JSON.stringify(ids.map((i) => new RegExp(p, 'u').test(i))))"
    ids = BAD_IDS[:-2] + GOOD_IDS  # the length limits are not the pattern's
    argument = json.dumps([p.ID_PATTERN, ids])
    result = subprocess.run(["node", "-e", script, argument], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == [re.search(p.ID_PATTERN, i) is not None for i in ids]
    assert json.loads(result.stdout) == [False] * (len(BAD_IDS) - 2) + [True] * len(GOOD_IDS)


@pytest.mark.parametrize(
    ("text", "expected"), [*((b, False) for b in BAD_IDS), *((g, True) for g in GOOD_IDS)]
)
def test_is_id_agrees_with_the_id_type(text: str, expected: bool) -> None:
    # Names looked up rather than decoded as `Id` (a slot search's `roomful`) are held to it.
    assert p.is_id(text) is expected
