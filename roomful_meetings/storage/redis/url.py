"""Parse a Redis URL: redis://, rediss:// (TLS) and unix:// with user, password and db."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class RedisAddress:
    host: str = "127.0.0.1"
    port: int = 6379
    unix_path: str | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False
    tls_ca_file: str | None = None
    tls_verify: bool = True

    def masked(self) -> str:
        """The URL with its password hidden, for logs."""
        auth = ""
        if self.username or self.password:
            auth = f"{self.username or ''}{':***' if self.password else ''}@"
        if self.unix_path:
            return f"unix://{auth}{self.unix_path}?db={self.db}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.db}"


def parse_redis_url(url: str) -> RedisAddress:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r} (redis, rediss or unix)")
    if parts.scheme == "unix":
        db_text = query.get("db", ["0"])[0]
    else:
        db_text = query.get("db", [""])[0] or parts.path.lstrip("/")
    try:
        db = int(db_text or 0)
    except ValueError:
        raise ValueError(f"Redis database must be a number, got {db_text!r}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// Redis URL needs a socket path")
        return RedisAddress(unix_path=parts.path, username=username, password=password, db=db)
    verify = query.get("ssl_cert_reqs", ["required"])[0].lower() not in ("none", "0", "false")
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        username=username,
        password=password,
        db=db,
        tls=parts.scheme == "rediss",
        tls_ca_file=query.get("ssl_ca_certs", [None])[0],
        tls_verify=verify,
    )
