"""The collector's ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from collector import __version__
from collector.assets import recorder_bundle
from collector.config import Settings
from collector.crypto import Keyring
from collector.ingest import Ingest
from collector.store import Store

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>phi-replay collector</title></head><body>
<h1>phi-replay collector</h1><p>Version {version}. Ingest: <code>/v1/ingest</code>.
Recorder: <a href="/sdk/phi-replay.min.js">/sdk/phi-replay.min.js</a>.</p></body></html>"""


def create_app(settings: Settings, store: Store, keyring: Keyring) -> Starlette:
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__}, headers=SECURITY_HEADERS)

    async def landing(request: Request) -> HTMLResponse:
        return HTMLResponse(_LANDING.format(version=__version__), headers=SECURITY_HEADERS)

    async def recorder(request: Request) -> FileResponse | PlainTextResponse:
        path = recorder_bundle()
        if not path.is_file():
            return PlainTextResponse("recorder not built: run `make setup`", status_code=404)
        # Served cross-origin to the application's pages, like any script CDN.
        headers = {
            "Access-Control-Allow-Origin": "*",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }
        return FileResponse(path, media_type="text/javascript", headers=headers)

    ingest = Ingest(settings, store, keyring)

    async def ingest_endpoint(websocket: WebSocket) -> None:
        await ingest(websocket)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await store.aclose()

    return Starlette(
        routes=[
            Route("/", landing),
            Route("/healthz", health),
            Route("/sdk/phi-replay.min.js", recorder),
            WebSocketRoute("/v1/ingest", ingest_endpoint),
        ],
        lifespan=lifespan,
    )
