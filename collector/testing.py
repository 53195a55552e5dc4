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
    data_dir: Path, *extra: str | Path, keyring: Path | None = None, port: int | None = None
) -> Iterator[RunningServer]:
    """A collector in dev mode (plus `extra` arguments) on a free loopback port."""
    port = port or free_port()
    keyring = keyring or data_dir.with_name(data_dir.name + ".keyring.json")
    argv = [
        sys.executable,
        "-m",
        "collector",
        "serve",
        "--dev",
        "--port",
        str(port),
        "--data-dir",
        data_dir,
        "--keyring",
        keyring,
        *extra,
    ]
    log = data_dir.with_name(data_dir.name + f".collector-{port}.log")
    with running_process(argv, f"http://127.0.0.1:{port}/healthz", log) as proc:
        yield RunningServer(proc, port, data_dir, keyring, log)
