"""Limits on every request (collector/http_limits.py), against a real collector process:
bodies capped while they are read, a body deadline, idle WebSockets closed, and a cap on
connections per client address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from collector.limits import address_key
from collector.testing import RunningServer, running_collector
from tests.wsclient import ALLOWED_ORIGIN, batch, hello, new_id, receive, refused, start_session

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc status")


def with_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "collector.toml"
    config.write_text(text, encoding="utf-8")
    return config


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A collector with test-shortened timeouts and a small connection cap."""
    root = tmp_path_factory.mktemp("limits")
    config = with_config(
        root,
        "body_timeout_seconds = 2\nidle_timeout_seconds = 2\nmax_connections_per_address = 40\n",
    )
    with running_collector(root / "var", "--config", config) as server:
        yield server


def read_response(sock: socket.socket, timeout: float = 15.0) -> tuple[int, dict[str, object]]:
    """Status and JSON body of one HTTP/1.1 response (the body is small)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head, "the collector sent no response"
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    try:
        parsed = json.loads(body[:length]) if length else {}
    except json.JSONDecodeError:
        parsed = {"text": body[:length].decode(errors="replace")}
    return status, parsed


def stream_until_answered(
    port: int, head: bytes, chunk: bytes, total: int
) -> tuple[int, dict[str, object], int]:
    """Send `head`, then `chunk` again and again (up to `total` bytes) until the collector
    answers; return the answer and how many body bytes went out before it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        sock.sendall(head)
        sent = 0
        while sent < total:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = read_response(sock)
        return status, body, sent
    finally:
        sock.close()


def test_a_500_mib_login_post_is_refused_at_once_and_memory_stays_flat(
    collector: RunningServer,
) -> None:
    """Two such POSTs took the old collector from 0.65 to 1.75 GB: the console read the
    whole body before its 16 KiB form check."""
    before = rss_bytes(collector.proc.pid)
    size = 500 * MIB
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(size).encode() + b"\r\n\r\n"
    )
    for _ in range(2):
        status, body, sent = stream_until_answered(collector.port, head, b"u" * MIB, size)
        assert status == 413
        assert body["code"] == "too_large"
        assert "16384" in str(body["reason"])
        assert sent < 64 * MIB, "refused on its Content-Length, long before the body ended"
    growth = rss_bytes(collector.proc.pid) - before
    assert growth < 50 * MIB, f"the collector grew by {growth // MIB} MiB"


