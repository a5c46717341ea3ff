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
  fanout: one trigger updates a meeting with many participants; waits until every receiver
          has the event, then updates again (receivers read and discard)
  idle: open --connections connections, hold them --seconds, print when all are open
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    """Connections that read and discard; `wait_all` returns once each has one more frame."""

    def __init__(self, count: int) -> None:
        self.received = [0] * count
        self.target = 0
        self.arrived = trio.Event()

    async def run(self, ws: WebSocketConnection, index: int) -> None:
        while True:
            await ws.get_message()
            self.received[index] += 1
            if min(self.received) >= self.target:
                self.arrived.set()

    def expect_one_more(self) -> None:
        self.target = min(self.received) + 1
        self.arrived = trio.Event()


async def trigger_rounds(
    trigger: WebSocketConnection, receivers: Receivers, frame: Callable[[int], str], seconds: float
) -> dict[str, Any]:
    """Send a frame, await its response and every receiver's copy; again, for `seconds`
    after the warm-up. Deliveries per second = rounds x receivers / time."""
    stats = Stats()
    measure_from = time.perf_counter() + WARMUP
    measured, measure_began = 0, 0.0
    for rounds in itertools.count():
        sent = time.perf_counter()
        if sent >= measure_from + seconds:
            break
        receivers.expect_one_more()
        await trigger.send_message(frame(rounds))
        await trigger.get_message()
        await receivers.arrived.wait()
        if sent >= measure_from:
            if not measured:
                measure_began = sent
                mark_measuring()
            measured += 1
            stats.latencies.append(time.perf_counter() - sent)
    elapsed = time.perf_counter() - measure_began
    count = len(receivers.received)
    result = summary(stats, elapsed, count + 1)
    result.update({"deliveries_per_second": round(measured * count / elapsed, 1), "receivers": count})
    return result


async def run_fanout(args: argparse.Namespace, seed: dict[str, Any]) -> dict[str, Any]:
    """Receivers spread over every URL in --receivers-on; the trigger, the organizer, on --url."""
    participants: list[str] = seed["fanout_participants"]
    urls = args.receivers_on or [args.url]
    receivers = Receivers(len(participants))
    async with trio.open_nursery() as nursery:
        for index, user in enumerate(participants):
            ws = await connect_websocket_url(
                nursery, urls[index % len(urls)], extra_headers=headers(args.secret, user)
            )
            await ws.get_message()  # connection:ready
            nursery.start_soon(receivers.run, ws, index)
        organizer = headers(args.secret, seed["fanout_organizer"])
        trigger = await connect_websocket_url(nursery, args.url, extra_headers=organizer)
        await trigger.get_message()
        mid = seed["fanout_meeting"]
        result = await trigger_rounds(
            trigger,
            receivers,
            lambda n: request("meeting:updateMeeting", {"meetingId": mid, "subject": f"s{n}"}, f"t{n}"),
            args.seconds,
        )
        nursery.cancel_scope.cancel()
    return result


async def run_broadcast_reference(args: argparse.Namespace) -> dict[str, Any]:
    """The same rounds against bench/references.py broadcast (/recv receivers, /trigger)."""
    receivers = Receivers(args.receivers)
    async with trio.open_nursery() as nursery:
        for index in range(args.receivers):
            nursery.start_soon(receivers.run, await connect_websocket_url(nursery, args.url + "/recv"), index)
        await trio.sleep(0.5)  # every receiver registered
        trigger = await connect_websocket_url(nursery, args.url + "/trigger")
        frame = request("meeting:updateMeeting", {"meetingId": "m", "subject": "s"}, "t")
        result = await trigger_rounds(trigger, receivers, lambda n: frame, args.seconds)
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
