"""Running ASGI apps on hypercorn, and opening what `serve` needs."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
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

log = logging.getLogger("phi_replay.server")

ASGIApp = Callable[..., Awaitable[None]]


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
    # Frames over our own limit get a JSON error from ingest; hypercorn's limit is only
    # the backstop against unbounded buffering.
    config.websocket_max_message_size = max_message_bytes * 2
    config.accesslog = None  # access lines carry URLs; ingest logs what it needs
    config.errorlog = logging.getLogger("phi_replay.http")
    if certfile is not None and keyfile is not None:
        config.certfile = str(certfile)  # hypercorn enforces TLS 1.2 as the minimum
        config.keyfile = str(keyfile)
    return config


def open_collector(settings: Settings) -> Any:
    """Load (or, in dev mode, create) the keyring, open the store, build the app."""
    os.umask(0o077)  # everything the collector writes is for its own eyes only
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.dev:
        keyring = Keyring.load_or_create(settings.keyring_path)
    else:
        keyring = Keyring.load(settings.keyring_path)
    store = EmbeddedStore(settings.data_dir)
    app = create_app(settings, store, keyring)
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
