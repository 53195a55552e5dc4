"""Running ASGI apps on hypercorn, and opening what `serve` needs.

Start-up checks everything it can before it says "listening" (TLS files, the data
directory, the port), and each failure is one `StartupError` sentence naming the file,
directory or port and what to do. Shutdown drains: no new connections, every socket's
in-flight batch stored and acked, then closed with 1012, within a deadline.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import resource
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

from collector.app import create_app
from collector.config import (
    DEFAULT_PORT,
    DEFAULT_SEND_TIMEOUT_SECONDS,
    DEFAULT_SHUTDOWN_GRACE_SECONDS,
    Settings,
)
from collector.crypto import Keyring
from collector.embedded import EmbeddedStore, writer_active
from collector.exceptions import PhiReplayError, StartupError
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
        # HTTP/1.1 only. Over HTTP/2 (which Chromium picks when offered), hypercorn 0.18
        # looks up a closed stream without a guard when DATA arrives after a socket was
        # refused and closed (h2.py `_handle_events`): `KeyError: 3` ends the whole
        # connection, every other stream on it included. WebSockets over HTTP/1.1 need
        # no extended CONNECT, and the console's few requests lose nothing by it.
        config.alpn_protocols = ["http/1.1"]
    return config


def check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    """Both files or neither; both readable PEM; the key the certificate's own."""
    if (certfile is None) != (keyfile is None):
        given, missing = ("certfile", "keyfile") if keyfile is None else ("keyfile", "certfile")
        raise StartupError(
            f"TLS is half-configured: {given} is set but {missing} is not; give both"
            f" (--certfile and --keyfile, or certfile and keyfile in [listen]), or neither"
        )
    if certfile is None or keyfile is None:
        return
    for what, path in (("certificate", certfile), ("private key", keyfile)):
        if not path.is_file():
            raise StartupError(
                f"the TLS {what} {path} does not exist or is not a file:"
                f" check the path given as {'certfile' if what == 'certificate' else 'keyfile'}"
            )
        if not os.access(path, os.R_OK):
            raise StartupError(f"the TLS {what} {path} is not readable by this user")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise StartupError(
                f"the private key {keyfile} does not belong to the certificate {certfile}:"
                " give the key the certificate was issued for"
            ) from None
        raise StartupError(
            f"could not load the TLS certificate {certfile} with the key {keyfile}"
            f" ({exc.reason or 'not PEM'}): both must be PEM files, the key unencrypted"
        ) from None


def check_data_dir(data_dir: Path) -> None:
    """A directory this process can write, which no other collector is writing."""
    if data_dir.exists() and not data_dir.is_dir():
        raise StartupError(
            f"the data directory {data_dir} is not a directory: move that file away"
            " or give another --data-dir"
        )
    existing = data_dir if data_dir.exists() else _nearest_existing(data_dir)
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == data_dir else f" (it would be created in {existing})"
        raise StartupError(
            f"the data directory {data_dir} is not writable by this user{where}:"
            " fix its owner or mode, or give another --data-dir"
        )
    if writer_active(data_dir):
        raise StartupError(
            f"the data directory {data_dir} is in use by another collector: stop that"
            " one first, or give this one its own --data-dir"
        )


