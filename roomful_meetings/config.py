"""Settings: one frozen object, from command-line flags, else environment, else defaults.

Each setting is declared once in SETTINGS (flag, environment variable, type, default, help);
the CLI builds its flags from that table and the README's configuration reference lists it.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from roomful_meetings.protocol.origins import parse_allowed_origins

# A comma-separated list of exact origins, checked when it is read (protocol/origins.py).
Origins = str


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8765
    http_port: int = 0
    max_http_connections: int = 256
    redis_url: str = ""
    redis_pool_size: int = 2
    redis_timeout: float = 5.0
    redis_connect_timeout: float = 0.0
    redis_min_replicas: int = 0
    redis_probe_interval: float = 1.0
    redis_probe_timeout: float = 2.0
    key_prefix: str = "rm:"
    data_dir: Path = Path("./var")
    jwt_secret: str = ""
    jwt_public_key: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_require_exp: bool = True
    tenant_claim: str = "tenant"
    max_frame_bytes: int = 1024 * 1024
    max_invitees: int = 100
    max_slot_users: int = 100
    max_expanded_instances: int = 500_000
    rate_per_second: float = 100.0
    rate_burst: int = 200
    max_in_flight: int = 32
    send_queue_frames: int = 1024
    send_queue_bytes: int = 16 * 1024 * 1024
    max_answer_bytes: int = 16 * 1024 * 1024
    max_connections: int = 20_000
    max_connections_per_user: int = 20
    handshake_timeout: float = 10.0
    ping_interval: float = 30.0
    ping_timeout: float = 10.0
    shutdown_deadline: float = 10.0
    log_level: str = "info"
    log_format: str = "logfmt"
    allowed_origins: Origins = ""
    public_base_url: str = ""
    feed_secret: str = ""
    workers: int = 1

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    def describe(self) -> dict[str, Any]:
        """The settings as printed at start, secrets masked."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name in ("jwt_secret", "feed_secret") and value:
                value = "***"
            elif field.name == "redis_url" and value:
                value = mask_password(value)
            out[field.name] = str(value) if isinstance(value, Path) else value
        return out


def mask_password(url: str) -> str:
    """The URL with its passwords replaced by ***, for logs: the server's, and a Sentinel's
    in the query (?sentinel_password=); the rest is kept as given.

    A password with an unencoded `/`, `?`, `#` or `@` ends the part where urlsplit looks for
    it early, so it finds none or a shorter one: unless what urlsplit takes for the user
    part is all that comes before the URL's last `@`, everything between `://` and that
    `@` is hidden (the Sentinel's password, which may hold an `@`, is hidden first)."""
    url = _mask_sentinel_password(url)
    scheme, _, rest = url.partition("://")
    user_part, at, host_part = rest.rpartition("@")
    if not at:
        return url
    parts = urlsplit(url)
    if parts.password is not None and parts.netloc.rpartition("@")[0] == user_part:
        return urlunsplit(
            parts._replace(netloc=f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}")
        )
    if parts.netloc.rpartition("@")[0] == user_part:
        return url  # a user name alone, no password
    return f"{scheme}://***@{host_part}"


def _mask_sentinel_password(url: str) -> str:
    """The URL with the value of every `sentinel_password` in its query replaced by ***,
    the query read as storage/redis/url.py reads it: all that follows the first `?`, split
    at `&` only (a `#` is part of the value), names percent- or plus-decoded."""
    head, question, query = url.partition("?")
    if not question:
        return url
    pairs = []
    for pair in query.split("&"):
        name, equals, _ = pair.partition("=")
        pairs.append(f"{name}=***" if equals and unquote_plus(name) == "sentinel_password" else pair)
    return f"{head}?{'&'.join(pairs)}"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):  # not "": an empty value turned checks off
        return False
    raise ValueError(f"not a boolean: {text!r}")


