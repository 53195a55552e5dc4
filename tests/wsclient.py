"""A small protocol client on the `websockets` library, for tests and benchmarks; and a raw
one (`raw_socket`, `frame`) for clients no library lets you write: frames left unfinished,
sockets that never read."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import struct
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

ALLOWED_ORIGIN = "http://127.0.0.1:5999"


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def open_socket(url: str, origin: str = ALLOWED_ORIGIN) -> ClientConnection:
    # Entering the context marks the connection as used the non-legacy way; callers close it.
    connection: ClientConnection = connect(url, origin=Origin(origin), open_timeout=5)
    return connection.__enter__()


def tab_of(session_id: str) -> str:
    """The tab a test session belongs to: the collector binds a session to its tab."""
    return "tab-" + hashlib.sha256(session_id.encode()).hexdigest()[:12]


def hello(session_id: str, app_key: str = "dev", **extra: Any) -> str:
    message = {
        "type": "hello",
        "v": 1,
        "app_key": app_key,
        "session_id": session_id,
        "tab_id": tab_of(session_id),
        "user": "test.user",
        "environment": "dev",
        **extra,
    }
    return json.dumps(message)


def meta(timestamp: int, href: str = "http://127.0.0.1:5999/patients") -> dict[str, Any]:
    return {"type": 4, "data": {"href": href, "width": 1280, "height": 720}, "timestamp": timestamp}


def custom(timestamp: int, **payload: str) -> dict[str, Any]:
    return {"type": 5, "data": {"tag": "test", "payload": payload}, "timestamp": timestamp}


def batch(seq: int, *events: dict[str, Any]) -> str:
    return json.dumps({"type": "batch", "seq": seq, "events": list(events) or [meta(1000 + seq)]})


def receive(ws: ClientConnection) -> dict[str, Any]:
    reply = json.loads(ws.recv(timeout=10))
    assert isinstance(reply, dict)
    return reply


def start_session(url: str, session_id: str) -> tuple[ClientConnection, int]:
    ws = open_socket(url)
    ws.send(hello(session_id))
    welcome = receive(ws)
    assert welcome["type"] == "welcome", welcome
    return ws, int(welcome["next_seq"])


def refused(ws: ClientConnection) -> tuple[dict[str, Any], int, str]:
    """The error message, then the close code and reason, after a refused frame."""
    error = receive(ws)
    try:
        extra = ws.recv(timeout=10)
    except ConnectionClosed as closed:
        rcvd = closed.rcvd
    else:
        raise AssertionError(f"expected a close after the error, got {extra!r}")
    assert rcvd is not None
    return error, rcvd.code, rcvd.reason


def frame(payload: bytes, fin: bool = True, opcode: int = 0x1) -> bytes:
    """A masked client frame (mask key 0: the payload goes as it is); text by default."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + b"\0\0\0\0" + payload


def raw_socket(port: int, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket past its handshake and hello (welcomed), driven byte by byte.
    `rcvbuf` is set before connecting, so the window it offers stays that small."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {ALLOWED_ORIGIN}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    sock.sendall(frame(hello(new_id("sess")).encode()))
    assert b"welcome" in sock.recv(4096)
    return sock
