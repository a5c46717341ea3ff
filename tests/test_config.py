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
    ],
)
def test_the_printed_redis_url_hides_only_the_password(url: str, shown: str) -> None:
    assert mask_password(url) == shown
    described = Settings(redis_url=url, jwt_secret="s" * 40).describe()
    assert described["redis_url"] == shown and described["jwt_secret"] == "***"
