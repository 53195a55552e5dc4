"""The `/v1/ingest` WebSocket endpoint: handshake, validation, durable append, ack.

One refusal closes one socket: it never reaches other sessions. Logs name sessions and
error codes, never payloads, app keys or user names.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import multiprocessing
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sized
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from collector.config import InstanceConfig, Settings
from collector.crypto import DataKey, Keyring
from collector.exceptions import Refusal, StorageFull
from collector.exclusions import ExcludedRoutes
from collector.frames import OVERSIZE, cap_frames
from collector.instances import InstanceRegistry
from collector.limits import AddressBuckets, MemoryBudget, TokenBucket
from collector.origins import OriginPattern, origin_allowed
from collector.paths import RouteTable, path_of, template_path
from collector.protocol import (
    BUSY_REASON,
    CLOSE_CONFLICT,
    CLOSE_DISABLED,
    CLOSE_INTERNAL,
    CLOSE_ORIGIN,
    CLOSE_POLICY,
    CLOSE_RATE_LIMITED,
    CLOSE_RESTART,
    CLOSE_TOO_LARGE,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORISED,
    FRAME_HEAD,
    HTTP_STATUS,
    MAX_SEQ_AHEAD,
    Hello,
    close_reason,
    decode,
    decode_beacon,
    error_message,
    parse_batch,
    parse_hello,
    seq_of_head,
    text_of,
    until_disconnect,
)
from collector.records import (
    META,
    Compressed,
    compress_batch,
    compress_frame,
    seal,
)
from collector.store import SessionRecord, Store

log = logging.getLogger("phi_replay.ingest")

SHUTTING_DOWN = "shutting_down"  # the refusal a drain sends: reconnect (to this or a peer)


@dataclass(frozen=True)
class Instances:
    """App key → instance, and every Origin any instance admits."""

    by_key: dict[str, InstanceConfig]
    origins: dict[str, tuple[OriginPattern, ...]]

    @classmethod
    def build(cls, instances: tuple[InstanceConfig, ...]) -> Instances:
        by_key = {key: inst for inst in instances for key in inst.app_keys}
        origins = {inst.name: inst.origin_patterns() for inst in instances}
        return cls(by_key, origins)

    def any_allows(self, origin: str | None) -> bool:
        return any(origin_allowed(origin, p) for p in self.origins.values())


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Validating a snapshot makes tens of thousands of short-lived objects and no cycles.
    With the cyclic GC running, its young collections promote them into the oldest
    generation, whose collections then walk every object of every open connection
    (measured: 40% of the CPU at 1,000 sessions). Paused, they are freed by refcount."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _compress(frame: str) -> Compressed:
    """Validate and compress a batch frame; its parsed events are freed on return, before
    the GC runs again."""
    with _gc_paused():
        return compress_frame(frame)


# -- validation workers ------------------------------------------------------------------
# A ~300 KB snapshot takes the event loop 10-15 ms to validate and compress, during which
# no other socket is served; thousands of sessions starting at once are thousands of
# them. Frames that long go to worker processes, which also puts the machine's other
# cores to work. Only the validated, compressed bytes come back; sealing stays here, so
# no data key leaves the collector's process. Small batches stay on the loop: for them
# the round trip would cost more than the work.

OFFLOAD_AT = 64 * 1024  # frames at least this long are validated in a worker process
T = TypeVar("T", bound=Sized)  # what a worker validates: a frame or a beacon body
R = TypeVar("R")
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies

RefusalFields = tuple[str, int, str, int | None]  # a Refusal's fields: it pickles badly


def _compress_in_worker(frame: str) -> Compressed | RefusalFields:
    try:
        return _compress(frame)
    except Refusal as refusal:
        return _fields(refusal)


@dataclass(frozen=True)
class CheckedBeacon:
    """A beacon body, validated and its batches compressed. A refused batch is kept
    apart, to be raised only once the hello is authorised: a beacon with a wrong app key
    is `unauthorised` whatever its batches hold."""

    hello: Hello
    batches: tuple[Compressed, ...] = ()
    refused: RefusalFields | None = None


def check_beacon(body: bytes) -> CheckedBeacon:
    with _gc_paused():
        message = decode_beacon(body)
        hello = parse_hello(message["hello"])
        try:
            batches = [compress_batch(parse_batch(b).seq, b["events"]) for b in message["batches"]]
        except Refusal as refusal:
            return CheckedBeacon(hello, refused=_fields(refusal))
    return CheckedBeacon(hello, tuple(batches))


def _check_beacon_in_worker(body: bytes) -> CheckedBeacon | RefusalFields:
    try:
        return check_beacon(body)
    except Refusal as refusal:
        return _fields(refusal)


def _fields(refusal: Refusal) -> RefusalFields:
    return (refusal.code, refusal.close_code, refusal.reason, refusal.seq)


def _prctl() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _start_worker(parent: int) -> None:
    """A worker dies with the collector, even under kill -9 (or it would wait forever for
    work), and leaves Ctrl-C and SIGTERM to it: systemd signals every process of the
    service, and a worker gone mid-drain would break the frames it was validating."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _prctl()(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the collector died before prctl took effect
        os._exit(0)
    gc.freeze()


