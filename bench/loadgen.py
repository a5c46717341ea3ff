"""The load generator: many websocket clients in one process, closed loop, one scenario.

    python bench/loadgen.py --url ws://... --scenario get --connections 100 --seconds 5 \
        --secret S --seed bench/results/seed.json

Each connection sends a request, waits for its response (matched by event.id; pushes in
between are counted and dropped unread beyond a substring test), and sends the next. The
first second is warm-up. Prints one JSON object: requests, seconds, throughput, latency
percentiles in ms, pushes received, error responses. `bench/run.py` starts it pinned to the
other core than the server under test. Scenarios:

  get, create, rsvp, slots10, slots50, slots_month50: the server's endpoints (see run.py)
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
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
import trio
from trio_websocket import WebSocketConnection, connect_websocket_url

from roomful_meetings.auth import mint_token

WARMUP = 1.0
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
    if scenario == "create":
        users = seed["create_users"]
        user = users[index % len(users)]
        invited = [users[(index + k) % len(users)] for k in range(1, 6)]
        data = {
            "sourceType": "room",
            "sourceIds": [seed["room"]],
            "subject": "load",
            "startDate": "2031-01-06T10:00:00Z",
            "endDate": "2031-01-06T10:30:00Z",
            "invitedUserIds": invited,
        }
        return user, lambda n, e: request("meeting:createMeeting", data, e)
    if scenario == "rsvp":
        mid = seed["rsvp_meetings"][index % len(seed["rsvp_meetings"])]
        flip = ("meeting:acceptMeetingRequest", "meeting:declineMeetingRequest")
        return user, lambda n, e: request(flip[n % 2], {"meetingId": mid}, e)
    if scenario.startswith("slots"):
        count = 50 if scenario.endswith("50") else 10
        asked = [{"roomful": users[(index + k) % len(users)]} for k in range(1, count)]
        endpoint = (
            "meeting:getMeetingTimeSlotsForMonth" if "month" in scenario else "meeting:getTimeSlotsForMeeting"
        )
        data = {"users": asked, "localDate": "2031-01-15T12:00:00Z", "timeZone": "Europe/Berlin"}
        return user, lambda n, e: request(endpoint, data, e)
    raise SystemExit(f"unknown scenario {scenario}")


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.pushes = 0
        self.errors = 0
        self.measuring = False


def headers(secret: str, user: str) -> list[tuple[bytes, bytes]]:
    if not secret:  # the reference servers take anyone
        return []
    return [(b"authorization", f"Bearer {mint_token(secret, user, ttl_seconds=3600)}".encode())]


async def closed_loop(ws: WebSocketConnection, make: Frame, prefix: str, stats: Stats) -> None:
    for n in itertools.count():
        event_id = f"{prefix}-{n}"
        needle = f'"id":"{event_id}"'
        began = time.perf_counter()
        await ws.send_message(make(n, event_id))
        while True:
            message = await ws.get_message()
            if needle in message:
                break
            stats.pushes += 1
        if stats.measuring:
            stats.latencies.append(time.perf_counter() - began)
            if '"status":true' in message:
                stats.errors += 1


async def run_requests(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    async with trio.open_nursery() as nursery:
        opened = 0
        for index in range(args.connections):
            user, make = frames_for(args.scenario, seed, index)
            ws = await connect_websocket_url(nursery, args.url, extra_headers=headers(args.secret, user))
            if args.scenario != "echo":
                await ws.get_message()  # connection:ready
            nursery.start_soon(closed_loop, ws, make, f"c{index}", stats)
            opened += 1
        await trio.sleep(WARMUP)
        stats.measuring = True
        mark_measuring()
        began = time.perf_counter()
        await trio.sleep(args.seconds)
        elapsed = time.perf_counter() - began
        stats.measuring = False
        nursery.cancel_scope.cancel()
    return summary(stats, elapsed, opened)


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


async def raw_receiver(url: str, extra: list[tuple[bytes, bytes]], index: int, receivers: Receivers) -> None:
    """A websocket client that only counts the frames it reads: the handshake by hand, then
    frame headers read off the bytes and payloads skipped, so that reading 100 connections'
    events costs the load generator little next to what it costs the server to send them."""
    parts = urlsplit(url)
    stream = await trio.open_tcp_stream(parts.hostname or "127.0.0.1", parts.port or 80)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
             f"Host: {parts.netloc}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
             *[f"{name.decode()}: {value.decode()}" for name, value in extra]]  # fmt: skip
    await stream.send_all(("\r\n".join(lines) + "\r\n\r\n").encode())
    buffer = bytearray()
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive_some(65536)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise SystemExit(f"receiver handshake refused: {head[:200]!r}")
    buffer = bytearray(rest)
    while True:
        frames, used = count_frames(buffer)
        del buffer[:used]
        if frames:
            receivers.got(index, frames)
        data = await stream.receive_some(262144)
        if not data:
            return
        buffer += data


def count_frames(buffer: bytearray) -> tuple[int, int]:
    """Complete data frames at the start of `buffer` (server frames: unmasked), and the
    bytes they take."""
    frames = position = 0
    while len(buffer) - position >= 2:
        size, header = buffer[position + 1] & 0x7F, 2
        if size == 126:
            size, header = int.from_bytes(buffer[position + 2 : position + 4]), 4
        elif size == 127:
            size, header = int.from_bytes(buffer[position + 2 : position + 10]), 10
        if len(buffer) - position < header + size:
            break
        if buffer[position] & 0x0F in (1, 2):
            frames += 1
        position += header + size
    return frames, position


async def trigger_updates(
    trigger: WebSocketConnection,
    receivers: Receivers,
    frame: Callable[[int], str],
    seconds: float,
    in_flight: int,
) -> dict[str, Any]:
    """Keep `in_flight` triggering frames under way: each is sent when an earlier one has
    reached every receiver. Latency: sent to delivered to every receiver. Deliveries per
    second = completed updates x receivers / time."""
    stats = Stats()
    await trio.sleep(0.5)  # every receiver connected and its first frames read
    base = receivers.complete
    slots = trio.Semaphore(in_flight)
    sent_at: dict[int, float] = {}
    measure_from = time.perf_counter() + WARMUP
    window = {"began": 0.0, "completed": 0}

    def on_complete(frames: int) -> None:
        update = frames - base - 1
        began = sent_at.pop(update, None)
        if began is None:
            return
        slots.release()
        if began >= measure_from:
            if not window["began"]:
                window["began"] = began
                mark_measuring()
            window["completed"] += 1
            stats.latencies.append(time.perf_counter() - began)

    receivers.on_complete = on_complete

    async def drain_responses() -> None:
        while True:
            await trigger.get_message()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(drain_responses)
        for update in itertools.count():
            await slots.acquire()
            if time.perf_counter() >= measure_from + seconds:
                break
            sent_at[update] = time.perf_counter()
            await trigger.send_message(frame(update))
        ended = time.perf_counter()
        nursery.cancel_scope.cancel()
    elapsed = ended - window["began"]
    count = len(receivers.received)
    result = summary(stats, elapsed, count + 1)
    result.update(
        {
            "deliveries_per_second": round(window["completed"] * count / elapsed, 1),
            "receivers": count,
            "in_flight": in_flight,
        }
    )
    return result


async def run_fanout(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    """Receivers spread over every URL in --receivers-on; the trigger, the organizer, on --url."""
    participants: list[str] = seed["fanout_participants"]
    urls = args.receivers_on or [args.url]
    receivers = Receivers(len(participants))
    async with trio.open_nursery() as nursery:
        for index, user in enumerate(participants):
            url = urls[index % len(urls)]
            nursery.start_soon(raw_receiver, url, headers(args.secret, user), index, receivers)
        organizer = headers(args.secret, seed["fanout_organizer"])
        trigger = await connect_websocket_url(nursery, args.url, extra_headers=organizer)
        await trigger.get_message()
        mid = seed["fanout_meeting"]
        result = await trigger_updates(
            trigger,
            receivers,
            lambda n: request("meeting:updateMeeting", {"meetingId": mid, "subject": f"s{n}"}, f"t{n}"),
            args.seconds,
            args.in_flight,
        )
        nursery.cancel_scope.cancel()
    return result


async def run_broadcast_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The same updates against bench/references.py broadcast (/recv receivers, /trigger)."""
    receivers = Receivers(args.receivers)
    async with trio.open_nursery() as nursery:
        for index in range(args.receivers):
            nursery.start_soon(raw_receiver, args.url + "/recv", [], index, receivers)
        trigger = await connect_websocket_url(nursery, args.url + "/trigger")
        frame = request("meeting:updateMeeting", {"meetingId": "m", "subject": "s"}, "t")
        result = await trigger_updates(trigger, receivers, lambda n: frame, args.seconds, args.in_flight)
        nursery.cancel_scope.cancel()
    return result


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
        result = trio.run(run_fanout, args, seed)
    elif args.scenario == "broadcast":
        result = trio.run(run_broadcast_reference, args)
    elif args.scenario == "idle":
        result = trio.run(run_idle, args, seed)
    else:
        result = trio.run(run_requests, args, seed)
    result["scenario"] = args.scenario
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.exit(main())
