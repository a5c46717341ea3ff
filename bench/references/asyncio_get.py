"""The Python asyncio reference of bench/run.py: the getMeeting job with `websockets` and
redis-py (hiredis parser; uvloop when installed).

    python bench/references/asyncio_get.py --port P --redis-port R --prefix "bench:{default}:" --sha S

The same wire and the same Redis work as the Node.js reference (bench/references/node):
a connection:ready push on connect, then each getMeeting answered by the project's own
get_meeting script with EVALSHA (membership check and stored JSON read, one round trip).
Each message is answered in a task of its own, as websockets' own examples do for work
that awaits. Prints "listening <port>" once it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

NO_ERROR = '{"status":false,"code":0,"message":""}'


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))  # as the event came: the client matches it


def reply(endpoint: object, event: object, data: str, error: str) -> str:
    return f'{{"endpoint":{compact(endpoint)},"event":{compact(event)},"data":{data},"error":{error}}}'


def caller(ws: ServerConnection) -> str:
    """The token's `sub`, unverified (see the Node.js reference)."""
    header = ws.request.headers.get("authorization", "") if ws.request else ""
    token = header[7:] if header.startswith("Bearer ") else ""
    body = token.split(".")[1] if token.count(".") == 2 else "e30"
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return str(claims.get("sub", ""))


class GetMeeting:
    def __init__(self, redis: aioredis.Redis, prefix: str, sha: str) -> None:
        self.redis, self.prefix, self.sha = redis, prefix, sha
        self.tasks: set[asyncio.Task[None]] = set()

    async def handle(self, ws: ServerConnection) -> None:
        user = caller(ws)
        now = datetime.now(UTC).isoformat()
        await ws.send(reply("connection:ready", {"id": "", "date": now}, '{"lastEventId":""}', NO_ERROR))
        try:
            async for message in ws:
                task = asyncio.create_task(self.answer(ws, user, message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except ConnectionClosed:
            pass  # the load generator goes without a close handshake at the end of a run

    async def answer(self, ws: ServerConnection, user: str, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            await ws.send(reply(None, None, "null", '{"status":true,"code":400,"message":"not valid JSON"}'))
            return
        mid = str((frame.get("data") or {}).get("meetingId", ""))
        now_ms = int(time.time() * 1000)
        now = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat()
        code, body = await self.redis.evalsha(
            self.sha, 1, f"{self.prefix}m:{mid}", self.prefix, now_ms, now, mid, user
        )
        if code == 0:
            text = reply(
                frame.get("endpoint"), frame.get("event"), '{"meeting":' + body.decode() + "}", NO_ERROR
            )
        else:
            error = compact({"status": True, "code": code, "message": body.decode()})
            text = reply(frame.get("endpoint"), frame.get("event"), "null", error)
        with contextlib.suppress(ConnectionClosed):  # the client went meanwhile
            await ws.send(text)


async def main(port: int, redis_port: int, prefix: str, sha: str) -> None:
    redis = aioredis.Redis(host="127.0.0.1", port=redis_port, max_connections=1000)
    handler = GetMeeting(redis, prefix, sha)
    async with serve(handler.handle, "127.0.0.1", port, compression=None, ping_interval=None) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(f"listening {bound}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--sha", required=True)
    args = parser.parse_args()
    server = main(args.port, args.redis_port, args.prefix, args.sha)
    try:
        import uvloop
    except ImportError:
        asyncio.run(server)  # stopped with SIGTERM
    else:
        uvloop.run(server)