def start_workers(count: int) -> ProcessPoolExecutor | None:
    """Fork `count` validation workers, or None. Call it before the process has any thread
    or key: the workers are forked from it, at once (no spawn that a kill -9 could catch
    half-way), and so hold no copy of a key."""
    if count < 1:
        return None
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or a worker would write the buffered text again when it exits
    pool = ProcessPoolExecutor(
        count,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        for started in [pool.submit(gc.collect) for _ in range(count)]:
            started.result(timeout=30)
    except (OSError, BrokenProcessPool, TimeoutError) as exc:
        log.error("validation workers failed to start: %s", type(exc).__name__)
        pool.shutdown(wait=False, cancel_futures=True)
        return None
    log.info("%d validation worker(s) for frames of %d bytes or more", count, OFFLOAD_AT)
    return pool


def worker_count() -> int:
    """One worker per core beyond the event loop's; none where prctl is missing."""
    if _prctl() is None:
        return 0
    return len(os.sched_getaffinity(0)) - 1


def _storage_full() -> Refusal:
    # The store's own message names the data directory: for the log, not for browsers.
    return Refusal("storage_full", CLOSE_TRY_AGAIN, "the collector's storage is full; retry later")


# -- sessions held by a live socket -------------------------------------------------------
# A session is written by one page at a time. A reload opens its socket before the
# collector may have seen the old page's close, so a second page waits HANDOVER_SECONDS for
# the first to go; one still there then (a duplicated tab) is refused as `session_in_use`
# and its recorder starts its own session. The same page reconnecting (its `page_id`)
# takes over at once: its old socket is one the network lost. So does a hello without a
# `page_id` (a recorder from before it): refusing it would leave that recorder retrying
# until the lost socket timed out.

HANDOVER_SECONDS = 2.0


@dataclass
class _Holder:
    page_id: str | None
    ended: asyncio.Event = field(default_factory=asyncio.Event)


EXCLUDED_TAG = "phi-replay.excluded"  # stands in for events the collector dropped


class RouteState:
    """Defence in depth for excluded routes: the recorder captures nothing on them, and
    the collector drops whatever arrives from one anyway. A session's route is the path of
    its latest Meta event; events from a Meta on an excluded path up to the next Meta on
    an allowed one are dropped. A batch left with nothing becomes one `phi-replay.excluded`
    Custom event, so that its seq stays acknowledged and the session has no gap.

    A path is excluded when it matches as it arrived or as the collector templates it
    (`routes`, the instance's): exclusion only ever drops data, so either is enough. The
    path as it arrived catches a glob on a segment outside the vocabulary
    (`/volunteer-portal/**`) from a recorder that sent it; the templated one, a glob
    written on the template (`/studies/:id/consent`)."""

    def __init__(self, excluded: ExcludedRoutes, routes: RouteTable) -> None:
        self.excluded = excluded
        self.routes = routes
        self.inside = False

    def _excluded(self, path: str) -> bool:
        return self.excluded.excluded(path) or self.excluded.excluded(
            template_path(path, self.routes)
        )

    def affects(self, compressed: Compressed) -> bool:
        """Whether the batch must be parsed again and looked at event by event: only while
        on an excluded route or when one of its Meta paths is excluded. Outside, with every
        path allowed, nothing is dropped and the route stays allowed, so a snapshot batch
        is not parsed twice."""
        if not self.excluded:
            return False
        return self.inside or any(self._excluded(path) for path in compressed.paths)

    def filter_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for event in events:
            if event.get("type") == META:
                path = path_of(event.get("data", {}).get("href"))
                self.inside = path is not None and self._excluded(path)
            if not self.inside:
                kept.append(event)
        if kept or not events:
            return kept
        marker = {"tag": EXCLUDED_TAG, "payload": {"dropped": len(events)}}
        return [{"type": 5, "data": marker, "timestamp": events[-1]["timestamp"]}]

    def filter(self, frame: str, compressed: Compressed) -> Compressed:
        message = decode(frame)  # validated already: this cannot refuse it
        events = message["events"]
        kept = self.filter_events(events)
        if kept == events:
            return compressed
        log.info("ingest dropped %d event(s) from an excluded route", len(events) - len(kept))
        return compress_batch(compressed.seq, kept)


BEACON_TOKEN_BYTES = 64 * 1024  # a beacon costs one token, and one more per 64 KiB of body


def _refusal(fields: RefusalFields) -> Refusal:
    code, close_code, reason, seq = fields
    return Refusal(code, close_code, reason, seq=seq)


def _check_seq(seq: int, next_seq: int) -> None:
    if seq > next_seq + MAX_SEQ_AHEAD:
        raise Refusal(
            "seq_out_of_range",
            CLOSE_POLICY,
            f"seq is more than {MAX_SEQ_AHEAD} past the session's next seq {next_seq}",
            seq=seq,
        )


SHOWN_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]{0,15}://[A-Za-z0-9.\[\]:_-]{1,100}")


