"""A bare WebSocket receiver: the collector's stack (starlette on hypercorn, same
hypercorn settings) minus everything the collector does with a batch.

    python -m bench.bare_receiver --port PORT [--workers N]

It accepts any hello, parses each frame's JSON and acks its `seq`: no validation, no
compression, no encryption, no storage. bench.collector measures the collector against
it, in the same run, to give throughput as a ratio.

With `--workers N` (N > 1) it forks N hypercorn worker processes that share the
listening socket, one event loop each: a ceiling for what any multi-process design on
this stack could hold on this machine (bench/README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config as HypercornConfig
from hypercorn.config import Sockets
from hypercorn.utils import wrap_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from collector.config import DEFAULT_MAX_MESSAGE_BYTES
from collector.ingest import PR_SET_PDEATHSIG, _prctl
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


async def _serve_worker(config: HypercornConfig, sockets: Sockets) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    starlette: Any = create_app()  # hypercorn's ASGI types are narrower than starlette's
    app = wrap_app(starlette, config.wsgi_max_body_size, None)
    await worker_serve(app, config, sockets=sockets, shutdown_trigger=stop.wait)


def serve_forked(config: HypercornConfig, workers: int) -> None:
    """Fork `workers` processes serving one shared socket; stop them on SIGINT/SIGTERM."""
    sockets = config.create_sockets()
    parent = os.getpid()
    children = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            _prctl()(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() == parent:
                asyncio.run(_serve_worker(config, sockets))
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="bare WebSocket receiver for bench.collector")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1, help="event-loop processes")
    args = parser.parse_args(argv)
    config = hypercorn_config("127.0.0.1", args.port, max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES)
    if args.workers > 1:
        serve_forked(config, args.workers)
    else:
        asyncio.run(serve_apps([(create_app(), config)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
