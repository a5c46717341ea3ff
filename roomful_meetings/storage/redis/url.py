"""Parse a Redis URL into where to connect: one server, a Sentinel group or a Cluster.

- `redis://`, `rediss://` (TLS) and `unix://` with user, password and db: one server.
- `redis+sentinel://[user:password@]host:port[,host:port...]/<master name>[?db=N]`: the
  primary that those Sentinels name (`rediss+sentinel://` for TLS to the data nodes and the
  Sentinels). The user and password are the data nodes'; `sentinel_username` and
  `sentinel_password` in the query authenticate to the Sentinels themselves.
- `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://`): a Redis
  Cluster found from any of the listed seed nodes (database 0 only, as Cluster has no other).

Every form also takes `ssl_ca_certs` (a CA file) and `ssl_cert_reqs=none` (no certificate
check) in the query. A URL that cannot work raises ValueError with the reason, which quotes
no part of the URL that could be its password (see `_shown`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_PORT = 6379
SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class RedisAddress:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    unix_path: str | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: bool = False
    tls_ca_file: str | None = None
    tls_verify: bool = True

    def masked(self) -> str:
        """The URL with its password hidden, for logs."""
        return self._written(_masked_auth(self.username, self.password))

    def url(self) -> str:
        """The URL `parse_redis_url` reads back as this address (but for the TLS CA file and
        verification, which no URL here carries): for a child process's environment."""
        user = quote(self.username or "", safe="")
        auth = f"{user}:{quote(self.password, safe='')}@" if self.password else (f"{user}@" if user else "")
        return self._written(auth)

    def _written(self, auth: str) -> str:
        if self.unix_path:
            return f"unix://{auth}{self.unix_path}?db={self.db}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.db}"

    def at(self, host: str, port: int) -> RedisAddress:
        """The same credentials, database and TLS options at another node."""
        return replace(self, host=host, port=port, unix_path=None)

    @property
    def node(self) -> str:
        """`host:port`, the name Redis Cluster gives a node."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SentinelAddress:
    """A Sentinel group: `sentinels` are tried in order to find `master_name`'s primary,
    which is then reached with the credentials, database and TLS options of `data`."""

    sentinels: tuple[RedisAddress, ...]
    master_name: str
    data: RedisAddress

    def masked(self) -> str:
        scheme = "rediss+sentinel" if self.data.tls else "redis+sentinel"
        hosts = ",".join(s.node for s in self.sentinels)
        auth = _masked_auth(self.data.username, self.data.password)
        return f"{scheme}://{auth}{hosts}/{self.master_name}?db={self.data.db}"


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """A Redis Cluster: the slot map is read from the first of `seeds` that answers."""

    seeds: tuple[RedisAddress, ...]

    def masked(self) -> str:
        first = self.seeds[0]
        scheme = "rediss+cluster" if first.tls else "redis+cluster"
        auth = _masked_auth(first.username, first.password)
        return f"{scheme}://{auth}{','.join(s.node for s in self.seeds)}"


Target = RedisAddress | SentinelAddress | ClusterAddress

SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "rediss+sentinel", "redis+cluster", "rediss+cluster")


def _masked_auth(username: str | None, password: str | None) -> str:
    if not (username or password):
        return ""
    return f"{username or ''}{':***' if password else ''}@"


def parse_redis_url(url: str) -> RedisAddress:
    """The one server of a redis://, rediss:// or unix:// URL. Raises ValueError naming
    what is wrong (a Sentinel or Cluster URL too: see `parse_redis_target`)."""
    target = parse_redis_target(url)
    if not isinstance(target, RedisAddress):
        raise ValueError(f"{url.partition('://')[0]}:// names several servers, not one")
    return target


def parse_redis_target(url: str) -> Target:
    """Where `url` points: one server, a Sentinel group or a Cluster. Raises ValueError
    naming what is wrong."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise ValueError(f"unsupported Redis URL scheme {scheme!r} (one of {', '.join(SCHEMES)})")
    if scheme.endswith("+sentinel"):
        return _sentinel(url, tls=scheme.startswith("rediss"))
    if scheme.endswith("+cluster"):
        return _cluster(url, tls=scheme.startswith("rediss"))
    return _single(url)


_UNSHOWN = "(not shown: it may hold the password; write / ? # @ in a password as %2F %3F %23 %40)"


def _shown(url: str, text: str) -> str:
    """`text`, a part of `url`, quoted for an error message, unless it could hold the
    password: anything before the URL's last `@`. A password with an unencoded `/` or `?`
    ends the host part early, so what a parser takes for the port, the database or a host
    can be the password itself ("bad port in 'admin:Hunter22'")."""
    last_at = url.rfind("@", url.find("://") + 3)
    return repr(text) if last_at < 0 or url.find(text) > last_at else _UNSHOWN