HELP: Mapping[str, str] = {
    "host": "interface to listen on",
    "port": "websocket port",
    "http_port": "health and metrics HTTP port (0: off)",
    "max_http_connections": "connections the HTTP port holds at once; more are answered 503 and closed",
    "redis_url": (
        "redis://[user:password@]host:port/db, rediss://, unix://, "
        "redis+sentinel://host:port[,host:port...]/<master name>[?db=N] or "
        "redis+cluster://host:port[,host:port...] (unset: embedded Redis)"
    ),
    "redis_pool_size": "Redis connections per instance (each pipelines many requests)",
    "redis_timeout": "seconds to wait for a Redis reply before the link is dropped",
    "redis_connect_timeout": "seconds to wait for Redis at start before exiting 1 (0: wait for ever)",
    "redis_min_replicas": "replicas that must hold a change (Redis WAIT) before it is answered (0: none)",
    "redis_probe_interval": "seconds between the readiness probe's PINGs to each Redis primary",
    "redis_probe_timeout": (
        "seconds without an answer to a PING before Redis counts as silent "
        "(/readyz 503, its new commands refused at once)"
    ),
    "key_prefix": "prefix of every Redis key and channel",
    "data_dir": "local folder for the embedded Redis and the generated JWT secret",
    "jwt_secret": "HS256 shared secret (unset: generated in the data folder)",
    "jwt_public_key": "PEM file with an RS256 or ES256 public key",
    "jwt_issuer": "required `iss` claim (unset: not checked)",
    "jwt_audience": "required `aud` claim (unset: not checked)",
    "jwt_require_exp": "refuse tokens without `exp`",
    "tenant_claim": "JWT claim naming the user's tenant (absent: the tenant `default`)",
    "max_frame_bytes": "largest accepted frame; larger ones close the connection with 1009",
    "max_invitees": "most invited users per meeting",
    "max_slot_users": "most users per time-slot search, and attendees per findMeetingTimes",
    "max_expanded_instances": "most recurring-meeting instances one request may work out (more: 400)",
    "rate_per_second": "sustained requests per second per connection",
    "rate_burst": "burst of requests per connection above the sustained rate",
    "max_in_flight": "requests of one connection processed at once (more wait)",
    "send_queue_frames": "frames queued for a connection before it counts as too slow",
    "send_queue_bytes": "bytes queued for a connection before it counts as too slow (answers wait)",
    "max_answer_bytes": "largest answer to a read (listings, exports); a larger one is refused with 400",
    "max_connections": "websocket connections per instance, from accept (handshakes included)",
    "max_connections_per_user": "connections per user per instance",
    "handshake_timeout": "seconds a client has to finish the websocket handshake",
    "ping_interval": "seconds of silence from a client before the server pings it",
    "ping_timeout": "seconds to wait for the pong before the connection is dropped (4009)",
    "shutdown_deadline": "seconds to finish in-flight requests on SIGTERM",
    "log_level": "debug, info, warning or error",
    "log_format": "logfmt (key=value lines) or json (one object per line)",
    "allowed_origins": "comma-separated exact origins browsers may connect from (unset: any)",
    "public_base_url": "base of calendar feed URLs, as clients reach the HTTP port (unset: http://host:http-port)",
    "feed_secret": "secret feed tokens derive from, alike on every instance (unset: the HS256 secret)",
    "workers": "processes sharing --port (SO_REUSEPORT), one per core; worker i: --http-port + i - 1",
}

INF: Final = math.inf
# What each number may be (inclusive): anything else cannot work, and is refused at start
# (a port of 70000 was taken modulo 65536; a pool of 0 connections waited for ever).
RANGES: Mapping[str, tuple[float, float]] = {
    "port": (0, 65535),  # 0: any free port
    "http_port": (0, 65535),  # 0: off
    "max_http_connections": (1, INF),
    "redis_pool_size": (1, INF),
    "redis_connect_timeout": (0, INF),  # 0: wait for ever
    "redis_min_replicas": (0, INF),
    "max_frame_bytes": (1, INF),
    "max_invitees": (0, INF),
    "max_slot_users": (0, INF),
    "max_expanded_instances": (0, INF),
    "rate_burst": (1, INF),
    "max_in_flight": (1, INF),
    "send_queue_frames": (1, INF),
    "send_queue_bytes": (1, INF),
    "max_answer_bytes": (1, INF),
    "max_connections": (1, INF),
    "max_connections_per_user": (1, INF),
    "shutdown_deadline": (0, INF),
    "workers": (1, INF),
}
# Durations and rates that must be above 0.
POSITIVE: Collection[str] = (
    "redis_timeout",
    "redis_probe_interval",
    "redis_probe_timeout",
    "rate_per_second",
    "handshake_timeout",
    "ping_interval",
    "ping_timeout",
)

# Settings that take one of a few words; anything else is refused at start.
CHOICES: Mapping[str, tuple[str, ...]] = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("logfmt", "json"),
}


def _out_of_range(name: str, value: Any) -> str:
    """What is wrong with a number setting's value ("" when nothing is)."""
    if name in POSITIVE:
        return "" if math.isfinite(value) and value > 0 else "a number above 0"
    if name not in RANGES:
        return ""
    low, high = RANGES[name]
    if math.isfinite(value) and low <= value <= high:
        return ""
    return f"{low:g} or more" if high == INF else f"{low:g} to {high:g}"


