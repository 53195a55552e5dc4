"""A small protocol client on the `websockets` library, for tests and benchmarks."""

from __future__ import annotations

import hashlib
import json
import secrets
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
