"""Prometheus metrics of one instance (text format by prometheus-client, no HTTP thread)."""

from __future__ import annotations

import functools

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from roomful_meetings.config import worker_index

REGISTRY = CollectorRegistry(auto_describe=True)
# process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ... (Linux
# /proc) and python_info: what a dashboard needs beside the server's own figures.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

REDIS_UP = Gauge("roomful_redis_up", "1 while at least one link to Redis is open, else 0", registry=REGISTRY)
CONNECTIONS = Gauge("roomful_connections", "Open websocket connections", registry=REGISTRY)
REQUESTS = Counter(
    "roomful_requests",
    "Requests answered, by endpoint and code (0 = success)",
    ["endpoint", "code"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "roomful_request_seconds",
    "Server time per request, frame in to reply ready",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
EVENTS_DELIVERED = Counter(
    "roomful_events_delivered", "Event frames handed to local connections", registry=REGISTRY
)
CLOSES = Counter(
    "roomful_closes", "Connections closed by the server, by close code", ["code"], registry=REGISTRY
)
REDIS_ERRORS = Counter(
    "roomful_redis_errors", "Requests answered 503 because of Redis, by kind", ["kind"], registry=REGISTRY
)


def endpoint_label(endpoint: str | None, known: bool) -> str:
    """Client-chosen names would blow up the label set: unknown ones share one label."""
    return endpoint if known and endpoint else "unknown"


@functools.lru_cache(maxsize=1024)
def request_metrics(label: str, code: int) -> tuple[Counter, Histogram]:
    """The children of one (endpoint, code): `labels()` takes a lock and builds a key each
    call, which shows on the request path; the label set is bounded (known endpoints)."""
    return REQUESTS.labels(label, str(code)), REQUEST_SECONDS.labels(label)


def exposition() -> bytes:
    """The metrics; in a worker of `serve --workers N`, each sample labelled worker="i"."""
    text = generate_latest(REGISTRY)
    index = worker_index()
    return with_label(text, b"worker", str(index).encode()) if index else text


def with_label(text: bytes, name: bytes, value: bytes) -> bytes:
    """Prometheus text with `name="value"` added to every sample (comments kept as they are)."""
    label = name + b'="' + value + b'"'
    lines = []
    for line in text.split(b"\n"):
        if line and not line.startswith(b"#"):
            metric, sep, rest = line.partition(b"{")
            if sep:
                line = metric + b"{" + label + b"," + rest
            else:
                metric, _, sample = line.partition(b" ")
                line = metric + b"{" + label + b"} " + sample
        lines.append(line)
    return b"\n".join(lines)