class ConfigError(Exception):
    """A setting that cannot work (bad value, unreadable key file, port in use): the
    command line prints the message as one line and exits 2."""


PARSERS: Mapping[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "str": str,
    "bool": _bool,
    "Path": Path,
    "Origins": lambda text: ",".join(sorted(parse_allowed_origins(text))),
}


def _parser_for(type_name: Any) -> Callable[[str], Any]:
    # Field types are strings here (postponed annotations): "int", "Path", ...
    return PARSERS[type_name if isinstance(type_name, str) else type_name.__name__]


def add_arguments(parser: argparse.ArgumentParser, only: Collection[str] | None = None) -> None:
    """Add a flag per setting (or per setting named in `only`, for commands that use few)."""
    for field in fields(Settings):
        if only is not None and field.name not in only:
            continue
        flag = "--" + field.name.replace("_", "-")
        env = "ROOMFUL_" + field.name.upper()
        parser.add_argument(flag, dest=field.name, default=None, help=f"{HELP[field.name]} [{env}]")


def settings_from(args: argparse.Namespace | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Flags win over ROOMFUL_* environment variables (an empty one is unset), which win
    over defaults."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for field in fields(Settings):
        raw = getattr(args, field.name, None) if args is not None else None
        if raw is None:
            # Empty counts as unset: compose's ${VAR:-} and a bare `VAR=` in an env file give
            # "", which would otherwise turn --jwt-require-exp off or --key-prefix to "".
            raw = env.get("ROOMFUL_" + field.name.upper()) or None
        if raw is None:
            continue
        flag = "--" + field.name.replace("_", "-")
        try:
            values[field.name] = _parser_for(field.type)(raw)
        except ValueError as exc:
            raise ConfigError(f"bad value for {flag}: {exc}") from None
        problem = _out_of_range(field.name, values[field.name])
        if problem:
            raise ConfigError(f"bad value for {flag}: {raw!r} ({problem})")
        allowed = CHOICES.get(field.name)
        if allowed is not None:
            # taken in any case (INFO, JSON), kept in the one the server looks up
            values[field.name] = str(values[field.name]).lower()
            if values[field.name] not in allowed:
                raise ConfigError(f"bad value for {flag}: {raw!r} (one of {', '.join(allowed)})")
    settings = Settings(**values)
    if "{" in settings.key_prefix or "}" in settings.key_prefix:
        # the tenant's {hash tag} must be the first braces of every key (contract 12)
        raise ConfigError(f"bad value for --key-prefix: {settings.key_prefix!r} (no braces)")
    if settings.workers < 1:
        raise ConfigError(f"bad value for --workers: {settings.workers} (at least 1)")
    if settings.public_base_url and not _is_base_url(settings.public_base_url):
        # "cal.example.com" (no scheme) made feed URLs no calendar app subscribes to
        raise ConfigError(
            f"bad value for --public-base-url: {settings.public_base_url!r}"
            " (an http:// or https:// URL with a host, and no query)"
        )
    last_http_port = settings.http_port + settings.workers - 1  # worker i: --http-port + i - 1
    if settings.http_port and last_http_port > 65535:
        raise ConfigError(
            f"bad value for --http-port: {settings.http_port} (worker {settings.workers} of --workers"
            f" {settings.workers} would serve on {last_http_port}; ports end at 65535)"
        )
    return settings


def _is_base_url(text: str) -> bool:
    """Whether `text` can start a URL: http(s), a host, a valid port, no query or fragment."""
    try:
        parts = urlsplit(text)  # raises ValueError for a bracket not closed ("http://[::1")
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not (parts.query or parts.fragment)


WORKER_ENV = "ROOMFUL_WORKER_INDEX"  # set by `serve --workers N` in each worker it starts
PARENT_ENV = "ROOMFUL_WORKER_PARENT"  # and the pid of that parent


def worker_parent() -> int:
    """The pid of the `serve --workers N` that started this worker; 0 when not a worker."""
    try:
        return int(os.environ.get(PARENT_ENV, "0")) if worker_index() else 0
    except ValueError:
        return 0


def worker_index() -> int:
    """This process's index among `serve --workers N` (from 1); 0 when it is not a worker."""
    try:
        return int(os.environ.get(WORKER_ENV, "0"))
    except ValueError:
        return 0
