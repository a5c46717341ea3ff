"""Prometheus metrics of one instance (text format by prometheus-client, no HTTP thread)."""

from __future__ import annotations

import functools
import math
from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from roomful_meetings.config import worker_index

REGISTRY = CollectorRegistry(auto_describe=True)
# process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ... (Linux
# /proc) and python_info: what a dashboard needs beside the server's own figures.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

REDIS_UP = Gauge("roomful_redis_up", "1 while at least one link to Redis is open, else 0", registry=REGISTRY)
REDIS_ANSWERING = Gauge(
    "roomful_redis_answering",
    "Redis primaries that answered the readiness probe's PING in time",
    registry=REGISTRY,
)
CONNECTIONS = Gauge("roomful_connections", "Open websocket connections", registry=REGISTRY)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class RequestCount:
    """One (endpoint, code) of roomful_requests_total: a plain counter, read at a scrape.
    prometheus-client takes a lock per increment, which showed in the profile of a get
    (one instance is one thread: nothing to lock against)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self) -> None:
        self.value += 1


class RequestTime:
    """One endpoint of the roomful_request_seconds histogram (per-bucket counts, no lock)."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(REQUEST_BUCKETS) + 1)  # the last: above every bucket
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(REQUEST_BUCKETS, seconds)] += 1
        self.total += seconds


class _RequestCollector(Collector):
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], RequestCount] = {}
        self.times: dict[str, RequestTime] = {}

    def collect(self) -> Iterator[Metric]:
        counts = CounterMetricFamily(
            "roomful_requests",
            "Requests answered, by endpoint and code (0 = success)",
            labels=["endpoint", "code"],
        )
        for (endpoint, code), count in self.counts.items():
            counts.add_metric([endpoint, code], count.value)
        yield counts
        times = HistogramMetricFamily(
            "roomful_request_seconds", "Server time per request, frame in to reply ready", labels=["endpoint"]
        )
        for endpoint, timed in self.times.items():
            cumulative, buckets = 0, []
            for bound, in_bucket in zip((*REQUEST_BUCKETS, math.inf), timed.counts, strict=True):
                cumulative += in_bucket
                buckets.append(("+Inf" if bound == math.inf else repr(bound), float(cumulative)))
            times.add_metric([endpoint], buckets, timed.total)
        yield times


_REQUESTS = _RequestCollector()
REGISTRY.register(_REQUESTS)
EVENTS_DELIVERED = Counter(
    "roomful_events_delivered", "Event frames handed to local connections", registry=REGISTRY
)
CLOSES = Counter(
    "roomful_closes", "Connections closed by the server, by close code", ["code"], registry=REGISTRY
)
REDIS_ERRORS = Counter(
    "roomful_redis_errors", "Requests answered 503 because of Redis, by kind", ["kind"], registry=REGISTRY
)
TURNED_AWAY = Counter(
    "roomful_turned_away",
    "Connections answered 503 and closed at once: their port held its most (--max-connections,"
    " --max-http-connections)",
    ["port"],
    registry=REGISTRY,
)


def endpoint_label(endpoint: str | None, known: bool) -> str:
    """Client-chosen names would blow up the label set: unknown ones share one label."""
    return endpoint if known and endpoint else "unknown"


@functools.lru_cache(maxsize=1024)
def request_metrics(label: str, code: int) -> tuple[RequestCount, RequestTime]:
    """The counter of one (endpoint, code) and the histogram of its endpoint; the label set
    is bounded (known endpoints)."""
    count = _REQUESTS.counts.setdefault((label, str(code)), RequestCount())
    return count, _REQUESTS.times.setdefault(label, RequestTime())


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
