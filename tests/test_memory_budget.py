"""Client input still arriving is held within one budget across every connection
(`max_buffered_bytes`): a client that stops half-way through frames or bodies cannot make
the collector hold its limit times its connections (an outside review held 3.8 GB with
199 sockets, each sending 16 KB of one unfinished compressed frame)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.testing import RunningServer, running_collector
from tests.test_http_limits import read_response, rss_bytes, with_config
from tests.wsclient import (
    batch,
    custom,
    frame,
    new_id,
    raw_socket,
    receive,
    refused,
    start_session,
)

BUDGET = 16 * 1024 * 1024  # the smallest the config allows
MIB = 1024 * 1024


@pytest.fixture
def budgeted(tmp_path: Path) -> Iterator[RunningServer]:
    config = with_config(
        tmp_path, f"max_buffered_bytes = {BUDGET}\nmax_connections_per_address = 1000\n"
    )
    with running_collector(tmp_path / "var", "--config", config) as server:
        yield server


def test_unfinished_frames_on_many_sockets_stay_within_the_budget(
    budgeted: RunningServer,
) -> None:
    # Each starts a batch of a million non-BMP characters (4 MB on the wire, 4 MiB held)
    # and never finishes it: without a budget, 30 of them hold about 120 MiB.
    start = b'{"type":"batch","seq":1,"events":[{"x":"' + "\U0001f600".encode() * 1_000_000
    before = rss_bytes(budgeted.proc.pid)
    stalled = []
    try:
        for _ in range(30):
            sock = raw_socket(budgeted.port)
            sock.sendall(frame(start, fin=False))
            stalled.append(sock)
        time.sleep(1.0)
        grown = rss_bytes(budgeted.proc.pid) - before
        assert grown < 3 * BUDGET, f"the collector grew by {grown // MIB} MiB"

        # While the budget is spent, a complete frame (a snapshot-sized batch: more than
        # the budget has left) is refused as busy, not stored.
        ws, next_seq = start_session(budgeted.ws_url, new_id("sess"))
        ws.send(batch(next_seq, custom(1, note="n" * MIB)))
        error, close_code, _ = refused(ws)
        assert (error["code"], close_code) == ("busy", 1013)
        assert error.get("seq") == next_seq
    finally:
        for sock in stalled:
            sock.close()
    # The stalled sockets' bytes come back: the same batch, resent, is stored.
    time.sleep(0.5)
    ws, next_seq = start_session(budgeted.ws_url, new_id("sess"))
    ws.send(batch(next_seq, custom(1, note="n" * MIB)))
    assert receive(ws) == {"type": "ack", "seq": next_seq}
    ws.close()


def test_half_sent_beacon_bodies_stay_within_the_budget(budgeted: RunningServer) -> None:
    # Each declares 64 KiB (the beacon limit) and sends all but its last byte: the
    # budget holds 256 of them; the next one is refused at once as busy.
    held = []
    try:
        for _ in range(256):
            sock = socket.create_connection(("127.0.0.1", budgeted.port), timeout=10)
            sock.sendall(
                b"POST /v1/beacon HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                b"Content-Length: 65536\r\n\r\n" + b"{" * 65535
            )
            held.append(sock)
        time.sleep(0.5)
        sock = socket.create_connection(("127.0.0.1", budgeted.port), timeout=10)
        sock.sendall(
            b"POST /v1/beacon HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 65536\r\n\r\n" + b"{" * 65536
        )
        status, body = read_response(sock)
        sock.close()
        assert (status, body.get("code")) == (503, "busy")
    finally:
        for sock in held:
            sock.close()
