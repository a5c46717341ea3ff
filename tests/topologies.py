"""Real Redis topologies for tests: a Redis Cluster and a Sentinel group, as child processes.

Like RedisProcess (roomful_meetings/storage/embedded.py): synchronous control, free
loopback ports, files in a temporary folder, no persistence, and `stop` ends every process
that `start` began. `start` returns once the topology is healthy: every cluster node says
cluster_state:ok and agrees on the slot map with a replica per primary; the Sentinel
primary has its replicas online and every Sentinel names it and knows the others.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import hiredis

from roomful_meetings.storage.embedded import find_redis_server, free_port, redis_command, stop_process
from roomful_meetings.storage.redis.connection import pack

_TAKEN: set[int] = set()  # ports handed out by node_port in this process


def node_port() -> int:
    """A free loopback port below the kernel's ephemeral range. Outgoing connections take
    their source ports from that range, so one of them can take a port bound and released
    by `free_port` before a node binds it (seen: a cluster bus port, "Address already in
    use", and the topology never starts); here none can, and a topology's ports, fixed in
    its configuration, stay its own. (Other processes choosing ports so may pick the same
    one: the bind check below is all that keeps them apart.)"""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    if low <= 2048:  # no room below the range: take a free port from it, as free_port does
        return free_port()
    while True:
        port = random.randrange(max(1024, low - 12_000), low)
        if port in _TAKEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _TAKEN.add(port)
        return port


HEALTHY_WITHIN: Final = 30.0  # seconds a topology may take to become healthy (a few, usually)
MASTER_NAME: Final = "roomful"


def command(
    port: int,
    *args: str | bytes | int,
    timeout: float = 2.0,
    password: str | None = None,
    asking: bool = False,
) -> Any:
    """One command to 127.0.0.1:`port` (after AUTH `password`, and ASKING for a key of a
    slot the node is importing), synchronously; an error reply is returned, not raised."""
    first: list[tuple[str, ...]] = [("AUTH", password)] if password else []
    first += [("ASKING",)] if asking else []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"".join(pack(c) for c in first) + pack(args))
        reader = hiredis.Reader()
        replies: list[Any] = []
        while len(replies) < len(first) + 1:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"127.0.0.1:{port} closed the connection")
            reader.feed(data)
            while (reply := reader.gets()) is not False:
                replies.append(reply)
        return replies[-1]


def answers(port: int, *args: str | bytes | int, password: str | None = None) -> Any:
    """The reply, or None when the node is not reachable."""
    try:
        return command(port, *args, timeout=0.5, password=password)
    except OSError:
        return None


def wait_until(check: Callable[[], bool], what: str, within: float = HEALTHY_WITHIN) -> None:
    """Poll `check` (a question to real processes) until it holds; RuntimeError after `within`."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {within:g}s")
        time.sleep(0.05)


def info(port: int, section: str) -> dict[str, str]:
    reply = answers(port, "INFO", section)
    if not isinstance(reply, bytes):
        return {}
    lines = reply.decode().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line and not line.startswith("#"))


