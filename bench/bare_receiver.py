"""A bare WebSocket receiver: the collector's stack (starlette on hypercorn, same
hypercorn settings) minus everything the collector does with a batch.

    python -m bench.bare_receiver --port PORT

It accepts any hello, parses each frame's JSON and acks its `seq`: no validation, no
compression, no encryption, no storage. bench.collector measures the collector against
it, in the same run, to give throughput as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from collector.config import DEFAULT_MAX_MESSAGE_BYTES
from collector.server import hypercorn_config, serve_apps


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def ingest(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        hello = json.loads(await websocket.receive_text())
        welcome = {"type": "welcome", "session_id": hello["session_id"], "next_seq": 1}
        await websocket.send_json(welcome)
        while True:
            batch = json.loads(await websocket.receive_text())
            await websocket.send_json({"type": "ack", "seq": batch["seq"]})
    except WebSocketDisconnect:
        pass


def create_app() -> Starlette:
    return Starlette(routes=[Route("/healthz", health), WebSocketRoute("/v1/ingest", ingest)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare WebSocket receiver for bench.collector")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    config = hypercorn_config("127.0.0.1", args.port, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES)
    asyncio.run(serve_apps([(create_app(), config)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
