"""The project's own rules: layout, lint, types, and a wheel that carries the Lua scripts."""

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
    names: set[str] = set()
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


def imports_below(directory: Path) -> dict[str, set[str]]:
    return {str(path.relative_to(PACKAGE)): imports_of(path) for path in directory.rglob("*.py")}


def reaching(imports: dict[str, set[str]], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{module} imports {name}"
        for module, names in imports.items()
        for name in sorted(names)
        if any(name == inner or name.startswith(inner + ".") for inner in forbidden)
    ]


OUTER = ("roomful_meetings.app", "roomful_meetings.cli")
# What each part must not import: dependencies point inwards (transport -> service ->
# domain, storage, fanout), and config, the innermost module, imports no other layer.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "transport": ("roomful_meetings.storage", *OUTER),
    "service": ("roomful_meetings.transport", *OUTER),
    "fanout": ("roomful_meetings.service", "roomful_meetings.transport", *OUTER),
    "storage": (
        "roomful_meetings.service",
        "roomful_meetings.transport",
        "roomful_meetings.fanout",
        *OUTER,
    ),
    "config.py": (
        "roomful_meetings.storage",
        "roomful_meetings.service",
        "roomful_meetings.transport",
        "roomful_meetings.fanout",
        *OUTER,
    ),
}


@pytest.mark.parametrize("part", list(FORBIDDEN))
def test_dependencies_point_inwards(part: str) -> None:
    path = PACKAGE / part
    imports = imports_below(path) if path.is_dir() else {part: imports_of(path)}
    assert reaching(imports, FORBIDDEN[part]) == []


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


def test_the_wheel_carries_the_lua_scripts(tmp_path: Path) -> None:
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
        str(tmp_path),
    )
    (wheel,) = tmp_path.glob("roomful_meetings-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for lua in (ROOT / "lua").glob("*.lua"):
        assert f"roomful_meetings/lua/{lua.name}" in names
