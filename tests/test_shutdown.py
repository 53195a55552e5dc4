"""SIGTERM under load: `serve` drains. It stops accepting, lets every socket finish the
batch it is storing and ack it, closes each with 1012 ("service restart") and exits 0
within `shutdown_grace_seconds`, logging one "shutting down" and one "stopped" line and
no traceback. Every batch acknowledged before the close is in the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets

from collector.testing import export_events, free_port, wait_for_http
from tests.wsclient import ALLOWED_ORIGIN, frame, hello, new_id, raw_socket

CLIENTS = 40
NOISE = ("Traceback", "ExceptionGroup", "never awaited", "CancelledError", "ERROR")


def start_serve(
    tmp_path: Path, grace_seconds: float, settings: str = ""
) -> tuple[subprocess.Popen[str], int, Path]:
    port = free_port()
    config = tmp_path / "phi-replay.toml"
    config.write_text(
        f"{settings}[listen]\nshutdown_grace_seconds = {grace_seconds}\n", encoding="utf-8"
    )
    log = tmp_path / "serve.log"
    argv = [sys.executable, "-m", "collector", "serve", "--dev", "--port", str(port)]
    argv += ["--config", str(config), "--data-dir", str(tmp_path / "var")]
    with log.open("w") as out:
        # Its own process group, as under systemd: the group can be signalled as a whole.
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc, log=log)
    return proc, port, log


async def recorder(
    url: str, acked: set[tuple[str, int]], closes: list[int | None], padding: int
) -> None:
    """Sends batches every few milliseconds until the collector closes; `padding` bytes
    in each make it a frame the validation workers take (64 KiB and more) or not."""
    session = new_id("sess")
    async with websockets.connect(url, origin=websockets.Origin(ALLOWED_ORIGIN)) as ws:
        await ws.send(hello(session))
        seq = json.loads(await ws.recv())["next_seq"]

        async def send() -> None:
            nonlocal seq
            while True:
                payload = {"pad": "x" * padding} if padding else {}
                event = {"type": 5, "data": {"tag": "t", "payload": payload}, "timestamp": seq}
                await ws.send(json.dumps({"type": "batch", "seq": seq, "events": [event]}))
                seq += 1
                await asyncio.sleep(0.005)

        sender = asyncio.create_task(send())
        try:
            async for frame in ws:
                message = json.loads(frame)
                if message["type"] == "ack":
                    acked.add((session, message["seq"]))
        except websockets.ConnectionClosed:
            pass
        finally:
            sender.cancel()
        closes.append(ws.close_code)


@pytest.mark.parametrize(
    ("padding", "whole_group"),
    [
        (0, False),  # small batches, validated on the loop; `kill -TERM PID`
        (70_000, True),  # snapshots, in the workers; systemd's default signals every process
    ],
)
def test_sigterm_under_load_acks_stores_and_closes_every_socket_with_1012(
    tmp_path: Path, padding: int, whole_group: bool
) -> None:
    proc, port, log = start_serve(tmp_path, grace_seconds=5)
    acked: set[tuple[str, int]] = set()
    closes: list[int | None] = []

    async def run() -> None:
        url = f"ws://127.0.0.1:{port}/v1/ingest"
        clients = [
            asyncio.create_task(recorder(url, acked, closes, padding)) for _ in range(CLIENTS)
        ]
        while len(acked) < CLIENTS * 5:  # every socket is busy storing batches
            await asyncio.sleep(0.05)
        if whole_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*clients), timeout=30)

    try:
        asyncio.run(run())
        assert proc.wait(timeout=5 + 20) == 0  # the grace period, and a margin for a busy CI
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert closes == [1012] * CLIENTS
    stored = {(e["session_id"], e["seq"]) for e in export_events(tmp_path / "var", _ring(tmp_path))}
    assert acked <= stored, f"{len(acked - stored)} acknowledged batch(es) lost"
    text = log.read_text()
    for noise in NOISE:
        assert noise not in text
    assert text.count("shutting down (SIGTERM)") == 1
    assert text.count("phi_replay.server: stopped") == 1
    assert "still open" not in text


def _ring(tmp_path: Path) -> Path:
    return tmp_path / "var.keyring.json"


def test_a_client_that_never_answers_does_not_hold_the_collector_past_its_deadline(
    tmp_path: Path,
) -> None:
    proc, port, log = start_serve(tmp_path, grace_seconds=1)
    silent = raw_socket(port)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=1 + 20) == 0
    finally:
        silent.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    for noise in NOISE:
        assert noise not in text
    assert "1 ingest socket(s) still open after 1 s are reset" in text
    assert text.count("phi_replay.server: stopped") == 1


def _unread_client(port: int) -> socket.socket:
    """A client that says hello, then sends pings and never reads: each ping makes the
    collector write a pong, until both sides' buffers are full."""
    sock = raw_socket(port, rcvbuf=1024)
    sock.setblocking(False)
    ping = frame(b"p" * 125, opcode=0x9)
    with contextlib.suppress(BlockingIOError):
        for _ in range(50_000):
            sock.send(ping)
    return sock


def _established(port: int) -> int:
    """Server-side TCP connections on `port` in state ESTABLISHED (IPv4)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for r in rows if r.split()[1].endswith(f":{port:04X}") and r.split()[3] == "01")


def test_a_client_that_stops_reading_does_not_hold_the_collector_past_its_deadline(
    tmp_path: Path,
) -> None:
    """Outside review: such a client held the process 56 s past SIGTERM (until it left)."""
    settings = "idle_timeout_seconds = 1\nsend_timeout_seconds = 60\n"
    proc, port, log = start_serve(tmp_path, grace_seconds=1, settings=settings)
    stuck = [_unread_client(port) for _ in range(5)]
    try:
        time.sleep(3)  # their idle timeouts have fired: each close waits on a full socket
        proc.send_signal(signal.SIGTERM)
        # The grace period, then EXIT_MARGIN_SECONDS (5 s); the send timeout is far later.
        assert proc.wait(timeout=1 + 5 + 5) == 0
    finally:
        for sock in stuck:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    for noise in NOISE:
        assert noise not in text
    assert "still open 5 s after the grace period" in text


def test_a_client_that_stops_reading_is_reset_after_the_send_timeout(tmp_path: Path) -> None:
    """The idle timeout's close waits on a full socket; the send timeout ends it."""
    settings = "idle_timeout_seconds = 1\nsend_timeout_seconds = 2\n"
    proc, port, _ = start_serve(tmp_path, grace_seconds=1, settings=settings)
    stuck = _unread_client(port)
    try:
        deadline = time.monotonic() + 1 + 2 + 10
        while _established(port) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert _established(port) == 0, "the collector still holds the connection"
    finally:
        stuck.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_reset_after_unread_pings_writes_no_log_flood(tmp_path: Path) -> None:
    """Outside review: one such client added 177 lines of asyncio's send warning."""
    proc, port, log = start_serve(tmp_path, grace_seconds=1)
    try:
        sock = _unread_client(port)
        time.sleep(0.5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, with the pongs still queued
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert "socket.send() raised exception" not in log.read_text()