def test_a_chunked_body_without_length_is_cut_off_as_it_passes_the_limit(
    collector: RunningServer,
) -> None:
    before = rss_bytes(collector.proc.pid)
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"v" * (64 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    status, body, sent = stream_until_answered(collector.port, head, chunk, 300 * MIB)
    assert (status, body["code"]) == (413, "too_large")
    assert sent < 64 * MIB
    growth = rss_bytes(collector.proc.pid) - before
    assert growth < 50 * MIB, f"the collector grew by {growth // MIB} MiB"


@pytest.mark.parametrize(
    "path",
    ["/login", "/logout", "/console/users", "/console/instances/dev", "/healthz", "/no-such-page"],
)
def test_every_route_refuses_a_body_over_its_limit(collector: RunningServer, path: str) -> None:
    """A body a little over the limit is read to its end before the 413, so a client that
    writes everything before it reads still gets the answer, not a broken pipe."""
    body = b"a=" + b"x" * (20 * 1024)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", collector.port), timeout=15) as sock:
        sock.sendall(head + body)
        status, reply = read_response(sock)
    assert (status, reply["code"]) == (413, "too_large")
    assert reply["reason"] == "a body of 20482 bytes is over the limit of 16384"


def test_a_body_within_the_limit_still_reaches_the_console(collector: RunningServer) -> None:
    """The limit refuses; it must not swallow bodies it allows (the form still arrives and
    the login fails on its CSRF token as before)."""
    body = b"username=canary-operator&password=" + b"p" * 8000
    head = (
        b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", collector.port), timeout=15) as sock:
        sock.sendall(head + body)
        status, reply = read_response(sock)
    assert status == 401
    assert "The form expired" in str(reply["text"])


def test_a_drip_fed_beacon_body_is_timed_out(limited: RunningServer) -> None:
    """One byte every half second never finishes a 1,000-byte body: with
    body_timeout_seconds = 2 the collector answers 408 instead of waiting for ever."""
    head = (
        b"POST /v1/beacon HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Origin: " + ALLOWED_ORIGIN.encode() + b"\r\nContent-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", limited.port), timeout=15) as sock:
        sock.sendall(head)
        deadline = time.monotonic() + 12
        answered = False
        while time.monotonic() < deadline:
            if select.select([sock], [], [], 0.5)[0]:
                answered = True
                break
            try:
                sock.sendall(b"{")
            except (BrokenPipeError, ConnectionResetError):
                break
        assert answered, "the collector kept waiting for the dripped body"
        status, reply = read_response(sock)
    assert (status, reply["code"]) == (408, "body_timeout")
    assert str(reply["reason"]).startswith("the body took over 2 s")


def test_a_silent_websocket_is_closed_after_the_idle_timeout(limited: RunningServer) -> None:
    ws, _ = start_session(limited.ws_url, new_id("sess"))
    try:
        error, code, reason = refused(ws)
    finally:
        ws.close()
    assert error["code"] == "idle_timeout"
    assert code == 4008
    assert reason.startswith("nothing received for 2 s")


def test_idle_means_silence_not_age(limited: RunningServer) -> None:
    """A socket that keeps sending stays open well past the idle timeout."""
    ws, seq = start_session(limited.ws_url, new_id("sess"))
    try:
        for n in range(seq, seq + 8):  # 8 x 0.5 s: twice the idle timeout
            ws.send(batch(n))
            assert receive(ws) == {"type": "ack", "seq": n}
            time.sleep(0.5)
    finally:
        ws.close()


async def _hold(url: str, count: int) -> tuple[int, list[tuple[str, int]]]:
    """Open `count` sockets at once from this one address; say hello on each. How many
    were welcomed, and the (code, close code) of each one refused."""
    sockets: list[ClientConnection] = []
    refusals: list[tuple[str, int]] = []
    welcomed = 0
    limit = asyncio.Semaphore(100)  # the test's own connect rate, not the collector's

    async def one() -> None:
        nonlocal welcomed
        async with limit:
            ws = await websockets.connect(url, origin=Origin(ALLOWED_ORIGIN), open_timeout=30)
        sockets.append(ws)
        with contextlib.suppress(ConnectionClosed):  # refused at once: its error is still there
            await ws.send(hello(new_id("sess")))
        try:
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        except ConnectionClosed:
            reply = {}
        if reply.get("type") == "welcome":
            welcomed += 1
            return
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except ConnectionClosed as closed:
            refusals.append((str(reply.get("code")), closed.rcvd.code if closed.rcvd else 0))

    try:
        await asyncio.gather(*(one() for _ in range(count)))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return welcomed, refusals


def test_1500_sockets_from_one_address_get_only_the_cap(tmp_path: Path) -> None:
    """The old collector kept 1,500 sockets from one address open indefinitely. With the
    default cap (200), 200 are welcomed and each of the other 1,300 is told why."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    try:
        with running_collector(tmp_path / "var") as server:
            welcomed, refusals = asyncio.run(_hold(server.ws_url, 1500))
            after = start_session(server.ws_url, new_id("sess"))[0]  # the cap is released
            after.close()
            log = server.log
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert welcomed == 200
    assert len(refusals) == 1300
    assert set(refusals) == {("too_many_connections", 4029)}
    # 1,300 refusals are not 1,300 log lines (one per kind every 10 s), and name no address.
    lines = [line for line in log.read_text().splitlines() if "too_many_connections" in line]
    assert 1 <= len(lines) <= 3, lines
    assert "127.0.0.1" not in "".join(lines)


def test_ipv6_clients_count_per_64() -> None:
    """Anyone on IPv6 holds a /64 (2^64 addresses): counting per address caps nothing."""
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:3::5") != address_key("2001:db8:1:2::5")
    assert address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert address_key("203.0.113.7") != address_key("203.0.113.8")