def shown_origin(origin: str | None) -> str:
    """An Origin header as it may appear in a reason or a log line. It is not PHI but
    the client chose it: only a plain scheme://host[:port] is repeated, anything else
    (control characters, paths, an absurd length) is named by its shape alone."""
    if origin is None:
        return "(no Origin header)"
    if SHOWN_ORIGIN.fullmatch(origin):
        return origin
    return f"(an Origin header that is not a plain origin, {len(origin)} characters)"


def _origin_refusal(origin: str | None, instance: str | None) -> Refusal:
    shown = shown_origin(origin)
    where = f"instance {instance}" if instance else "any instance"
    return Refusal(
        "origin_not_allowed",
        CLOSE_ORIGIN,
        f"origin {shown} is not allowed for {where}; add it to allowed_origins",
        log_detail=f" origin={shown} instance={instance or '-'}",
    )


class Ingest:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        keyring: Keyring,
        registry: InstanceRegistry,
        workers: ProcessPoolExecutor | None = None,
        *,
        budget: MemoryBudget | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.keyring = keyring
        self.registry = registry
        self._built: tuple[tuple[InstanceConfig, ...], Instances] | None = None
        self._workers = workers  # validation workers (start_workers), or the loop validates
        self._holders: dict[str, _Holder] = {}  # session id → the page whose socket writes it
        self._beacons = AddressBuckets(settings.beacons_per_second, settings.beacon_burst)
        cap_frames(settings.max_message_bytes, budget or MemoryBudget(settings.max_buffered_bytes))
        # Shutdown (drain): set once; every socket then finishes the batch it is storing,
        # acks it and is closed with 1012, and `_live` (the open handlers) runs empty.
        # Plain futures made on the loop that waits, never an asyncio.Event made here:
        # an Ingest outlives event loops (starlette's TestClient runs one per client).
        self._draining = False
        self._drain_waiters: set[asyncio.Future[None]] = set()
        self._live: set[asyncio.Task[Any]] = set()
        self._idle: asyncio.Event | None = None

    @property
    def instances(self) -> Instances:
        """App keys and Origins as configured now (console edits apply to new sockets)."""
        current = self.registry.current()
        built = self._built
        if built is None or built[0] is not current:
            built = self._built = (current, Instances.build(current))
        return built[1]

    def stop_workers(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)
            self._workers = None

    async def _validate(self, frame: str) -> Compressed:
        return await self._offload(frame, _compress, _compress_in_worker, Compressed)

    async def _check_beacon(self, body: bytes) -> CheckedBeacon:
        return await self._offload(body, check_beacon, _check_beacon_in_worker, CheckedBeacon)

    async def _offload(
        self,
        data: T,
        check: Callable[[T], R],
        in_worker: Callable[[T], R | RefusalFields],
        result: type[R],
    ) -> R:
        """`check(data)` here for small data, else `in_worker(data)` in a validation
        worker (the same check, its refusal returned as fields: a Refusal pickles badly).
        A worker that died leaves the event loop to validate from then on."""
        pool = self._workers
        if pool is None or len(data) < OFFLOAD_AT:
            return check(data)
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(pool, in_worker, data)
        except BrokenProcessPool:
            log.error("a validation worker died; validating on the event loop from now on")
            self.stop_workers()
            return check(data)
        if isinstance(outcome, result):
            return outcome
        raise _refusal(cast(RefusalFields, outcome))

    @property
    def live_sockets(self) -> int:
        return len(self._live)

    async def drain(self, timeout: float) -> int:
        """Close every socket once the batch it is storing is acked; return how many
        sockets were still open after `timeout` seconds (0 when all closed in time)."""
        self._draining = True
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self._live:
            self._idle = asyncio.Event()
            with anyio.move_on_after(timeout):
                await self._idle.wait()
        return len(self._live)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        self._live.add(task)

        def done(task: asyncio.Task[Any]) -> None:
            self._live.discard(task)
            if not self._live and self._idle is not None:
                self._idle.set()

        task.add_done_callback(done)

    async def _next_message(self, websocket: WebSocket) -> Message:
        """`websocket.receive()`, unless a drain begins first: a frame that arrived is
        still stored and acked; one that did not is the recorder's to resend."""
        if not self._draining:
            draining: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._drain_waiters.add(draining)
            receiving = asyncio.ensure_future(websocket.receive())
            try:
                await asyncio.wait((receiving, draining), return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._drain_waiters.discard(draining)
                if not receiving.done():
                    receiving.cancel()
            if receiving.done() and not receiving.cancelled():
                return receiving.result()
        raise Refusal(
            SHUTTING_DOWN, CLOSE_RESTART, "the collector is shutting down; reconnect and resend"
        )

    async def __call__(self, websocket: WebSocket) -> None:
        self._track()
        origin = websocket.headers.get("origin")
        # Accepted even from an Origin no instance admits, to say so: refused before
        # accept, the browser shows only close code 1006. The socket carries no cookie or
        # credential, so accepting it grants nothing; the refusal follows at once.
        await websocket.accept()
        session_id = None
        holder = None
        try:
            if not self.instances.any_allows(origin):
                raise _origin_refusal(origin, None)
            session, dek, instance, holder = await self._handshake(websocket, origin)
            session_id = session.session_id
            await self._receive_batches(websocket, session, dek, instance)
        except Refusal as refusal:
            if refusal.code != SHUTTING_DOWN:  # the server logs the drain as one line
                log.info(
                    "ingest refused session=%s code=%s%s",
                    session_id or "-",
                    refusal.code,
                    refusal.log_detail,
                )
            await self._refuse(websocket, refusal)
        except WebSocketDisconnect:
            pass
        except StorageFull as exc:
            log.warning("ingest refused session=%s code=storage_full: %s", session_id or "-", exc)
            await self._refuse(websocket, _storage_full())
        except Exception as exc:  # never let one socket take the collector down
            log.error("ingest failed session=%s error=%s", session_id or "-", type(exc).__name__)
            await self._refuse(
                websocket, Refusal("internal", CLOSE_INTERNAL, "the collector could not store it")
            )
        finally:
            if holder is not None and session_id is not None:
                self._release(session_id, holder)

    async def _receive(self, websocket: WebSocket) -> str | bytes | None:
        """The next frame, within the size limit."""
        message = await self._next_message(websocket)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        frame = message.get("text")
        if frame is None:
            frame = message.get("bytes")
        oversize = message.get(OVERSIZE)
        limit = self.settings.max_message_bytes
        if isinstance(oversize, dict) and oversize.get("busy"):
            raise Refusal(
                "busy",
                CLOSE_TRY_AGAIN,
                BUSY_REASON,
                seq=seq_of_head(str(oversize["head"])),
            )
        if isinstance(oversize, dict):  # _CappedFrames kept only its size and first characters
            # The size is a lower bound: an inflated frame's excess is not counted.
            raise Refusal(
                "too_large",
                CLOSE_TOO_LARGE,
                f"frame of at least {int(oversize['size'])} bytes is over the limit of {limit}",
                seq=seq_of_head(str(oversize["head"])),
            )
        size = len(frame) if frame is not None else 0
        if size > limit:
            head = frame[:FRAME_HEAD] if isinstance(frame, str) else ""
            raise Refusal(
                "too_large",
                CLOSE_TOO_LARGE,
                f"frame of {size} bytes is over the limit of {limit}",
                seq=seq_of_head(head),
            )
        return frame

    async def _hold(self, session_id: str, page_id: str | None) -> _Holder:
        """Make this page the session's writer (see HANDOVER_SECONDS), or refuse."""
        held = self._holders.get(session_id)
        if held is not None and page_id is not None and held.page_id != page_id:
            with anyio.move_on_after(HANDOVER_SECONDS):
                await held.ended.wait()
            held = self._holders.get(session_id)
            if held is not None and held.page_id != page_id:
                raise Refusal(
                    "session_in_use",
                    CLOSE_CONFLICT,
                    "another page is recording this session; start a new session",
                )
        mine = self._holders[session_id] = _Holder(page_id)
        return mine

    def _release(self, session_id: str, holder: _Holder) -> None:
        if self._holders.get(session_id) is holder:
            del self._holders[session_id]
        holder.ended.set()

    async def _handshake(
        self, websocket: WebSocket, origin: str | None
    ) -> tuple[SessionRecord, DataKey, InstanceConfig, _Holder]:
        with anyio.move_on_after(self.settings.hello_timeout_seconds) as scope:
            frame = await self._receive(websocket)
        if scope.cancelled_caught:
            raise Refusal("protocol", CLOSE_POLICY, "expected a hello within the time limit")
        hello = parse_hello(decode(frame))
        instance = self._authorise(hello, origin)
        session, dek = await self._open_session(instance, hello)
        holder = await self._hold(session.session_id, hello.page_id)
        welcome: dict[str, Any] = {
            "type": "welcome",
            "session_id": session.session_id,
            "next_seq": session.next_seq,
        }
        rules = instance.remote_rules()
        if rules:
            welcome["config"] = rules
        try:
            await websocket.send_json(welcome)
        except BaseException:  # gone while waiting for the handover: hold nothing
            self._release(session.session_id, holder)
            raise
        log.info(
            "ingest session=%s instance=%s next_seq=%d",
            session.session_id,
            instance.name,
            session.next_seq,
        )
        return session, dek, instance, holder

    def _authorise(self, hello: Hello, origin: str | None) -> InstanceConfig:
        instance = self.instances.by_key.get(hello.app_key)
        if instance is None:
            raise Refusal("unauthorised", CLOSE_UNAUTHORISED, "unknown or revoked app key")
        if not origin_allowed(origin, self.instances.origins[instance.name]):
            raise _origin_refusal(origin, instance.name)
        why = instance.refusal(hello.environment, datetime.now(UTC).date())
        if why is not None:
            # Both names are safe to repeat: the instance's is configuration, and an
            # environment is a short [a-z0-9_-] word (protocol.Hello).
            raise Refusal(
                "disabled",
                CLOSE_DISABLED,
                f"instance {instance.name}, environment {hello.environment}: {why}",
                log_detail=f" instance={instance.name} environment={hello.environment}",
            )
        return instance

    async def _open_session(
        self, instance: InstanceConfig, hello: Hello
    ) -> tuple[SessionRecord, DataKey]:
        fresh = DataKey.generate()
        wanted = SessionRecord(
            session_id=hello.session_id,
            instance=instance.name,
            user=hello.user,
            environment=hello.environment,
            tab_id=hello.tab_id,
            started_at=0.0,
            wrapped_key=self.keyring.wrap(fresh, instance.name, hello.session_id),
        )
        session = await self.store.open_session(wanted)
        if session.instance != instance.name:
            # Session ids are chosen by clients: never let one instance write into another's.
            raise Refusal("unauthorised", CLOSE_UNAUTHORISED, "session belongs to another instance")
        # A session is bound to the user and tab that started it: a session id alone (it
        # shows in logs and URLs) must not let anyone add to someone else's recording.
        if session.user != hello.user:
            raise Refusal("session_mismatch", CLOSE_CONFLICT, "session was started by another user")
        if session.tab_id != hello.tab_id:
            raise Refusal("session_mismatch", CLOSE_CONFLICT, "session was started by another tab")
        if session.wrapped_key == wanted.wrapped_key:
            return session, fresh
        dek = self.keyring.unwrap(session.wrapped_key, session.instance, session.session_id)
        return session, dek

    async def _receive_batches(
        self, websocket: WebSocket, session: SessionRecord, dek: DataKey, instance: InstanceConfig
    ) -> None:
        bucket = TokenBucket(self.settings.batches_per_second, self.settings.batch_burst)
        routes = instance.route_table()
        route = RouteState(ExcludedRoutes(instance.exclude_routes), routes)
        next_seq = session.next_seq
        while True:
            frame = text_of(await self._receive(websocket))
            if not bucket.take():
                raise Refusal(
                    "rate_limited",
                    CLOSE_RATE_LIMITED,
                    f"more than {self.settings.batches_per_second:g} batches per second;"
                    " reconnect later",
                )
            compressed = await self._validate(frame)
            _check_seq(compressed.seq, next_seq)
            if route.affects(compressed):
                compressed = route.filter(frame, compressed)
            sealed = seal(session, dek, compressed, routes=routes)
            await self.store.append(session.session_id, sealed)
            next_seq = max(next_seq, sealed.seq + 1)
            await websocket.send_json({"type": "ack", "seq": sealed.seq})

    async def beacon(self, request: Request) -> Response:
        """`POST /v1/beacon`: the tail of a session sent by `navigator.sendBeacon` on page
        hide. Same checks, dedupe and durability as the socket; all or nothing."""
        origin = request.headers.get("origin")
        address = request.client.host if request.client else "-"
        session_id = None
        try:
            if not self.instances.any_allows(origin):
                raise _origin_refusal(origin, None)
            if not self._beacons.take(address):
                raise self._beacon_limit()
            body = await self._read_body(request)
            if not self._beacons.take(address, len(body) // BEACON_TOKEN_BYTES):
                raise self._beacon_limit()
            checked = await self._check_beacon(body)
            instance = self._authorise(checked.hello, origin)
            if checked.refused is not None:
                raise _refusal(checked.refused)
            session, dek = await self._open_session(instance, checked.hello)
            session_id = session.session_id
            routes = instance.route_table()
            route = RouteState(ExcludedRoutes(instance.exclude_routes), routes)
            next_seq = session.next_seq
            batches = checked.batches
            for index, compressed in enumerate(batches):
                _check_seq(compressed.seq, next_seq)
                if route.affects(compressed):  # rare: the events are needed again
                    events = decode_beacon(body)["batches"][index]["events"]
                    compressed = compress_batch(compressed.seq, route.filter_events(events))
                sealed = seal(session, dek, compressed, routes=routes)
                await self.store.append(session.session_id, sealed)
                next_seq = max(next_seq, sealed.seq + 1)
        except Refusal as refusal:
            log.info(
                "beacon refused session=%s code=%s%s",
                session_id or "-",
                refusal.code,
                refusal.log_detail,
            )
            return JSONResponse(error_message(refusal), status_code=HTTP_STATUS[refusal.code])
        except StorageFull as exc:
            log.warning("beacon refused session=%s code=storage_full: %s", session_id or "-", exc)
            return JSONResponse(
                error_message(_storage_full()), status_code=HTTP_STATUS["storage_full"]
            )
        except Exception as exc:
            log.error("beacon failed session=%s error=%s", session_id or "-", type(exc).__name__)
            failed = Refusal("internal", CLOSE_INTERNAL, "the collector could not store it")
            return JSONResponse(error_message(failed), status_code=500)
        log.info("beacon session=%s batches=%d", session_id, len(batches))
        return Response(status_code=204)

    def _beacon_limit(self) -> Refusal:
        return Refusal(
            "rate_limited",
            CLOSE_RATE_LIMITED,
            f"more than {self.settings.beacons_per_second:g} beacons per second from this"
            " address; retry later",
        )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.settings.max_message_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refusal("too_large", CLOSE_TOO_LARGE, f"body over the limit of {limit}")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _refuse(self, websocket: WebSocket, refusal: Refusal) -> None:
        if websocket.application_state != WebSocketState.CONNECTED:
            return
        try:
            await websocket.send_json(error_message(refusal))
            await websocket.close(code=refusal.close_code, reason=close_reason(refusal))
            await until_disconnect(websocket.receive)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the client already went away
