"""The small commands as a newcomer meets them: --version, each command's own --help, and
`token` saying which secret signed its token."""

from __future__ import annotations

import subprocess
from importlib.metadata import version
from pathlib import Path

from tests.processes import CLI, clean_env


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=clean_env(), cwd=cwd, timeout=60, check=False
    )


def test_version_prints_the_package_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"roomful-meetings {version('roomful-meetings')}"


def flags_in_help(*command: str) -> set[str]:
    done = run_cli(*command, "--help")
    assert done.returncode == 0, done.stderr
    return {word.rstrip(",") for word in done.stdout.split() if word.startswith("--")}


def test_token_help_lists_only_the_flags_token_reads() -> None:
    assert flags_in_help("token") == {
        "--help",
        "--user",
        "--admin",
        "--ttl",
        "--email",
        "--zone",
        "--tenant",
        "--data-dir",
        "--jwt-secret",
        "--jwt-public-key",
        "--jwt-issuer",
        "--jwt-audience",
        "--tenant-claim",
    }


def test_catalog_import_help_lists_only_the_flags_it_reads() -> None:
    assert flags_in_help("catalog", "import") == {
        "--help",
        "--redis-url",
        "--redis-pool-size",
        "--redis-timeout",
        "--redis-connect-timeout",
        "--key-prefix",
        "--data-dir",
        "--log-level",
        "--log-format",
        "--tenant",
    }


def test_serve_help_lists_every_setting() -> None:
    from dataclasses import fields

    from roomful_meetings.config import Settings

    expected = {"--" + field.name.replace("_", "-") for field in fields(Settings)}
    assert flags_in_help("serve") == expected | {"--help"}


def test_token_says_which_secret_it_used_and_warns_when_it_made_one(tmp_path: Path) -> None:
    first = run_cli("token", "--user", "ann", cwd=tmp_path)
    made = (tmp_path / "var" / "jwt-secret").resolve()
    assert first.returncode == 0 and first.stdout.count(".") == 2  # the token alone on stdout
    assert first.stderr.startswith("roomful-meetings: warning: ") and str(made) in first.stderr
    again = run_cli("token", "--user", "ann", cwd=tmp_path)
    assert again.stderr.strip() == f"roomful-meetings: signed with the secret in {made}"
    given = run_cli("token", "--user", "ann", "--jwt-secret", "s" * 32, cwd=tmp_path)
    assert given.returncode == 0 and "--jwt-secret" in given.stderr and str(made) not in given.stderr


def test_token_refuses_a_secret_too_short_to_be_accepted(tmp_path: Path) -> None:
    done = run_cli("token", "--user", "ann", "--jwt-secret", "short", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().startswith("roomful-meetings: the HS256 secret has 5 bytes")
