"""The project's own rules: layout, lint, types, and a wheel that carries the Lua scripts,
the py.typed marker and the license."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "roomful_meetings"
IO_MODULES = (
    "trio",
    "trio_websocket",
    "hiredis",
    "socket",
    "ssl",
    "subprocess",
    "roomful_meetings.storage",
    "roomful_meetings.transport",
    "roomful_meetings.fanout",
    "roomful_meetings.service",
)


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", ["domain", "protocol"])
def test_pure_layers_import_no_io(layer: str) -> None:
    for path in (PACKAGE / layer).glob("*.py"):
        for name in imports_of(path):
            assert not any(name == io or name.startswith(io + ".") for io in IO_MODULES), (
                f"{path.name} imports {name}"
            )


def test_only_storage_talks_to_redis() -> None:
    for path in PACKAGE.rglob("*.py"):
        if "storage" in path.relative_to(PACKAGE).parts:
            continue
        assert "hiredis" not in imports_of(path), path


def test_every_lua_script_has_a_header_naming_keys_argv_and_returns() -> None:
    for path in (ROOT / "lua").glob("*.lua"):
        head = path.read_text()[:2000]
        if path.name == "_lib.lua":
            continue
        assert head.startswith("--[["), path.name
        for word in ("KEYS", "ARGV", "Returns"):
            assert word in head, f"{path.name} header lacks {word}"


def run(*command: str) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_lint_and_format() -> None:
    run(sys.executable, "-m", "ruff", "check", ".")
    run(sys.executable, "-m", "ruff", "format", "--check", ".")


def test_mypy_strict() -> None:
    run(sys.executable, "-m", "mypy")


def build_wheel(folder: Path) -> zipfile.ZipFile:
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        ".",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(folder),
    )
    (wheel,) = folder.glob("roomful_meetings-*.whl")
    return zipfile.ZipFile(wheel)


def test_the_wheel_carries_the_lua_scripts_the_typed_marker_and_the_license(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(wheel.namelist())
    for lua in (ROOT / "lua").glob("*.lua"):
        assert f"roomful_meetings/lua/{lua.name}" in names
    # PEP 561: without py.typed, mypy users of roomful_meetings.client get no types at all.
    assert "roomful_meetings/py.typed" in names
    licenses = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert len(licenses) == 1 and "MIT License" in wheel.read(licenses[0]).decode()
    (metadata,) = (name for name in names if name.endswith(".dist-info/METADATA"))
    text = wheel.read(metadata).decode()
    assert (
        "Classifier: Typing :: Typed" in text and "Classifier: License :: OSI Approved :: MIT License" in text
    )
    assert "Project-URL: Changelog," in text
