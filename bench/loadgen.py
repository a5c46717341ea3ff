"""The load generator: many websocket clients in one process, closed loop, one scenario.

    python bench/loadgen.py --url ws://... --scenario get --connections 100 --seconds 5 \
        --secret S --seed bench/results/seed.json

Each connection sends a request, waits for its response (matched by event.id; pushes in
between are counted and dropped unread beyond a substring test), and sends the next. All
connections are raw sockets driven by one epoll loop (the handshake by hand, frames
split off the bytes), so that the load generator spends a few microseconds per frame: with
an async websocket library it spent more per request than some servers under test. The
first second is warm-up. Prints one JSON object: requests, seconds, throughput, latency
percentiles in ms, pushes received, error responses. `bench/run.py` starts it pinned to the
other core than the server under test. Scenarios:

  get, create, series_create, rsvp, slots10, slots50, slots_month50, slots_month50_series, find50:
  the server's endpoints (see run.py)
  echo: the same frames as get, for the echo reference server
  fanout: one trigger updates a meeting with many participants, --in-flight updates under
          way at once; receivers count raw frames and discard them
  broadcast: the same against the broadcast reference server
  idle: open --connections connections, hold them --seconds, print when all are open
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import select
import socket
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import msgspec
import trio
from trio_websocket import connect_websocket_url

from roomful_meetings.auth import mint_token

WARMUP = 1.0
CREATE_FROM = 1_924_992_000_000  # 2031-01-01T00:00:00Z, in ms
CREATE_SLOTS = 31 * 48  # half hours in January
T = TypeVar("T")
Frame = Callable[[int, str], str]  # (sequence number, event id) -> request text


def request(endpoint: str, data: dict[str, Any], event_id: str) -> str:
    return msgspec.json.encode({"endpoint": endpoint, "data": data, "event": {"id": event_id}}).decode()


def frames_for(scenario: str, seed: dict[str, Any], index: int) -> tuple[str, Frame]:
    """The user of connection `index` and how it builds its n-th request."""
    users: list[str] = seed["users"]
    user = users[index % len(users)]
    if scenario in ("get", "echo"):
        mid = seed["meetings"][index % len(seed["meetings"])]
        return user, lambda n, e: request("meeting:getMeeting", {"meetingId": mid}, e)
    if scenario in ("create", "series_create"):
        users = seed["create_users" if scenario == "create" else "series_create_users"]
        user = users[index % len(users)]
        invited = [users[(index + k) % len(users)] for k in range(1, 6)]
        # series_create: a weekly never-ending series, 5 invitees, its first occurrence as create's.
        extra = (
            {"recurrence": {"rule": "FREQ=WEEKLY", "timeZone": "Europe/Berlin"}}
            if scenario != "create"
            else {}
        )

        def create(n: int, event_id: str) -> str:
            # Calendars fill over weeks: meetings spread over the half hours of January 2031.
            start = CREATE_FROM + ((index * 997 + n) % CREATE_SLOTS) * 1_800_000
            data = {
                "sourceType": "room",
                "sourceIds": [seed["room"]],
                "subject": "load",
                "startDate": start,
                "endDate": start + 1_800_000,
                "invitedUserIds": invited,
                **extra,
            }
            return request("meeting:createMeeting", data, event_id)

        return user, create
    if scenario == "rsvp":
        mid = seed["rsvp_meetings"][index % len(seed["rsvp_meetings"])]
        flip = ("meeting:acceptMeetingRequest", "meeting:declineMeetingRequest")
        return user, lambda n, e: request(flip[n % 2], {"meetingId": mid}, e)
    if scenario.startswith("slots"):
        count = 50 if "50" in scenario else 10
        if scenario.endswith("series"):
            users = seed["series_users"]
            user = users[index % len(users)]
        asked = [{"roomful": users[(index + k) % len(users)]} for k in range(1, count)]
        endpoint = (
            "meeting:getMeetingTimeSlotsForMonth" if "month" in scenario else "meeting:getTimeSlotsForMeeting"
        )
        data = {"users": asked, "localDate": "2031-01-15T12:00:00Z", "timeZone": "Europe/Berlin"}
        return user, lambda n, e: request(endpoint, data, e)
    if scenario == "find50":
        # 50 attendees (the last 10 optional), 4 weeks, an hour, step 30 (contract 10)
        attendees = [
            {"roomful": users[(index + k) % len(users)], "type": "optional" if k > 40 else "required"}
            for k in range(1, 51)
        ]
        find = {
            "attendees": attendees,
            "startDate": "2031-01-06T00:00:00+01:00",
            "endDate": "2031-02-03T00:00:00+01:00",
            "duration": 60,
            "step": 30,
            "timeZone": "Europe/Berlin",
        }
        return user, lambda n, e: request("meeting:findMeetingTimes", find, e)
    raise SystemExit(f"unknown scenario {scenario}")


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.pushes = 0
        self.errors = 0
        self.measuring = False
        self.cpu_began = 0.0  # this process's CPU time when the measured window began


def headers(secret: str, user: str, tenant: str | None = None) -> list[tuple[bytes, bytes]]:
    if not secret:  # the reference servers take anyone
        return []
    claims: dict[str, Any] = {} if tenant is None else {"tenant": tenant}
    return [(b"authorization", f"Bearer {mint_token(secret, user, ttl_seconds=3600, **claims)}".encode())]


def tenant_of(seed: dict[str, Any], index: int) -> tuple[dict[str, Any], int]:
    """The seed of connection `index`'s tenant and its index there: a seed with "tenants"
    (bench/cluster.py) holds one seed per tenant, and connections go round them."""
    tenants: list[dict[str, Any]] | None = seed.get("tenants")
    if not tenants:
        return seed, index
    return tenants[index % len(tenants)], index // len(tenants)


class ClosedLoop:
    """One connection's requests: the next is sent when the response to the last is read
    (matched by its event.id; pushes in between are counted and dropped)."""

    def __init__(self, sock: RawSocket, make: Frame, prefix: str) -> None:
        self.sock, self.make, self.prefix = sock, make, prefix
        self.sent = 0
        self.began = 0.0
        self.needle = b""

    def send_next(self) -> None:
        event_id = f"{self.prefix}-{self.sent}"
        self.needle = f'"id":"{event_id}"'.encode()
        self.began = time.perf_counter()
        self.sock.send_text(self.make(self.sent, event_id))
        self.sent += 1

    def on_readable(self, stats: Stats) -> None:
        for payload in self.sock.read_payloads():
            if self.needle not in payload:
                stats.pushes += 1
                continue
            if stats.measuring:
                stats.latencies.append(time.perf_counter() - self.began)
                stats.errors += b'"status":true' in payload
            self.send_next()


def run_requests(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    """Every connection in a closed loop, all driven by one epoll loop over raw sockets."""
    stats = Stats()
    loops = []
    for index in range(args.connections):
        own, at = tenant_of(seed, index)
        user, make = frames_for(args.scenario, own, at)
        sock = RawSocket(args.url, headers(args.secret, user, own.get("tenant")))
        if args.scenario != "echo":
            sock.wait_payload()  # connection:ready
        loops.append(ClosedLoop(sock, make, f"c{index}"))
    readiness = Readiness[ClosedLoop]()
    for loop in loops:
        readiness.register(loop.sock.sock, loop)
        loop.send_next()
    began = time.perf_counter()
    warm_until = began + WARMUP
    while (now := time.perf_counter()) < warm_until + args.seconds:
        if not stats.measuring and now >= warm_until:
            stats.measuring = True
            stats.cpu_began = time.process_time()
            mark_measuring()
            began = now
        for ready in readiness.ready(0.1):
            ready.on_readable(stats)
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - stats.cpu_began
    for loop in loops:
        loop.sock.sock.close()
    result = summary(stats, elapsed, len(loops))
    # It shares a core with Redis: its own cost shows how much of that core is left.
    result["loadgen_cpu_us"] = round(cpu / max(result["requests"], 1) * 1e6, 1)
    return result


def mark_measuring() -> None:
    """Tell the orchestrator the measured window starts (it samples CPU and counters)."""
    print(json.dumps({"measuring": True}), flush=True)


def summary(stats: Stats, elapsed: float, connections: int) -> dict[str, Any]:
    ordered = sorted(stats.latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 3) if ordered else 0.0

    return {
        "connections": connections,
        "requests": len(ordered),
        "seconds": round(elapsed, 3),
        "throughput": round(len(ordered) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3) if ordered else 0.0,
        "pushes": stats.pushes,
        "errors": stats.errors,
    }


class Receivers:
    """Counts, per receiver, the frames it has read; update k is complete once every
    receiver has k frames more than at the start, and `on_complete` hears of it."""

    def __init__(self, count: int) -> None:
        self.received = [0] * count
        self._reached: collections.Counter[int] = collections.Counter()
        self.complete = 0  # frames that every receiver has
        self.on_complete: Callable[[int], None] = lambda frames: None

    def got(self, index: int, frames: int) -> None:
        for _ in range(frames):
            self.received[index] += 1
            count = self.received[index]
            self._reached[count] += 1
            if self._reached[count] == len(self.received):
                # Counts complete in order: every receiver at count + 1 was at count first.
                del self._reached[count]
                self.complete = count
                self.on_complete(count)


_RECEIVED = bytearray(262144)
_RECEIVED_VIEW = memoryview(_RECEIVED)


class Readiness(Generic[T]):
    """epoll over the load generator's sockets, each with a value handed back when it is
    readable (selectors' per-call bookkeeping showed in the profile; Linux only, as the
    rest of bench/)."""

    def __init__(self) -> None:
        self._poll = select.epoll()
        self._values: dict[int, T] = {}

    def register(self, sock: socket.socket, value: T) -> None:
        self._poll.register(sock.fileno(), select.EPOLLIN)
        self._values[sock.fileno()] = value

    def ready(self, timeout: float) -> list[T]:
        values = self._values
        return [values[fd] for fd, _ in self._poll.poll(timeout)]


class RawSocket:
    """A websocket client socket driven by hand: the handshake, frames counted off the bytes
    (payloads skipped), masked text frames sent. Used for fan-out, where 100 receivers read
    what the server sends: each read costs a system call and a few microseconds of Python,
    next to tens in an async websocket library, so the load generator stays cheap beside the
    server it measures."""

    def __init__(self, url: str, extra: list[tuple[bytes, bytes]]) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 *[f"{name.decode()}: {value.decode()}" for name, value in extra]]  # fmt: skip
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SystemExit(f"{url}: closed during the handshake")
            response += chunk
        head, _, rest = response.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise SystemExit(f"{url}: handshake refused: {head[:200]!r}")
        self.buffer = bytearray(rest)
        self.sock.setblocking(False)

    def read_frames(self) -> int:
        """Read what is there; the number of data frames it completed (payloads skipped)."""
        if not self._receive():
            return 0
        frames, used = count_frames(self.buffer)
        del self.buffer[:used]
        return frames

    def read_payloads(self) -> list[bytes]:
        """Read what is there; the payloads of the data frames it completed."""
        if not self._receive():
            return []
        payloads, used = frame_payloads(self.buffer)
        del self.buffer[:used]
        return payloads

    def wait_payload(self) -> bytes:
        """Block until one data frame is complete (the handshake's connection:ready)."""
        self.sock.setblocking(True)
        # It may have come with the 101 (a server that writes both at once).
        payloads, used = frame_payloads(self.buffer)
        while not payloads:
            self._receive()
            payloads, used = frame_payloads(self.buffer)
        del self.buffer[:used]
        self.sock.setblocking(False)
        return payloads[0]

    def _receive(self) -> bool:
        # recv_into one shared buffer: recv(262144) allocated (and page-faulted) 256 KB per
        # call, a third of the load generator's time.
        try:
            size = self.sock.recv_into(_RECEIVED)
        except BlockingIOError:
            return False
        if not size:
            raise SystemExit("the server closed a load generator connection")
        self.buffer += _RECEIVED_VIEW[:size]
        return True

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        size = len(payload)
        header = bytes([0x81, 0x80 | size]) if size < 126 else bytes([0x81, 0xFE]) + size.to_bytes(2, "big")
        masked = int.from_bytes(payload, "big") ^ int.from_bytes((mask * (size // 4 + 1))[:size], "big")
        self.sock.setblocking(True)
        self.sock.sendall(header + mask + masked.to_bytes(size, "big"))
        self.sock.setblocking(False)


def scan_frames(buffer: bytearray) -> tuple[list[tuple[int, int]], int]:
    """The payload spans of the complete data frames at the start of `buffer` (server
    frames are unmasked; control frames are skipped), and the bytes they take."""
    spans, position = [], 0
    while len(buffer) - position >= 2:
        size, header = buffer[position + 1] & 0x7F, 2
        if size == 126:
            size, header = int.from_bytes(buffer[position + 2 : position + 4]), 4
        elif size == 127:
            size, header = int.from_bytes(buffer[position + 2 : position + 10]), 10
        if len(buffer) - position < header + size:
            break
        if buffer[position] & 0x0F in (1, 2):
            spans.append((position + header, position + header + size))
        position += header + size
    return spans, position


def count_frames(buffer: bytearray) -> tuple[int, int]:
    spans, used = scan_frames(buffer)
    return len(spans), used


def frame_payloads(buffer: bytearray) -> tuple[list[bytes], int]:
    spans, used = scan_frames(buffer)
    return [bytes(buffer[start:end]) for start, end in spans], used


@dataclass
class Flow:
    """Updates under way: `free` slots, the next update's number, what completed when."""

    free: int
    next: int = 0
    began: float = 0.0
    completed: int = 0


def drive_updates(
    receivers: list[RawSocket],
    trigger: RawSocket,
    frame: Callable[[int], str],
    seconds: float,
    in_flight: int,
) -> dict[str, Any]:
    """Keep `in_flight` triggering frames under way: each is sent when an earlier one has
    reached every receiver (one event loop over all sockets, no library in between).
    Latency: sent to delivered to every receiver. Deliveries per second = completed updates
    x receivers / time."""
    counts = Receivers(len(receivers))
    readiness = Readiness[int]()
    for index, receiver in enumerate(receivers):
        readiness.register(receiver.sock, index)
    readiness.register(trigger.sock, -1)
    settle_until = time.perf_counter() + 0.5  # every receiver's first frames read
    while time.perf_counter() < settle_until:
        for index in readiness.ready(0.05):
            if index >= 0:
                counts.got(index, receivers[index].read_frames())
            else:
                trigger.read_frames()
    base = counts.complete
    stats = Stats()
    sent_at: dict[int, float] = {}
    measure_from = time.perf_counter() + WARMUP
    window = Flow(free=in_flight)

    def on_complete(frames: int) -> None:
        began = sent_at.pop(frames - base - 1, None)
        if began is None:
            return
        window.free += 1
        if began >= measure_from:
            if not window.began:
                window.began = began
                mark_measuring()
            window.completed += 1
            stats.latencies.append(time.perf_counter() - began)

    counts.on_complete = on_complete
    ends = measure_from + seconds
    while (now := time.perf_counter()) < ends:
        while window.free and now < ends:
            window.free -= 1
            sent_at[window.next] = now
            trigger.send_text(frame(window.next))
            window.next += 1
        for index in readiness.ready(1.0):
            if index >= 0:
                counts.got(index, receivers[index].read_frames())
            else:
                trigger.read_frames()  # responses (and the organizer's own events): dropped
    elapsed = time.perf_counter() - window.began
    for sock in [*receivers, trigger]:
        sock.sock.close()
    result = summary(stats, elapsed, len(receivers) + 1)
    result.update(
        {
            "deliveries_per_second": round(window.completed * len(receivers) / elapsed, 1),
            "receivers": len(receivers),
            "in_flight": in_flight,
        }
    )
    return result


def run_fanout(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    """Receivers spread over every URL in --receivers-on; the trigger, the organizer, on --url."""
    participants: list[str] = seed["fanout_participants"]
    urls = args.receivers_on or [args.url]
    receivers = [
        RawSocket(urls[index % len(urls)], headers(args.secret, user))
        for index, user in enumerate(participants)
    ]
    trigger = RawSocket(args.url, headers(args.secret, seed["fanout_organizer"]))
    mid = seed["fanout_meeting"]
    return drive_updates(
        receivers,
        trigger,
        lambda n: request("meeting:updateMeeting", {"meetingId": mid, "subject": f"s{n}"}, f"t{n}"),
        args.seconds,
        args.in_flight,
    )


def run_broadcast_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The same updates against bench/references/trio_ws.py broadcast (/recv receivers, /trigger)."""
    receivers = [RawSocket(args.url + "/recv", []) for _ in range(args.receivers)]
    time.sleep(0.5)  # every receiver registered
    trigger = RawSocket(args.url + "/trigger", [])
    frame = request("meeting:updateMeeting", {"meetingId": "m", "subject": "s"}, "t")
    return drive_updates(receivers, trigger, lambda n: frame, args.seconds, args.in_flight)


async def run_idle(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    users: list[str] = seed.get("idle_users", ["idle"])
    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for index in range(args.connections):
            user = users[index % len(users)]
            ws = await connect_websocket_url(nursery, args.url, extra_headers=headers(args.secret, user))
            if args.secret:
                await ws.get_message()
        opened = time.perf_counter() - began
        print(json.dumps({"opened": args.connections, "seconds": round(opened, 2)}), flush=True)
        await trio.sleep(args.seconds)  # the orchestrator measures memory now
        nursery.cancel_scope.cancel()
    return {"connections": args.connections, "open_seconds": round(opened, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--secret", default="")
    parser.add_argument("--seed", help="JSON written by run.py: users, meetings, ...")
    parser.add_argument("--receivers-on", nargs="*", help="fanout: instance URLs for the receivers")
    parser.add_argument("--receivers", type=int, default=100, help="broadcast reference: receivers")
    parser.add_argument("--in-flight", type=int, default=8, help="fanout, broadcast: updates under way")
    args = parser.parse_args(argv)
    seed = json.loads(Path(args.seed).read_text()) if args.seed else {}
    if args.scenario == "fanout":
        result = run_fanout(args, seed)
    elif args.scenario == "broadcast":
        result = run_broadcast_reference(args)
    elif args.scenario == "idle":
        result = trio.run(run_idle, args, seed)
    else:
        result = run_requests(args, seed)
    result["scenario"] = args.scenario
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