def _single(url: str) -> RedisAddress:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        db_text = query.get("db", ["0"])[0]
    else:
        db_text = query.get("db", [""])[0] or parts.path.lstrip("/")
    db = _db(db_text, url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("unix:// Redis URL needs a socket path")
        return RedisAddress(unix_path=parts.path, username=username, password=password, db=db)
    host_port = parts.netloc.rpartition("@")[2]
    try:
        port = DEFAULT_PORT if parts.port is None else parts.port
    except ValueError:
        raise ValueError(f"bad port in Redis URL {_shown(url, host_port)}") from None
    if port == 0:  # urlsplit reads "host:0" as port 0, which no server listens on
        raise ValueError(f"bad port in Redis URL {_shown(url, host_port)} (1 to 65535)")
    return _with_tls(
        RedisAddress(
            host=parts.hostname or "127.0.0.1", port=port, username=username, password=password, db=db
        ),
        query,
        tls=parts.scheme == "rediss",
    )


def _db(text: str, url: str) -> int:
    try:
        db = int(text or 0)
    except ValueError:
        raise ValueError(f"Redis database must be a number, got {_shown(url, text)}") from None
    if db < 0:
        raise ValueError(f"Redis database must be 0 or more, got {db}")
    return db


def _with_tls(address: RedisAddress, query: dict[str, list[str]], *, tls: bool) -> RedisAddress:
    verify = query.get("ssl_cert_reqs", ["required"])[0].lower() not in ("none", "0", "false")
    return replace(address, tls=tls, tls_ca_file=query.get("ssl_ca_certs", [None])[0], tls_verify=verify)


def _hosts(netloc: str, default_port: int, form: str, url: str) -> tuple[tuple[str, int], ...]:
    """The comma-separated host:port list of a Sentinel or Cluster URL ([v6]:port too)."""
    hosts = []
    for item in netloc.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"{form} URL has an empty host in its host list")
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port_text = rest.removeprefix(":")
        else:
            host, _, port_text = item.partition(":")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ValueError(f"{form} URL: bad port in {_shown(url, item)}") from None
        if not host or not 0 < port < 65536:
            raise ValueError(f"{form} URL: bad host:port {_shown(url, item)}")
        hosts.append((host, port))
    return tuple(hosts)


def _split(url: str) -> tuple[str | None, str | None, str, str, dict[str, list[str]]]:
    """(username, password, host list, path, query) of a URL with several hosts, which
    urlsplit cannot take apart itself (it wants one port)."""
    rest = url.partition("://")[2]
    rest, _, query_text = rest.partition("?")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        username = unquote(user_text) or None
        password = unquote(password_text) if colon else None
    return username, password, hosts, path if slash else "", parse_qs(query_text)


def _sentinel(url: str, *, tls: bool) -> SentinelAddress:
    form = "redis+sentinel://"
    username, password, hosts, path, query = _split(url)
    if not hosts:
        raise ValueError(f"{form} URL needs host:port of at least one Sentinel")
    master_name = unquote(path.strip("/"))
    if not master_name or "/" in master_name:
        raise ValueError(f"{form} URL needs the master name as its path: {form}host:port/<master name>")
    data = _with_tls(
        RedisAddress(username=username, password=password, db=_db(query.get("db", ["0"])[0], url)),
        query,
        tls=tls,
    )
    sentinel_auth = RedisAddress(
        username=query.get("sentinel_username", [None])[0],
        password=query.get("sentinel_password", [None])[0],
        tls=data.tls,
        tls_ca_file=data.tls_ca_file,
        tls_verify=data.tls_verify,
    )
    sentinels = tuple(sentinel_auth.at(h, p) for h, p in _hosts(hosts, SENTINEL_PORT, form, url))
    return SentinelAddress(sentinels=sentinels, master_name=master_name, data=data)


def _cluster(url: str, *, tls: bool) -> ClusterAddress:
    form = "redis+cluster://"
    username, password, hosts, path, query = _split(url)
    if not hosts:
        raise ValueError(f"{form} URL needs host:port of at least one cluster node")
    if path.strip("/") not in ("", "0") or query.get("db", ["0"])[0] != "0":
        raise ValueError("Redis Cluster has only database 0: drop the database from the URL")
    template = _with_tls(RedisAddress(username=username, password=password), query, tls=tls)
    return ClusterAddress(seeds=tuple(template.at(h, p) for h, p in _hosts(hosts, DEFAULT_PORT, form, url)))
