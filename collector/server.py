"""Running ASGI apps on hypercorn, and opening what `serve` needs."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import resource
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from collector.app import create_app
from collector.config import Settings
from collector.crypto import Keyring
from collector.embedded import EmbeddedStore
from collector.ingest import start_workers, worker_count

log = logging.getLogger("phi_replay.server")

ASGIApp = Callable[..., Awaitable[None]]
LISTEN_BACKLOG = 4096  # the kernel caps it at net.core.somaxconn


def raise_open_files_limit() -> int:
    """Every session holds a socket (and, while it writes, a segment file): raise the soft
    open-files limit to the hard one, as servers holding thousands of sockets do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def hypercorn_config(
    host: str,
    port: int,
    *,
    max_message_bytes: int,
    certfile: Path | None = None,
    keyfile: Path | None = None,
) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    # ingest's capped frame buffer (collector/ingest.py, cap_frames) stops keeping a frame
    # at this size and refuses it with a JSON `too_large`, whatever its size.
    config.websocket_max_message_size = max_message_bytes
    # Thousands of tabs reconnect at once after a restart: hypercorn's default listen
    # queue of 100 would drop their SYNs, and each retry waits 1 s, then 3 s, ...
    config.backlog = LISTEN_BACKLOG
    config.accesslog = None  # access lines carry URLs; ingest logs what it needs
    config.errorlog = logging.getLogger("phi_replay.http")
    if certfile is not None and keyfile is not None:
        config.certfile = str(certfile)  # hypercorn enforces TLS 1.2 as the minimum
        config.keyfile = str(keyfile)
    return config


def open_collector(settings: Settings) -> Any:
    """Load (or, in dev mode, create) the keyring, open the store, build the app."""
    os.umask(0o077)  # everything the collector writes is for its own eyes only
    raise_open_files_limit()
    workers = start_workers(worker_count())  # first: forked before any thread or key exists
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.dev:
        keyring = Keyring.load_or_create(settings.keyring_path)
    else:
        keyring = Keyring.load(settings.keyring_path)
    store = EmbeddedStore(settings.data_dir)
    app = create_app(settings, store, keyring, workers=workers)
    # Modules, schemas and settings live as long as the process: keep the cyclic GC's
    # full collections from walking them again and again.
    gc.freeze()
    return app


async def serve_apps(configs: list[tuple[ASGIApp, HypercornConfig]]) -> None:
    """Serve every app until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.gather(
        *(hypercorn_serve(app, cfg, shutdown_trigger=stop.wait) for app, cfg in configs)
    )
