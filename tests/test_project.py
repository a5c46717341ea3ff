"""The project's own rules: layout, lint, types, and a wheel that carries the Lua scripts,
the py.typed marker and the license."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from roomful_meetings.storage.redis.scripts import Header

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


LUA_SCRIPTS = sorted((ROOT / "lua").glob("*.lua"))  # lua/includes/ holds helpers, not scripts


@pytest.mark.parametrize("path", LUA_SCRIPTS, ids=lambda path: path.name)
def test_a_lua_header_declares_exactly_the_keys_and_arguments_its_script_reads(path: Path) -> None:
    """The loader checks every call against the header's KEYS (storage/base.py); this
    checks the header against the body: the KEYS it reads (a list of any length, KEYS[i..],
    exactly where the body indexes KEYS by a computed number), each ARGV it binds, and a
    variable-length tail exactly where the body walks #ARGV."""
    source = path.read_text()
    header = Header.parse(source)
    body = source.split("]]", 1)[1]
    read_keys = {int(i) for i in re.findall(r"KEYS\[(\d+)\]", body)}
    assert read_keys == set(range(1, header.keys + 1)), f"reads KEYS {sorted(read_keys)}"
    computed = re.search(r"KEYS\[(?!\d+\])", body) is not None
    assert computed == header.more_keys, "a list of KEYS is declared as KEYS[i..] and indexed by a count"
    bound = {int(i) for i in re.findall(r"ARGV\[(\d+)\]", body)}
    assert header.argv <= bound, f"declared but never read: ARGV {sorted(header.argv - bound)}"
    tail = header.argv_tail
    undeclared = {i for i in bound - header.argv if tail is None or i < tail}
    assert not undeclared, f"read but not declared: ARGV {sorted(undeclared)}"
    assert ("#ARGV" in body) == (tail is not None), "a variable ARGV tail is declared as ARGV[i..]"


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
    for lua in (ROOT / "lua").rglob("*.lua"):
        assert f"roomful_meetings/lua/{lua.relative_to(ROOT / 'lua')}" in names
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
