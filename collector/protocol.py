"""Ingest wire messages (docs/protocol.md) and their parsing into typed values.

Parsing never echoes input: error reasons carry field paths and pydantic's message
(which states what was expected), not the values that arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from collector.events import Event
from collector.exceptions import Refusal

PROTOCOL_VERSION = 1
MAX_EVENTS_PER_BATCH = 5000  # a full snapshot is one event; 5k bounds memory per frame
ONE_PASS_BELOW = 64 * 1024  # frames shorter than this validate straight from the text

# Close codes (RFC 6455 and the 4000-4999 private range); see docs/protocol.md.
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY = 1008
CLOSE_TOO_LARGE = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013  # RFC 6455 "Try Again Later": the collector's storage is full
CLOSE_RESTART = 1012  # "service restart" (RFC 6455 registry): the collector is shutting down
CLOSE_UNAUTHORISED = 4001
CLOSE_ORIGIN = 4003
CLOSE_DISABLED = 4004  # the instance or environment is not recording (configuration)
CLOSE_CONFLICT = 4009  # the session is another tab's, user's or page's: start a new one
CLOSE_RATE_LIMITED = 4029  # more batches than the per-connection limit allows
# Refused by collector/http_limits.py, for every WebSocket route alike.
CLOSE_TOO_MANY = 4029  # too_many_connections: back off like rate_limited (HTTP 429)
CLOSE_IDLE = 4008  # idle_timeout: nothing received for idle_timeout_seconds (HTTP 408)

# How far a batch's seq may run ahead of the session's `next_seq`. A recorder's seqs run
# ahead only by batches it numbered but the collector never made durable: its bounded
# buffer (5 MB by default) holds at most ~60,000 of the smallest batches. Without a bound
# one batch of seq 2**53 would leave the real recorder no seq to write with.
MAX_SEQ_AHEAD = 100_000

Ident = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Message):
    type: Literal["hello"]
    v: Literal[1]
    app_key: Annotated[str, Field(min_length=1, max_length=200)]
    session_id: Ident
    tab_id: Ident
    user: Annotated[str, Field(max_length=200)] = ""
    environment: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")] = "default"
    # One per loaded page (document): a reconnect of the same page takes its session over,
    # another page (a duplicated tab, which copies sessionStorage) may not.
    page_id: Ident | None = None

    def __repr__(self) -> str:
        return f"Hello(session_id={self.session_id!r}, app_key=[secure], user=[secure])"


class Batch(_Message):
    type: Literal["batch"]
    seq: Annotated[int, Field(ge=1, le=2**53)]
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)]


_KINDS = ("hello", "batch")
_hello = TypeAdapter(Hello)
_batch = TypeAdapter(Batch)


def _field_names(model: type[BaseModel], seen: set[str]) -> set[str]:
    """Every field name in the schema: the only strings an error path may repeat."""
    for name, info in model.model_fields.items():
        seen.add(name)
        for arg in _walk_types(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg.__name__ not in seen:
                seen.add(arg.__name__)
                _field_names(arg, seen)
    return seen


def _walk_types(annotation: object) -> list[object]:
    out = [annotation]
    for arg in getattr(annotation, "__args__", ()) + getattr(annotation, "__metadata__", ()):
        out.extend(_walk_types(arg))
    origin = getattr(annotation, "__origin__", None)
    if origin is not None:
        out.extend(_walk_types(origin))
    return out


_KNOWN_NAMES = frozenset(_field_names(Hello, set()) | _field_names(Batch, set()))


def _reason(prefix: str, exc: ValidationError) -> str:
    first = exc.errors(include_input=False, include_url=False)[0]
    # Paths may hold dict keys from the page (attribute names): show only schema names.
    parts = [str(p) if isinstance(p, int) or p in _KNOWN_NAMES else "<key>" for p in first["loc"]]
    msg = first["msg"]
    if first["type"] == "union_tag_invalid":  # pydantic's message repeats the input tag
        msg = f"unknown tag; expected one of {first.get('ctx', {}).get('expected_tags', '?')}"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{prefix}: {'.'.join(parts) or '(message)'}: {msg}{more}"


def text_of(frame: str | bytes | None) -> str:
    """Frames are UTF-8 JSON text; a binary frame is refused."""
    if not isinstance(frame, str):
        raise Refusal(
            "malformed_json", CLOSE_INVALID_DATA, "expected a JSON text frame, got binary"
        )
    return frame


def too_deep() -> Refusal:
    return Refusal("malformed_json", CLOSE_INVALID_DATA, "JSON nested too deeply")


# A recorder's batch frame begins `{"type":"batch","seq":N,`: enough to name the seq of a
# frame too large to be kept, so that the recorder knows which batch never to resend.
_HEAD_SEQ = re.compile(r'\s*\{\s*"type"\s*:\s*"batch"\s*,\s*"seq"\s*:\s*([1-9][0-9]{0,15})[\s,}]')
FRAME_HEAD = 64  # characters of an oversize frame kept for `seq_of_head`


def seq_of_head(head: str) -> int | None:
    """The seq a batch frame starts with, if it starts as the recorder's do."""
    found = _HEAD_SEQ.match(head)
    return int(found.group(1)) if found and int(found.group(1)) <= 2**53 else None


