"""Reference servers: what bare trio-websocket does on this machine, to measure against.

    python bench/references/trio_ws.py echo|broadcast|idle --port P

- echo: decodes each frame into the same envelope (msgspec Struct, data kept raw) and
  answers with the response envelope carrying that data: the transport ceiling.
- broadcast: /recv connections wait; each frame on /trigger is sent with send_message to
  every receiver in turn, then the trigger gets "done <deliveries so far>".
- idle: accepts connections and holds them (memory per connection).

Prints "listening <port>" once it accepts connections.
"""

from __future__ import annotations

import argparse
import contextlib
from functools import partial

import msgspec
import trio
from trio_websocket import ConnectionClosed, WebSocketRequest, serve_websocket


class Request(msgspec.Struct):
    endpoint: str
    data: msgspec.Raw = msgspec.Raw(b"null")
    event: msgspec.Raw = msgspec.Raw(b"null")


class Error(msgspec.Struct):
    status: bool = False
    code: int = 0
    message: str = ""


class Response(msgspec.Struct, omit_defaults=False):
    endpoint: str
    event: msgspec.Raw
    data: msgspec.Raw
    error: Error


decoder = msgspec.json.Decoder(Request)
encoder = msgspec.json.Encoder()
NO_ERROR = Error()


async def echo(request: WebSocketRequest) -> None:
    ws = await request.accept()
    try:
        while True:
            frame = decoder.decode(await ws.get_message())
            await ws.send_message(
                encoder.encode(Response(frame.endpoint, frame.event, frame.data, NO_ERROR)).decode()
            )
    except ConnectionClosed:
        pass


class Broadcast:
    def __init__(self) -> None:
        self.receivers: list = []  # type: ignore[type-arg]
        self.deliveries = 0

    async def handle(self, request: WebSocketRequest) -> None:
        ws = await request.accept()
        try:
            if request.path.startswith("/recv"):
                self.receivers.append(ws)
                await ws.get_message()  # receivers send nothing: this waits until they leave
            else:
                while True:
                    message = await ws.get_message()
                    for receiver in self.receivers:
                        await receiver.send_message(message)
                        self.deliveries += 1
                    await ws.send_message(f"done {self.deliveries}")
        except ConnectionClosed:
            pass
        finally:
            if ws in self.receivers:
                self.receivers.remove(ws)


async def idle(request: WebSocketRequest) -> None:
    ws = await request.accept()
    with contextlib.suppress(ConnectionClosed):
        await ws.get_message()


async def main(kind: str, port: int) -> None:
    handler = {"echo": echo, "broadcast": Broadcast().handle, "idle": idle}[kind]
    async with trio.open_nursery() as nursery:
        server = await nursery.start(partial(serve_websocket, handler, "127.0.0.1", port, None))
        print(f"listening {server.port}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["echo", "broadcast", "idle"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    trio.run(main, args.kind, args.port)  # stopped with SIGTERM