class Node:
    """One redis-server (data node or Sentinel) of a topology."""

    def __init__(self, folder: Path, args: list[str], port: int, password: str | None = None) -> None:
        self.folder, self.args, self.port, self.password = folder, args, port, password
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self.args, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait_up(self) -> None:
        def up() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                log = (self.folder / "redis.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"redis-server on {self.port} exited:\n{log}")
            return bool(answers(self.port, "PING", password=self.password) == b"PONG")

        wait_until(up, f"redis-server on port {self.port} answering PING")

    def kill(self) -> None:
        """SIGKILL: no goodbye to replicas, Sentinels or cluster peers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 5)
        self.proc = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def data_node_args(binary: str, port: int, folder: Path, *extra: str) -> list[str]:
    """The embedded Redis's command line (no persistence) and `extra`."""
    return [*redis_command(binary, port, folder, persistent=False), *extra]


class RedisCluster:
    """`primaries` primaries with `replicas` replicas each, made by `redis-cli --cluster
    create`; a node is declared failed after `node_timeout_ms` (small: fast failovers)."""

    def __init__(
        self,
        folder: Path,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        binary: str | None = None,
    ) -> None:
        self.folder = folder
        self.binary = binary or find_redis_server()
        self.primaries, self.replicas = primaries, replicas
        self.nodes: list[Node] = []
        for index in range(primaries * (1 + replicas)):
            port, bus = node_port(), node_port()
            where = folder / f"node{index}"
            args = data_node_args(
                self.binary,
                port,
                where,
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                str(bus),
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(node_timeout_ms),
                # A replica may take over however long it was cut off (the tests kill primaries).
                "--cluster-replica-validity-factor",
                "0",
            )
            self.nodes.append(Node(where, args, port))

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:2])

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            for node in self.nodes:
                node.wait_up()
            subprocess.run(
                [
                    str(Path(self.binary).with_name("redis-cli")),
                    "--cluster",
                    "create",
                    *[f"127.0.0.1:{n.port}" for n in self.nodes],
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=HEALTHY_WITHIN,
            )
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self) -> None:
        """Every live node says cluster_state:ok and sees each slot range with an online
        primary and, when there are replicas, an online replica."""

        def healthy() -> bool:
            views = set()
            for node in self.nodes:
                if not node.alive:
                    continue
                if info(node.port, "cluster").get("cluster_enabled") != "1":
                    return False
                state = answers(node.port, "CLUSTER", "INFO")
                if not isinstance(state, bytes) or b"cluster_state:ok" not in state:
                    return False
                shards = self.shards(node.port)
                if shards is None or len(shards) != self.primaries:
                    return False
                if self.replicas and any(len(s["replicas"]) < 1 for s in shards):
                    return False
                views.add(tuple(sorted((s["slots"], s["primary"]) for s in shards)))
            return len(views) == 1

        wait_until(healthy, "cluster healthy (cluster_state:ok, one slot map, replicas online)")

    def shards(self, port: int) -> list[dict[str, Any]] | None:
        """The shards with slots as `port` sees them: slots, primary port, online replica ports."""
        reply = answers(port, "CLUSTER", "SHARDS")
        if not isinstance(reply, list):
            return None
        shards = []
        for shard in reply:
            fields = dict(zip(shard[::2], shard[1::2], strict=True))
            if not fields[b"slots"]:
                continue
            nodes = [dict(zip(n[::2], n[1::2], strict=True)) for n in fields[b"nodes"]]
            online = [n for n in nodes if n[b"health"] == b"online"]
            primaries = [int(n[b"port"]) for n in online if n[b"role"] == b"master"]
            if len(primaries) != 1:
                return None
            shards.append(
                {
                    "slots": tuple(int(s) for s in fields[b"slots"]),
                    "primary": primaries[0],
                    "replicas": [int(n[b"port"]) for n in online if n[b"role"] == b"replica"],
                }
            )
        return shards

    def node(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def owner(self, key: str) -> int:
        """The port of the primary that serves `key` now, asked of a live node."""
        live = next(n for n in self.nodes if n.alive)
        slot = int(command(live.port, "CLUSTER", "KEYSLOT", key))
        for start, end, primary, *_ in command(live.port, "CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise LookupError(f"no owner of slot {slot}")

    def replica_of(self, primary_port: int) -> int:
        live = next(n for n in self.nodes if n.alive)
        for shard in self.shards(live.port) or []:
            if shard["primary"] == primary_port:
                return int(shard["replicas"][0])
        raise LookupError(f"no replica of {primary_port}")

    def node_id(self, port: int) -> str:
        return bytes(command(port, "CLUSTER", "MYID")).decode()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SlotMove:
    """Moves the slot of `key` from its owner to another primary as `redis-cli --cluster
    reshard` does: IMPORTING on the target, MIGRATING on the source, the keys MIGRATEd in
    batches, then SETSLOT NODE on every primary. One step at a time, so that a test can
    act while the slot is half moved."""

    def __init__(self, cluster: RedisCluster, key: str) -> None:
        self.source = cluster.owner(key)
        self.slot = int(command(self.source, "CLUSTER", "KEYSLOT", key))
        self.primaries = [s["primary"] for s in cluster.shards(self.source) or []]
        self.target = next(p for p in self.primaries if p != self.source)
        self.ids = {port: cluster.node_id(port) for port in (self.source, self.target)}

    def begin(self) -> None:
        importing = ("CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.ids[self.source])
        assert command(self.target, *importing) == b"OK"
        migrating = ("CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.ids[self.target])
        assert command(self.source, *migrating) == b"OK"

    def move_keys(self, count: int) -> int:
        """MIGRATE up to `count` keys of the slot; how many there were (0: none left)."""
        keys = command(self.source, "CLUSTER", "GETKEYSINSLOT", self.slot, count)
        if keys:
            reply = command(self.source, "MIGRATE", "127.0.0.1", self.target, "", 0, 5000, "KEYS", *keys)
            assert reply == b"OK", f"MIGRATE {keys}: {reply!r}"
        return len(keys)

    def finish(self) -> None:
        while self.move_keys(100):
            pass
        for port in (self.target, self.source, *self.primaries):
            assert command(port, "CLUSTER", "SETSLOT", self.slot, "NODE", self.ids[self.target]) == b"OK"


SENTINEL_CONF: Final = """port {port}
bind 127.0.0.1
dir {folder}
logfile redis.log
sentinel monitor {name} 127.0.0.1 {primary} 2
sentinel down-after-milliseconds {name} {down_after_ms}
sentinel failover-timeout {name} 10000
sentinel parallel-syncs {name} 2
"""


class SentinelGroup:
    """A primary with `replicas` replicas and `sentinels` Sentinels (quorum 2); the primary
    is declared down after `down_after_ms` without an answer. With `sentinel_password`, the
    Sentinels require it (`requirepass`) of clients and of each other."""

    def __init__(
        self,
        folder: Path,
        *,
        replicas: int = 2,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        sentinel_password: str | None = None,
    ) -> None:
        self.folder = folder
        binary = find_redis_server()
        ports = [node_port() for _ in range(1 + replicas)]
        self.data = [
            Node(
                folder / f"data{i}",
                data_node_args(
                    binary,
                    port,
                    folder / f"data{i}",
                    *(["--replicaof", "127.0.0.1", str(ports[0])] if i else []),
                ),
                port,
            )
            for i, port in enumerate(ports)
        ]
        self.sentinels = []
        for i in range(sentinels):
            port, where = node_port(), folder / f"sentinel{i}"
            where.mkdir(parents=True, exist_ok=True)
            conf = where / "sentinel.conf"  # Sentinel rewrites it: a file of its own
            text = SENTINEL_CONF.format(
                port=port, folder=where, name=MASTER_NAME, primary=ports[0], down_after_ms=down_after_ms
            )
            if sentinel_password:  # clients and the other Sentinels must authenticate
                text += f"requirepass {sentinel_password}\nsentinel sentinel-pass {sentinel_password}\n"
            conf.write_text(text)
            self.sentinels.append(Node(where, [binary, str(conf), "--sentinel"], port, sentinel_password))

    @property
    def url(self) -> str:
        return f"redis+sentinel://{','.join(f'127.0.0.1:{s.port}' for s in self.sentinels)}/{MASTER_NAME}"

    def start(self) -> None:
        try:
            for node in self.data:
                node.start()
            for node in self.data:
                node.wait_up()
            primary = self.data[0].port
            wait_until(
                lambda: self.online_replicas(primary) == len(self.data) - 1,
                "replicas in sync with the primary",
            )
            for node in self.sentinels:
                node.start()
            for node in self.sentinels:
                node.wait_up()
            self.wait_agreed(primary)
        except BaseException:
            self.stop()
            raise

    def online_replicas(self, primary: int) -> int:
        fields = info(primary, "replication")
        if fields.get("role") != "master":
            return 0
        return sum("state=online" in v for k, v in fields.items() if k.startswith("slave"))

    def primary(self) -> int | None:
        """The port every live Sentinel names as the primary, if they agree."""
        named = set()
        for node in self.sentinels:
            reply = answers(
                node.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME, password=node.password
            )
            if not isinstance(reply, list):
                return None
            named.add(int(reply[1]))
        return named.pop() if len(named) == 1 else None

    def wait_agreed(self, primary: int) -> None:
        """Every Sentinel names `primary`, knows the other Sentinels and the live replicas."""
        replicas = sum(n.alive for n in self.data) - 1

        def agreed() -> bool:
            if self.primary() != primary:
                return False
            for node in self.sentinels:
                others = answers(node.port, "SENTINEL", "sentinels", MASTER_NAME, password=node.password)
                known = answers(node.port, "SENTINEL", "replicas", MASTER_NAME, password=node.password)
                if not isinstance(others, list) or len(others) != len(self.sentinels) - 1:
                    return False
                if not isinstance(known, list):
                    return False
                flags = [dict(zip(r[::2], r[1::2], strict=True))[b"flags"] for r in known]
                if sum(f == b"slave" for f in flags) < replicas:
                    return False
            return True

        wait_until(agreed, f"Sentinels agreeing on primary {primary}")

    def data_node(self, port: int) -> Node:
        return next(n for n in self.data if n.port == port)

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.stop()
