"""Helpers for tests that run a real collector process (pytest, e2e, benchmarks).

Servers listen on 127.0.0.1 only, on a free port, and are stopped by whoever started
them (the context manager's exit).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(
    url: str,
    timeout: float = 20.0,
    proc: subprocess.Popen[str] | None = None,
    log: Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            out = log.read_text(errors="replace") if log else ""
            raise RuntimeError(f"server exited with {proc.returncode} before serving:\n{out}")
        try:
            with urllib.request.urlopen(url, timeout=1, context=ssl_context) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(0.05)


@dataclass
class RunningServer:
    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    keyring: Path
    log: Path

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ingest"


def cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `python -m collector ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "collector", *map(str, args)],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def export_events(
    data_dir: Path, keyring: Path, session_id: str | None = None
) -> list[dict[str, Any]]:
    which = ["--session", session_id] if session_id else ["--all"]
    out = cli("export", "--data-dir", data_dir, "--keyring", keyring, *which).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_process(
    argv: Sequence[str | Path],
    health_url: str,
    log: Path,
    env: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """Start a server process, its output going to `log` (a pipe could fill and block it)."""
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
    try:
        wait_for_http(health_url, proc=proc, log=log, ssl_context=ssl_context)
        yield proc
    finally:
        _stop(proc)


@contextlib.contextmanager
def running_collector(
    data_dir: Path,
    *extra: str | Path,
    keyring: Path | None = None,
    port: int | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Iterator[RunningServer]:
    """A collector in dev mode (plus `extra` arguments) on a free loopback port.

    Pass `ssl_context` (trusting the server's certificate) when `extra` turns on TLS.
    """
    port = port or free_port()
    keyring = keyring or data_dir.with_name(data_dir.name + ".keyring.json")
    argv = [sys.executable, "-m", "collector", "serve", "--dev", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--keyring", str(keyring), *map(str, extra)]
    log = data_dir.with_name(data_dir.name + f".collector-{port}.log")
    scheme = "https" if ssl_context else "http"
    health = f"{scheme}://127.0.0.1:{port}/healthz"
    with running_process(argv, health, log, ssl_context=ssl_context) as proc:
        yield RunningServer(proc, port, data_dir, keyring, log)


@dataclass(frozen=True)
class RunningDemo:
    collector_url: str
    app_url: str
    data_dir: Path
    keyring: Path
    log: Path


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


@contextlib.contextmanager
def running_demo(workdir: Path) -> Iterator[RunningDemo]:
    """`phi-replay demo` (collector on port P, sample app on P+1), files under `workdir`."""
    port = _two_free_ports()
    data_dir, keyring, log = workdir / "var", workdir / "keyring.json", workdir / "demo.log"
    argv = [sys.executable, "-m", "collector", "demo", "--port", str(port)]
    argv += ["--data-dir", str(data_dir), "--keyring", str(keyring)]
    with running_process(argv, f"http://127.0.0.1:{port + 1}/", log):
        yield RunningDemo(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", data_dir, keyring, log
        )
