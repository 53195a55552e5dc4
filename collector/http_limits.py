"""Limits on every request before the application sees it (one ASGI middleware).

- Bodies: at most `max_body_bytes` (16 KiB: the console's forms) on every route but the
  beacon, which takes `max_message_bytes` (a batch). A Content-Length far over the limit
  is refused with 413 before a byte is read; any other body is counted as it arrives and
  never kept past the limit. The whole body must arrive within
  `body_timeout_seconds` (408), so a body dripped a byte at a time cannot hold a request
  open. The application is handed the body only once it is complete, so no route ever
  buffers more than its limit.
- WebSockets: a socket that sends nothing for `idle_timeout_seconds` is closed with an
  `idle_timeout` error (close code 4008); the recorder reconnects when it next has
  something to send.
- Per client address, at most `max_connections_per_address` open WebSockets and
  requests in progress; more are refused (`too_many_connections`: 429, or close code
  4029 after the handshake so the recorder sees why). IPv6 clients count per /64, the
  block one subscriber gets.
- `trusted_proxies`: only for a peer in one of these networks are `X-Forwarded-For`
  (the client address, for the limits above, the console's audit and its throttles) and
  `X-Forwarded-Proto` (`https`: Secure cookies and HSTS) believed. From anyone else the
  headers are ignored: anyone can send them.

Refusals are JSON `{"type": "error", "code", "reason"}` as in docs/protocol.md; reasons
give sizes and limits, never content.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from collector.config import IPNetwork, Settings
from collector.exceptions import Refusal
from collector.limits import MemoryBudget, address_key
from collector.logs import Throttle
from collector.metrics import Metrics
from collector.protocol import (
    BUSY_REASON,
    CLOSE_IDLE,
    CLOSE_TOO_MANY,
    close_reason,
    error_message,
    until_disconnect,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BEACON_PATH = "/v1/beacon"
# A refused body up to this many times the limit is read (and dropped) before the 413, so
# that clients which send before they read see it; larger ones are cut off at once.
DRAIN_FACTOR = 2
LOG_EVERY_SECONDS = 10.0  # refusals of one kind are logged at most this often

log = logging.getLogger("phi_replay.limits")


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int
    beacon_body_bytes: int
    body_timeout: float
    idle_timeout: float
    max_connections_per_address: int
    trusted_proxies: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            beacon_body_bytes=settings.max_beacon_bytes,
            body_timeout=settings.body_timeout_seconds,
            idle_timeout=settings.idle_timeout_seconds,
            max_connections_per_address=settings.max_connections_per_address,
            trusted_proxies=settings.trusted_proxies,
        )

    def body_limit(self, path: str) -> int:
        return self.beacon_body_bytes if path == BEACON_PATH else self.max_body_bytes


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address | None, networks: tuple[IPNetwork, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def address_in(host: str, networks: tuple[IPNetwork, ...]) -> bool:
    """Whether a client address (an IPv4-mapped one as IPv4) is in one of `networks`."""
    return _trusted(_address(host), networks)


def _header(scope: Scope, name: bytes) -> str | None:
    """Every value of one header, joined by commas as HTTP allows; None if absent."""
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values) if values else None


def forwarded(scope: Scope, proxies: tuple[IPNetwork, ...]) -> Scope:
    """The scope as the client sent it through trusted proxies (or unchanged).

    X-Forwarded-For is read from the right: each trusted proxy appends the address it
    got the request from, so the first address from the right that is not a trusted
    proxy is the client. Anything before it was written by the client and proves
    nothing. E.g. with `trusted_proxies = ["10.0.0.0/8"]`, a request from 10.0.0.5 with
    `X-Forwarded-For: 6.6.6.6, 203.0.113.7, 10.0.0.9` comes from 203.0.113.7.
    """
    client = scope.get("client")
    if not proxies or not client or not _trusted(_address(str(client[0])), proxies):
        return scope
    scope = dict(scope)
    chain = _header(scope, b"x-forwarded-for")
    if chain is not None:
        for hop in reversed(chain.split(",")):
            address = _address(hop)
            if address is None:
                break  # not an address: the nearest hop known so far is the client
            scope["client"] = (str(address), 0)
            if not _trusted(address, proxies):
                break
    proto = _header(scope, b"x-forwarded-proto")
    if proto is not None:
        nearest = proto.split(",")[-1].strip().lower()
        if nearest in ("http", "https"):
            secure = nearest == "https"
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if secure else "ws"
            else:
                scope["scheme"] = nearest
    return scope


def _code_of(body: bytes) -> str:
    """The `code` of a JSON error body (docs/protocol.md), or "other"."""
    try:
        message = json.loads(body)
    except ValueError:
        return "other"
    return str(message.get("code", "other")) if isinstance(message, dict) else "other"


def _error(code: str, reason: str) -> str:
    return json.dumps(error_message(Refusal(code, 0, reason)))


async def _respond(send: Send, status: int, code: str, reason: str) -> None:
    body = _error(code, reason).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-content-type-options", b"nosniff"),
                # The rest of a refused body is not read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _too_large(limit: int, size: int | None) -> str:
    if size is None:
        return f"the body is over the limit of {limit} bytes"
    return f"a body of {size} bytes is over the limit of {limit}"


async def _close_socket(receive: Receive, send: Send, refusal: Refusal) -> None:
    """The refusal's error message, its close frame, then the client's close."""
    await send({"type": "websocket.send", "text": json.dumps(error_message(refusal))})
    close = {"type": "websocket.close", "code": refusal.close_code, "reason": close_reason(refusal)}
    await send(close)
    await until_disconnect(receive)


class _BodyRefused(Exception):
    def __init__(self, status: int, code: str, reason: str) -> None:
        super().__init__(code)
        self.status, self.code, self.reason = status, code, reason


class LimitsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        limits: HttpLimits,
        metrics: Metrics | None = None,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics or Metrics()
        self.budget = budget or MemoryBudget(256 << 20)
        self._open: Counter[str] = Counter()  # per address_key: sockets and requests open
        self._throttle = Throttle(LOG_EVERY_SECONDS)

    def _log(self, code: str, what: str) -> None:
        """One line per code every LOG_EVERY_SECONDS at most: a flood of refusals must not
        become a flood of log lines. No address: a client's address identifies a person."""
        suppressed = self._throttle.due(code)
        if suppressed is None:
            return
        more = f" (and {suppressed} more like it since the last line)" if suppressed else ""
        log.info("refused (%s): %s%s", code, what, more)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope = forwarded(scope, self.limits.trusted_proxies)
        client = scope.get("client")
        key = address_key(str(client[0])) if client else "-"
        cap = self.limits.max_connections_per_address
        if self._open[key] >= cap:
            self.metrics.refused("too_many_connections")
            self._log("too_many_connections", f"{cap} connections open from one address")
            reason = f"more than {cap} connections from one address; retry later"
            if kind == "http":
                await _respond(send, 429, "too_many_connections", reason)
            else:
                await self._refuse_socket(receive, send, "too_many_connections", reason)
            return
        self._open[key] += 1
        self.metrics.opened(kind)
        try:
            if kind == "http":
                await self._http(scope, receive, send)
            else:
                await self._websocket(scope, receive, send)
        finally:
            self.metrics.closed(kind)
            self._open[key] -= 1
            if self._open[key] <= 0:
                del self._open[key]

    # -- HTTP ---------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        held = [0]  # bytes of this body counted in the budget, until the route is done
        try:
            await self._http_held(scope, receive, send, held)
        finally:
            self.budget.give(held[0])

    async def _http_held(self, scope: Scope, receive: Receive, send: Send, held: list[int]) -> None:
        try:
            body = await self._read_body(scope, receive, held)
        except _BodyRefused as refused:
            self.metrics.refused(refused.code)
            self._log(refused.code, refused.reason)
            await _respond(send, refused.status, refused.code, refused.reason)
            return
        if body is None:
            return  # the client went away
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # only http.disconnect is left to come
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        if scope.get("path") == BEACON_PATH:
            self.metrics.received("beacon", len(body))
            send = self._watch_beacon(send)
        await self.app(scope, replay, send)

    def _watch_beacon(self, send: Send) -> Send:
        """Count the beacon's outcome from its answer: 204 stored, else the error's code."""
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if status == 204:
                    self.metrics.session("beacon")
            elif message["type"] == "http.response.body" and status >= 400:
                self.metrics.refused(_code_of(message.get("body", b"")))
            await send(message)

        return watched

    async def _read_body(self, scope: Scope, receive: Receive, held: list[int]) -> bytes | None:
        """The whole body, or None if the client went away first.

        A body a little over the limit (at most twice it) is read to its end and thrown
        away before the refusal is sent: a client that writes its whole body before it
        reads the answer (most do) would otherwise get a broken pipe instead of the 413.
        Anything larger is refused at once and the connection closed."""
        limit = self.limits.body_limit(str(scope.get("path", "")))
        drain = DRAIN_FACTOR * limit
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                raise _BodyRefused(400, "protocol", "expected a numeric Content-Length") from None
            if length > drain:
                raise _BodyRefused(413, "too_large", _too_large(limit, length))
        chunks: list[bytes] = []
        size = 0
        timeout = self.limits.body_timeout
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        chunks.clear()  # refused: what came is not kept
                        self.budget.give(held[0])
                        held[0] = 0
                        if size > drain:
                            raise _BodyRefused(413, "too_large", _too_large(limit, None))
                    elif self.budget.take(len(chunk)):
                        held[0] += len(chunk)
                        chunks.append(chunk)
                    else:
                        raise _BodyRefused(503, "busy", BUSY_REASON)
                    if not message.get("more_body", False):
                        if size > limit:
                            raise _BodyRefused(413, "too_large", _too_large(limit, size))
                        return b"".join(chunks)
        except TimeoutError:
            if size > limit:
                raise _BodyRefused(413, "too_large", _too_large(limit, None)) from None
            raise _BodyRefused(
                408, "body_timeout", f"the body took over {timeout:g} s ({size} bytes came)"
            ) from None

    # -- WebSocket ------------------------------------------------------------------------

    async def _refuse_socket(self, receive: Receive, send: Send, code: str, reason: str) -> None:
        """Accept only to say why: a socket closed before accept reaches the page as a
        bare 1006, which tells its developer nothing."""
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        await _close_socket(receive, send, Refusal(code, CLOSE_TOO_MANY, reason))

    def _observe_sent(self, text: str | None) -> bool:
        """Count a protocol message the endpoint sends (welcome, ack, error); True for
        the welcome. They are a few dozen bytes each: parsing them costs a microsecond."""
        if not text:
            return False
        try:
            message = json.loads(text)
        except ValueError:
            return False
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ack":
            self.metrics.ack()
        elif kind == "welcome":
            self.metrics.session("socket")
            return True
        elif kind == "error":
            self.metrics.refused(str(message.get("code")))
        return False

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        idle = self.limits.idle_timeout
        accepted = closed = False
        welcomed = False  # every frame after the welcome is a batch (docs/protocol.md)

        async def watched_send(message: Message) -> None:
            nonlocal accepted, closed, welcomed
            if closed:
                return  # closed for idleness: the application has not heard yet
            if message["type"] == "websocket.send":
                welcomed = self._observe_sent(message.get("text")) or welcomed
            elif message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close":
                closed = True
            await send(message)

        async def idle_receive() -> Message:
            nonlocal closed
            if not accepted or closed:
                return await receive()
            try:
                async with asyncio.timeout(idle):
                    message = await receive()
            except TimeoutError:
                pass
            else:
                if message["type"] == "websocket.receive":
                    frame = message.get("text") or message.get("bytes") or b""
                    self.metrics.received("socket", len(frame))
                    if welcomed:
                        self.metrics.batch()
                return message
            self.metrics.refused("idle_timeout")
            self._log("idle_timeout", f"a socket sent nothing for {idle:g} s")
            reason = f"nothing received for {idle:g} s; reconnect when there is more to send"
            closed = True
            await _close_socket(receive, send, Refusal("idle_timeout", CLOSE_IDLE, reason))
            return {"type": "websocket.disconnect", "code": CLOSE_IDLE}

        await self.app(scope, idle_receive, watched_send)