def _nearest_existing(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def probe(config: HypercornConfig) -> None:
    """Fail now, before the store is opened, if `config.bind` cannot be bound; `bind` does
    it for real once the validation workers are forked (they must not inherit it)."""
    for sock in _create_sockets(config):
        sock.close()


def _create_sockets(config: HypercornConfig) -> list[socket.socket]:
    try:
        sockets = config.create_sockets()
    except socket.gaierror:
        raise StartupError(
            f"cannot listen on {config.bind[0]}: the host name does not resolve;"
            " give an IP address (e.g. 127.0.0.1 or 0.0.0.0) as host"
        ) from None
    except OSError as exc:
        raise StartupError(_bind_problem(config.bind[0], exc)) from None
    return [*sockets.secure_sockets, *sockets.insecure_sockets]


def bind(config: HypercornConfig, send_timeout: float = DEFAULT_SEND_TIMEOUT_SECONDS) -> list[str]:
    """Bind and listen on `config.bind` now, so that a port in use is a sentence before
    anything is served and "listening" is printed only once it is true. Hypercorn is
    handed the bound sockets as `fd://` binds; connections arriving meanwhile wait in
    the backlog. Returns the addresses, as `host:port`.

    Every connection gets TCP_USER_TIMEOUT = `send_timeout` (accepted sockets inherit
    it from the listener): a client that stops reading leaves what the collector sends
    it unacknowledged, and the kernel then resets the connection after this long. Without
    it such a client holds its socket (and its buffers) past the idle timeout, whose
    close waits for the send, and past the shutdown deadline."""
    addresses, fds = [], []
    for sock in _create_sockets(config):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(send_timeout * 1000))
        sock.listen(config.backlog)
        host, port = sock.getsockname()[:2]
        addresses.append(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        fds.append(f"fd://{sock.detach()}")  # hypercorn's socket owns the descriptor now
    config.bind = fds
    return addresses


def _bind_problem(address: str, exc: OSError) -> str:
    host, _, port = address.rpartition(":")
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use (another collector or program is"
            " listening there): stop it, or choose another port (--port, or port in [listen])"
        )
    if exc.errno == errno.EACCES:
        return (
            f"no permission to listen on port {port}: ports below 1024 need privileges;"
            f" use a port of 1024 or more (the default is {DEFAULT_PORT}) behind a proxy"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {host}: it is not an address of this machine;"
            " give one of its addresses, 127.0.0.1, or 0.0.0.0 for all"
        )
    return f"cannot listen on {address}: {exc.strerror or type(exc).__name__}"


def open_collector(settings: Settings) -> Any:
    """Load (or, in dev mode, create) the keyring, open the store, build the app."""
    os.umask(0o077)  # everything the collector writes is for its own eyes only
    raise_open_files_limit()
    check_data_dir(settings.data_dir)
    if not settings.dev:
        Keyring.load(settings.keyring_path)  # a missing keyring is a sentence, before workers
    workers = start_workers(worker_count())  # first: forked before any thread or key exists
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if settings.dev:
            keyring = Keyring.load_or_create(settings.keyring_path)
        else:
            keyring = Keyring.load(settings.keyring_path)
        store = EmbeddedStore(settings.data_dir)
    except PhiReplayError:
        _stop_pool(workers)
        raise
    except OSError as exc:
        _stop_pool(workers)
        raise StartupError(
            f"cannot use the data directory {settings.data_dir}"
            f" ({exc.strerror or type(exc).__name__}): check that it is a directory this"
            " user can write, on a mounted volume"
        ) from None
    app = create_app(settings, store, keyring, workers=workers)
    # Modules, schemas and settings live as long as the process: keep the cyclic GC's
    # full collections from walking them again and again.
    gc.freeze()
    return app


def _stop_pool(workers: Any) -> None:
    if workers is not None:
        workers.shutdown(wait=False, cancel_futures=True)


async def serve_apps(
    configs: list[tuple[ASGIApp, HypercornConfig]],
    *,
    grace_seconds: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
) -> None:
    """Serve every app until SIGINT or SIGTERM, then drain within `grace_seconds`.

    On the signal, hypercorn stops accepting and closes idle HTTP connections, while each
    app that has an ingest (`app.state.ingest`) lets every socket finish the batch it is
    storing, ack it and close with 1012; the apps' lifespans then close their stores.
    """
    stop = asyncio.Event()
    stopped = asyncio.Event()  # hypercorn's trigger: set once the drain has begun
    loop = asyncio.get_running_loop()
    draining: list[asyncio.Task[None]] = []

    deadline: list[asyncio.TimerHandle] = []

    def on_signal(sig: signal.Signals) -> None:
        if not stop.is_set():  # a second signal changes nothing: the deadline holds
            stop.set()
            draining.append(loop.create_task(_drain(configs, sig, grace_seconds, stopped)))
            deadline.append(loop.call_later(grace_seconds + EXIT_MARGIN_SECONDS, _exit_now))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    for _, cfg in configs:
        cfg.graceful_timeout = grace_seconds
    http_log = logging.getLogger("phi_replay.http")
    if not any(isinstance(f, _SaidAlready) for f in http_log.filters):
        http_log.addFilter(_SaidAlready())
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, _PeerGone) for f in asyncio_log.filters):
        asyncio_log.addFilter(_PeerGone())
    handler = loop.get_exception_handler()
    loop.set_exception_handler(_quiet_after_deadline)
    try:
        await asyncio.gather(
            *(hypercorn_serve(app, cfg, shutdown_trigger=stopped.wait) for app, cfg in configs)
        )
        await asyncio.gather(*draining)
    finally:
        for timer in deadline:
            timer.cancel()
        loop.set_exception_handler(handler)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("stopped")


# After the grace period, hypercorn cancels what is left; a connection whose client
# stopped reading still waits to flush its last bytes (until TCP_USER_TIMEOUT resets it).
# This long past the grace period the process exits anyway: everything acknowledged is
# durable already (fsync before ack), exactly as after a crash.
EXIT_MARGIN_SECONDS = 5.0


def _exit_now() -> None:
    log.warning(
        "stopped with connection(s) still open %g s after the grace period (clients that"
        " stopped reading); everything acknowledged is durable",
        EXIT_MARGIN_SECONDS,
    )
    logging.shutdown()
    os._exit(0)


async def _drain(
    configs: list[tuple[ASGIApp, HypercornConfig]],
    sig: signal.Signals,
    grace_seconds: float,
    stopped: asyncio.Event,
) -> None:
    ingests = [ingest for app, _ in configs if (ingest := _ingest_of(app)) is not None]
    live = sum(ingest.live_sockets for ingest in ingests)
    log.info(
        "shutting down (%s): no new connections; closing %d ingest socket(s) once their"
        " batches are acked, within %g s",
        sig.name,
        live,
        grace_seconds,
    )
    stopped.set()  # hypercorn closes its listeners and waits for connections to end
    left = sum(await asyncio.gather(*(ingest.drain(grace_seconds) for ingest in ingests)))
    if left:
        log.warning(
            "%d ingest socket(s) still open after %g s are reset; their unacknowledged"
            " batches are resent by the recorders",
            left,
            grace_seconds,
        )


class _SaidAlready(logging.Filter):
    """Hypercorn's "Running on … (CTRL + C to quit)" repeats our "listening on" line,
    and under systemd there is no Ctrl-C to press."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Running on ")


class _PeerGone(logging.Filter):
    """asyncio warns "socket.send() raised exception." for every write to a connection
    its peer already reset (hypercorn still answering pings queued before the reset):
    one client could write thousands of lines, and there is nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "socket.send() raised exception."


def _ingest_of(app: ASGIApp) -> Any:
    state = getattr(app, "state", None)
    return getattr(state, "ingest", None)


def _quiet_after_deadline(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Connections still open when the grace period ends are cancelled as the loop
    closes; asyncio would log each as a CancelledError traceback. The drain has already
    said how many were reset: everything else goes to the default handler."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)
