"""The collector's ASGI application."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from datetime import date

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from collector import __version__
from collector.assets import recorder_bundle
from collector.config import Settings, retention_cutoffs
from collector.console import Console
from collector.control import AuditQuery
from collector.crypto import Keyring
from collector.exceptions import KeyringError
from collector.http_limits import HttpLimits, LimitsMiddleware, address_in
from collector.ingest import Ingest
from collector.instances import InstanceRegistry
from collector.limits import MemoryBudget
from collector.metrics import Metrics
from collector.store import Store

log = logging.getLogger("phi_replay.retention")

PURGE_EVERY_SECONDS = 3600  # expired sessions are gone within an hour of expiring

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>phi-replay collector</title></head><body>
<h1>phi-replay collector</h1><p>Version {version}. Ingest: <code>/v1/ingest</code>.
Recorder: <a href="/sdk/phi-replay.min.js">/sdk/phi-replay.min.js</a>.</p></body></html>"""


async def purge_expired(
    settings: Settings,
    store: Store,
    now: float,
    registry: InstanceRegistry | None = None,
    keyring: Keyring | None = None,
) -> int:
    """Expired recordings go (crypto-shredded); audit records only after their own, much
    longer retention, and never with the recordings they mention. Then the keyring's
    retention ratchet moves up to the oldest day still in use: the purged sessions' keys
    are gone from backups of the data directory too."""
    registry = registry or InstanceRegistry(store.control, settings)
    cutoffs = retention_cutoffs(registry.current(), now)
    purged = await store.purge(cutoffs, settings.default_cutoff(now))
    if purged:
        log.info("retention purged %d expired session(s)", len(purged))
    if keyring is not None:
        await advance_ratchet(store, keyring)
    audit_cutoff = now - settings.audit_retention_days * 86400
    removed = await run_in_threadpool(store.control.purge_audit, audit_cutoff)
    if removed:
        log.info("retention purged %d audit record(s) older than the audit retention", removed)
    return len(purged)


async def advance_ratchet(store: Store, keyring: Keyring) -> None:
    """After a purge. A keyring that cannot be written costs forward security, never data
    and never the collector: the purge is done, and the next one tries again."""
    in_use = set()
    for instance, epoch in await store.epochs_in_use():
        try:
            in_use.add((instance, date.fromisoformat(epoch)))
        except ValueError:
            continue  # not a day: no key was ever wrapped under it
    try:
        changed = await run_in_threadpool(keyring.advance_ratchet, in_use)
    except (OSError, KeyringError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        log.warning(
            "cannot advance the retention ratchet: keyring %s cannot be written (%s);"
            " backups taken before this purge stay readable until the ratchet can advance",
            keyring.path,
            why,
        )
        return
    if changed and keyring.ratchet is not None:
        log.info(
            "retention ratchet advanced to %s; it keeps the day keys of %d older day(s) in use",
            keyring.ratchet.day.isoformat(),
            len(keyring.ratchet.kept),
        )


async def purge_periodically(
    settings: Settings, store: Store, registry: InstanceRegistry, keyring: Keyring | None = None
) -> None:
    while True:
        try:
            await purge_expired(settings, store, time.time(), registry, keyring)
        except Exception as exc:  # retention must never take the collector down
            log.error("retention purge failed: %s", type(exc).__name__)
        await asyncio.sleep(PURGE_EVERY_SECONDS)


def _audit_head(store: Store) -> int:
    records, _ = store.control.audit_records(AuditQuery(limit=1))
    return records[0].seq if records else 0


def readiness_problem(store: Store) -> str | None:
    """Why the collector should get no traffic now, or None: the store's own report
    (`Store.health()`, which names the volume, never data)."""
    return "; ".join(store.health()) or None


def create_app(
    settings: Settings,
    store: Store,
    keyring: Keyring,
    *,
    workers: ProcessPoolExecutor | None = None,
) -> Starlette:
    """`workers` validate large frames (`collector.ingest.start_workers`); the app shuts
    them down when it stops. Without them the event loop validates everything."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__}, headers=SECURITY_HEADERS)

    async def ready(request: Request) -> JSONResponse:
        """Whether to send this collector traffic: `/healthz` says only that it runs."""
        problem = await run_in_threadpool(readiness_problem, store)
        if problem is not None:
            body = {"status": "not ready", "reason": problem}
            return JSONResponse(body, status_code=503, headers=SECURITY_HEADERS)
        return JSONResponse({"status": "ready"}, headers=SECURITY_HEADERS)

    async def metrics_endpoint(request: Request) -> Response:
        client = request.client.host if request.client else ""
        if not address_in(client, settings.metrics_allow):
            text = "metrics are served only to the addresses in metrics_allow\n"
            return PlainTextResponse(text, status_code=403, headers=SECURITY_HEADERS)
        body, content_type = await run_in_threadpool(metrics.render)
        return Response(body, media_type=content_type, headers=SECURITY_HEADERS)

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

    # Before anything is audited: the chain is keyed from the keyring (collector.control).
    store.control.key_audit(keyring.audit_key())
    if not keyring.ensure_ratchet():
        log.warning(
            "keyring %s cannot be written: the retention ratchet is not added to it, so new"
            " sessions are wrapped under the key-encryption key alone and backups of them"
            " stay readable after their purge (until `keys rewrap` runs as its owner)",
            keyring.path,
        )
    registry = InstanceRegistry(store.control, settings)
    changed = registry.import_file(settings.instances, "config file")
    if changed:
        log.info("configuration of instance(s) %s taken from the config file", ", ".join(changed))
    metrics = Metrics()
    metrics.watch_disk(settings.data_dir)
    metrics.watch_audit(lambda: _audit_head(store))
    if hasattr(store, "commit_observer"):
        store.commit_observer = metrics.commit
    # One budget for client input still arriving: socket frames and request bodies.
    budget = MemoryBudget(settings.max_buffered_bytes)
    ingest = Ingest(settings, store, keyring, registry, workers, budget=budget)
    console = Console(settings, store, keyring, registry)

    async def ingest_endpoint(websocket: WebSocket) -> None:
        await ingest(websocket)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        purger = asyncio.create_task(purge_periodically(settings, store, registry, keyring))
        yield
        purger.cancel()
        ingest.stop_workers()
        await store.aclose()

    app = Starlette(
        routes=[
            Route("/", landing),
            Route("/healthz", health),
            Route("/readyz", ready),
            Route("/metrics", metrics_endpoint),
            Route("/sdk/phi-replay.min.js", recorder),
            WebSocketRoute("/v1/ingest", ingest_endpoint),
            Route("/v1/beacon", ingest.beacon, methods=["POST"]),
            *console.routes(),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(
                LimitsMiddleware,
                limits=HttpLimits.from_settings(settings),
                metrics=metrics,
                budget=budget,
            )
        ],
    )
    app.state.metrics = metrics
    app.state.store = store
    app.state.ingest = ingest  # the server drains it on shutdown
    return app
