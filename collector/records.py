"""Batches to sealed records and back: JSON → brotli → AES-256-GCM under the session DEK.

A record's plaintext is the batch message as it arrived, `{"type":"batch","seq":N,
"events":[...]}`: ingest seals the validated frame text without parsing it into objects
and serialising them again (docs/storage.md). Sits between ingest and the `Store`:
backends only ever see sealed bytes, and page paths the collector templated itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import brotli

from collector.crypto import DataKey, Keyring, record_aad
from collector.events import MetaEvent
from collector.exceptions import CorruptRecord
from collector.paths import NO_ROUTES, RouteTable, path_of, template_href, templated_pages
from collector.protocol import parse_batch_frame
from collector.rrweb import expand_event
from collector.store import MAX_PAGES_PER_SESSION, SealedBatch, SessionRecord, Store

META = 4  # rrweb's Meta event: the page's URL
BROTLI_QUALITY = 2  # measured: ~3x faster than 5, output ~12% larger (~11x on snapshots)


@dataclass(frozen=True)
class Compressed:
    """A validated batch, compressed but not sealed: all of the work that needs no key,
    so it may be done in another process (collector/ingest.py)."""

    seq: int
    event_count: int
    first_ts: int
    last_ts: int
    data: bytes
    # The paths of its Meta events' URLs as they arrived, for excluded routes: the worker
    # does not know the instance, so they are templated only in `seal`, before the index.
    paths: tuple[str, ...] = ()


def _paths(hrefs: list[object]) -> tuple[str, ...]:
    """The distinct paths of Meta events' URLs, in order, as they arrived."""
    return tuple(dict.fromkeys(p for p in map(path_of, hrefs) if p is not None))


def _pages(paths: tuple[str, ...], routes: RouteTable) -> tuple[str, ...]:
    # No more than the index keeps: a hostile 2 KB path of escapes takes 1 ms to template.
    return templated_pages(paths[:MAX_PAGES_PER_SESSION], routes)


def _compress(seq: int, plaintext: bytes, timestamps: list[int], hrefs: list[object]) -> Compressed:
    data = brotli.compress(plaintext, mode=brotli.MODE_TEXT, quality=BROTLI_QUALITY)
    return Compressed(seq, len(timestamps), min(timestamps), max(timestamps), data, _paths(hrefs))


def compress_frame(frame: str) -> Compressed:
    """Validate a batch frame (refusing it as `parse_batch_frame` does) and compress its
    text exactly as it arrived."""
    batch = parse_batch_frame(frame)
    hrefs: list[object] = [e.data.href for e in batch.events if isinstance(e, MetaEvent)]
    return _compress(batch.seq, frame.encode(), [event.timestamp for event in batch.events], hrefs)


def compress_batch(seq: int, events: list[dict[str, Any]]) -> Compressed:
    """Events held as objects (the beacon's batches), as a batch message."""
    message = {"type": "batch", "seq": seq, "events": events}
    plaintext = json.dumps(message, separators=(",", ":")).encode()
    hrefs = [e["data"].get("href") for e in events if e.get("type") == META]
    return _compress(seq, plaintext, [int(e["timestamp"]) for e in events], hrefs)


def seal(
    session: SessionRecord, dek: DataKey, batch: Compressed, *, routes: RouteTable = NO_ROUTES
) -> SealedBatch:
    """The record for the store, with its pages templated by the instance's `routes`
    (without them, by the vocabulary alone): the index never holds a path as received."""
    aad = record_aad(session.instance, session.session_id, batch.seq, dek.dek_id)
    sealed = dek.seal(batch.data, aad)
    pages = _pages(batch.paths, routes)
    return SealedBatch(batch.seq, batch.event_count, batch.first_ts, batch.last_ts, sealed, pages)


def seal_frame(
    session: SessionRecord, dek: DataKey, frame: str, *, routes: RouteTable = NO_ROUTES
) -> SealedBatch:
    return seal(session, dek, compress_frame(frame), routes=routes)


def seal_batch(
    session: SessionRecord,
    dek: DataKey,
    seq: int,
    events: list[dict[str, Any]],
    *,
    routes: RouteTable = NO_ROUTES,
) -> SealedBatch:
    return seal(session, dek, compress_batch(seq, events), routes=routes)


def open_batch(session: SessionRecord, dek: DataKey, batch: SealedBatch) -> list[dict[str, Any]]:
    aad = record_aad(session.instance, session.session_id, batch.seq, dek.dek_id)
    compressed = dek.open(batch.sealed, aad)
    try:
        message = json.loads(brotli.decompress(compressed))
    except (brotli.error, ValueError) as exc:
        raise CorruptRecord(f"record seq {batch.seq} does not decompress") from exc
    # Records written before the batch message was stored whole hold the bare array.
    events = message.get("events") if isinstance(message, dict) else message
    if not isinstance(events, list):
        raise CorruptRecord(f"record seq {batch.seq} is not a list of events")
    return events


def restored_batch(
    session: SessionRecord, dek: DataKey, seq: int, sealed: bytes, routes: RouteTable = NO_ROUTES
) -> SealedBatch:
    """`fsck`: a record's index row rebuilt from its contents (event count, timestamps,
    pages, templated by `routes`); CorruptRecord when it does not open under `dek` as
    this session's `seq` (the associated data binds both)."""
    events = open_batch(session, dek, SealedBatch(seq, 0, 0, 0, sealed))
    stamps = [e.get("timestamp") if isinstance(e, dict) else None for e in events]
    times = [t for t in stamps if isinstance(t, int) and not isinstance(t, bool)]
    if not events or len(times) != len(events):
        raise CorruptRecord(f"record seq {seq} holds an event without a timestamp")
    hrefs: list[object] = [
        e["data"].get("href")
        for e in events
        if e.get("type") == META and isinstance(e.get("data"), dict)
    ]
    pages = _pages(_paths(hrefs), routes)
    return SealedBatch(seq, len(events), min(times), max(times), sealed, pages)


def read_session(
    store: Store, keyring: Keyring, session_id: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Every stored event of a session, in order, as (seq, event)."""
    session = store.get_session(session_id)
    dek = keyring.unwrap(session.wrapped_key, session.instance, session.session_id)
    for batch in store.read_batches(session_id):
        for event in open_batch(session, dek, batch):
            yield batch.seq, event


def shown_event(event: dict[str, Any], routes: RouteTable) -> dict[str, Any]:
    """A stored event as export and replay show it: in rrweb's shape, and a Meta event's
    URL templated by the collector (`routes`: the session's instance's), whatever the
    recorder sent."""
    data = event.get("data")
    if event.get("type") == META and isinstance(data, dict):
        event = {**event, "data": {**data, "href": template_href(data.get("href"), routes)}}
    return expand_event(event)


def shown_session(
    store: Store, keyring: Keyring, session_id: str, routes: RouteTable
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`read_session`, each event as `shown_event` makes it."""
    for seq, event in read_session(store, keyring, session_id):
        yield seq, shown_event(event, routes)