def decode(frame: str | bytes | None) -> dict[str, Any]:
    """Turn one WebSocket frame into a JSON object, or refuse it."""
    frame = text_of(frame)
    try:
        message = json.loads(frame)
    except json.JSONDecodeError as exc:
        raise Refusal(
            "malformed_json",
            CLOSE_INVALID_DATA,
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
        ) from None
    except RecursionError:  # json.loads gives up on deep nesting: the input's fault
        raise too_deep() from None
    if not isinstance(message, dict):
        raise Refusal(
            "malformed_json",
            CLOSE_INVALID_DATA,
            f"expected a JSON object, got {type(message).__name__}",
        )
    kind = message.get("type")
    if kind not in _KINDS:
        shown = "no type" if kind is None else f"a {type(kind).__name__}"
        if isinstance(kind, str) and kind.isidentifier() and len(kind) <= 32:
            shown = repr(kind)  # a short identifier names a message kind, not data
        raise Refusal(
            "unknown_type", CLOSE_POLICY, f"expected message type hello or batch, got {shown}"
        )
    return message


MAX_BEACON_BATCHES = 100  # a beacon carries a page's unacknowledged tail, not a session

# A beacon's refusal is an HTTP status; the JSON body carries the same code as the socket.
HTTP_STATUS = {
    "malformed_json": 400,
    "unknown_type": 400,
    "protocol": 400,
    "invalid_batch": 400,
    "unauthorised": 401,
    "origin_not_allowed": 403,
    "disabled": 403,
    "too_large": 413,
    "session_mismatch": 409,
    "session_in_use": 409,
    "seq_out_of_range": 400,
    "rate_limited": 429,
    "internal": 500,
    "storage_full": 503,
    "busy": 503,
}


def decode_beacon(body: bytes) -> dict[str, Any]:
    """A beacon body: `{"hello": {...}, "batches": [{"type": "batch", ...}, ...]}`."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Refusal("malformed_json", CLOSE_INVALID_DATA, "expected a JSON body") from None
    except RecursionError:
        raise too_deep() from None
    if not isinstance(message, dict) or set(message) != {"hello", "batches"}:
        raise Refusal("protocol", CLOSE_POLICY, "expected an object with hello and batches")
    hello, batches = message["hello"], message["batches"]
    if not isinstance(hello, dict) or hello.get("type", "hello") != "hello":
        raise Refusal("protocol", CLOSE_POLICY, "expected hello to be a hello object")
    if not isinstance(batches, list) or not 1 <= len(batches) <= MAX_BEACON_BATCHES:
        raise Refusal("protocol", CLOSE_POLICY, f"expected 1 to {MAX_BEACON_BATCHES} batches")
    if not all(isinstance(b, dict) for b in batches):
        raise Refusal("protocol", CLOSE_POLICY, "expected every batch to be an object")
    message["hello"] = {**hello, "type": "hello"}  # the recorder sends it; allowed to omit
    return message


def parse_hello(message: dict[str, Any]) -> Hello:
    if message.get("type") != "hello":
        raise Refusal("protocol", CLOSE_POLICY, "expected a hello message first")
    try:
        return _hello.validate_python(message)
    except ValidationError as exc:
        raise Refusal("protocol", CLOSE_POLICY, _reason("invalid hello", exc)) from None


def parse_batch(message: dict[str, Any]) -> Batch:
    if message.get("type") != "batch":
        raise Refusal("protocol", CLOSE_POLICY, "expected a batch; hello was already received")
    seq = message.get("seq")
    try:
        return _batch.validate_python(message)
    except ValidationError as exc:
        raise Refusal(
            "invalid_batch",
            CLOSE_POLICY,
            _reason("invalid batch", exc),
            seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        ) from None


def parse_batch_frame(frame: str) -> Batch:
    """A batch from its frame text, by the faster of two routes (measured on synthetic
    batches, bench/collector.py): a ~2 KB batch validates about twice as fast in one pass
    of pydantic's JSON parser as through `json.loads` first; a ~300 KB snapshot, whose
    node trees are checked in Python, about 1.7x faster through `json.loads`.

    A frame refused by the one-pass route goes through `decode` and `parse_batch` too, so
    that every refusal keeps its code and reason, and where the two parsers differ
    (`json.loads` also takes NaN and Infinity) the older, more lenient route decides.
    """
    if len(frame) < ONE_PASS_BELOW:
        try:
            return _batch.validate_json(frame)
        except ValidationError:
            pass
    return parse_batch(decode(frame))  # decode refuses nesting too deep for json.loads


def error_message(refusal: Refusal) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "error", "code": refusal.code, "reason": refusal.reason}
    if refusal.seq is not None:
        out["seq"] = refusal.seq
    return out


# The reason of `busy`, on the socket and over HTTP: MemoryBudget is spent.
BUSY_REASON = (
    "the collector holds as much incoming data as it may (max_buffered_bytes); retry later"
)

# After the collector's close frame, how long the client gets to answer it.
CLOSE_WAIT_SECONDS = 5.0


async def until_disconnect(receive: Callable[[], Awaitable[Mapping[str, Any]]]) -> None:
    """After our close, read on until the client's (at most CLOSE_WAIT_SECONDS): hypercorn
    queues at most 10 frames for the application, and a client still sending would fill
    that queue, so that its disconnect could never be delivered and the connection (and,
    on shutdown, the drain) would hang until the peer gave up."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(CLOSE_WAIT_SECONDS):
            while (await receive())["type"] != "websocket.disconnect":
                pass


def close_reason(refusal: Refusal) -> str:
    """The close frame's reason is limited to 123 bytes of UTF-8."""
    data = refusal.reason.encode()
    return refusal.reason if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."
