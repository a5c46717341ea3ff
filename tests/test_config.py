"""Settings: what is printed at start hides secrets."""

from __future__ import annotations

import pytest

from roomful_meetings.config import Settings, mask_password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:p%40ss@db.example:6380/2", "redis://user:***@db.example:6380/2"),
        ("rediss://:secret@db.example/0?ssl_cert_reqs=none", "rediss://:***@db.example/0?ssl_cert_reqs=none"),
        ("unix://:pw@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
        ("redis://db.example:6379/0", "redis://db.example:6379/0"),
        (
            "redis+sentinel://s1:26379,s2:26379/main?sentinel_password=TopSecret&db=2",
            "redis+sentinel://s1:26379,s2:26379/main?sentinel_password=***&db=2",
        ),
        # a password with an unencoded / or ? (urlsplit finds no password there)
        ("redis://:Hunter22/Xyzzy99@127.0.0.1:6390/0", "redis://***@127.0.0.1:6390/0"),
        ("redis://admin:Hunter22?Xyzzy99@127.0.0.1:6390/0", "redis://***@127.0.0.1:6390/0"),
        # ... and an @ before it (urlsplit finds a shorter, wrong password)
        ("redis://:p@ss/word@127.0.0.1:6390/0", "redis://***@127.0.0.1:6390/0"),
        ("redis://u:p@ss?x@127.0.0.1/0", "redis://***@127.0.0.1/0"),
        ("redis://user@127.0.0.1/0", "redis://user@127.0.0.1/0"),
        (
            "redis+sentinel://s1/main?sentinel_password=a@b&db=2",
            "redis+sentinel://s1/main?sentinel_password=***&db=2",
        ),
        # the Sentinels' password is all up to the next & (a # is part of it), and its
        # name may be percent-encoded: read as storage/redis/url.py reads it
        (
            "redis+sentinel://s1:26379/main?db=0&sentinel_password=ab#TopSecretTail",
            "redis+sentinel://s1:26379/main?db=0&sentinel_password=***",
        ),
        (
            "redis+sentinel://s1/main?sentinel%5Fpassword=TopSecret&db=2",
            "redis+sentinel://s1/main?sentinel%5Fpassword=***&db=2",
        ),
    ],
)
def test_the_printed_redis_url_hides_only_the_password(url: str, shown: str) -> None:
    from roomful_meetings.storage.redis.url import parse_redis_target

    if "sentinel_password" in url or "sentinel%5Fpassword" in url:
        password = parse_redis_target(url).sentinels[0].password  # type: ignore[union-attr]
        assert password and password in url and password not in shown  # all of it is hidden
    assert mask_password(url) == shown
    described = Settings(redis_url=url, jwt_secret="s" * 40).describe()
    assert described["redis_url"] == shown and described["jwt_secret"] == "***"


def test_the_readme_configuration_table_has_every_setting() -> None:
    from dataclasses import fields
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    for field in fields(Settings):
        flag, env = "`--" + field.name.replace("_", "-") + "`", "`ROOMFUL_" + field.name.upper() + "`"
        assert any(flag in row and env in row for row in rows), f"README lacks a row for {flag}"


def test_an_empty_environment_variable_counts_as_unset() -> None:
    """`ROOMFUL_JWT_REQUIRE_EXP=` (a bare line in an env file, compose's `${VAR:-}`) keeps
    the default: it does not turn the `exp` check off, nor empty the key prefix."""
    from roomful_meetings.config import settings_from

    settings = settings_from(
        None, {"ROOMFUL_JWT_REQUIRE_EXP": "", "ROOMFUL_KEY_PREFIX": "", "ROOMFUL_MAX_CONNECTIONS": ""}
    )
    assert settings.jwt_require_exp is True
    assert settings.key_prefix == Settings().key_prefix
    assert settings.max_connections == Settings().max_connections
    assert settings_from(None, {"ROOMFUL_JWT_REQUIRE_EXP": "false"}).jwt_require_exp is False


def test_an_empty_boolean_flag_is_refused() -> None:
    import argparse

    from roomful_meetings.config import ConfigError, settings_from

    with pytest.raises(ConfigError, match="bad value for --jwt-require-exp: not a boolean: ''"):
        settings_from(argparse.Namespace(jwt_require_exp=""), {})
