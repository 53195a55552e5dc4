"""Embedded store: one append-only segment file per session plus a SQLite index.

    DATA_DIR/index.sqlite3          sessions and batches (offsets, counts), WAL mode
    DATA_DIR/segments/<h>/<id>.seg  "PHIRSEG1", then records (<h>: 2 hex of sha256(id))

Each record is a 16-byte header `>IIQ` (body length, CRC-32 of body, seq) and the body
(the sealed batch). A batch is acknowledged only after its record is fsynced and its
index row committed; on open, segment bytes past the last indexed record (a torn or
unacknowledged tail) are cut. See docs/storage.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import queue
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from collector.crypto import WrappedKey
from collector.exceptions import CorruptRecord, PhiReplayError, UnknownSession
from collector.store import SealedBatch, SessionRecord

SEGMENT_MAGIC = b"PHIRSEG1"
HEADER = struct.Struct(">IIQ")  # body length, crc32(body), seq

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    instance TEXT NOT NULL,
    user TEXT NOT NULL,
    environment TEXT NOT NULL,
    tab_id TEXT NOT NULL,
    started_at REAL NOT NULL,
    dek_id TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    wrapped_dek BLOB NOT NULL,
    first_ts INTEGER,
    last_ts INTEGER,
    event_count INTEGER NOT NULL DEFAULT 0,
    batch_count INTEGER NOT NULL DEFAULT 0,
    max_seq INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_at);
CREATE TABLE IF NOT EXISTS batches (
    session_id TEXT NOT NULL REFERENCES sessions (session_id),
    seq INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    event_count INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    last_ts INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;
"""

_SESSION_COLUMNS = (
    "session_id, instance, user, environment, tab_id, started_at, dek_id, kek_id,"
    " wrapped_dek, first_ts, last_ts, event_count, batch_count, max_seq"
)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")  # a purged data key is overwritten, not freed
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _session_from_row(row: tuple[Any, ...]) -> SessionRecord:
    (
        sid,
        instance,
        user,
        env,
        tab,
        started,
        dek_id,
        kek_id,
        blob,
        first,
        last,
        events,
        batches,
        max_seq,
    ) = row
    return SessionRecord(
        session_id=str(sid),
        instance=str(instance),
        user=str(user),
        environment=str(env),
        tab_id=str(tab),
        started_at=float(started),
        wrapped_key=WrappedKey(str(dek_id), str(kek_id), bytes(blob)),
        first_ts=first if isinstance(first, int) else None,
        last_ts=last if isinstance(last, int) else None,
        event_count=int(events),
        batch_count=int(batches),
        next_seq=int(max_seq) + 1,
    )


@dataclass
class _Job:
    """Work for the writer thread: an append (grouped with its neighbours) or any call."""

    future: Future[Any]
    call: Callable[[], Any] | None = None
    append: tuple[str, SealedBatch] | None = None


@dataclass
class _Group:
    """Appends written together and made durable by one round of fsyncs and one commit."""

    jobs: list[_Job] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    results: list[bool] = field(default_factory=list)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EmbeddedStore:
    """One writer process per data directory (an exclusive lock); any number of readers.

    Writes run on one thread, in order. Appends waiting together are group-committed:
    each is written to its segment, then every touched segment is fsynced once and all
    index rows are committed in one transaction, and only then is any of them reported
    durable. Many concurrent sessions so share each fsync round and each commit.

    Only the writer repairs torn tails: a reader (the CLI while `serve` runs) must never
    cut bytes the writer is about to index.
    """

    def __init__(
        self, data_dir: Path, *, writer: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.data_dir = data_dir
        self._clock = clock
        self._segments = data_dir / "segments"
        self._lock_fd: int | None = None
        if writer:
            self._segments.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(data_dir / "writer.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                raise PhiReplayError(
                    f"data directory {data_dir} is in use by another collector"
                ) from None
        elif not (data_dir / "index.sqlite3").exists():
            raise PhiReplayError(f"{data_dir} holds no phi-replay data (no index.sqlite3)")
        self._db = _connect(data_dir / "index.sqlite3")  # the writer thread's own
        self._db.executescript(_SCHEMA)
        self._reader = _connect(data_dir / "index.sqlite3")  # public reads, any thread
        self._read_lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="phi-store", daemon=True)
        self._thread.start()
        if writer:
            self._remove_orphans()
            self._cut_unindexed_tails()

    # -- layout ----------------------------------------------------------------------

    def segment_path(self, session_id: str) -> Path:
        # Client-chosen ids share prefixes ("s-..."): shard on a hash to spread them.
        shard = hashlib.sha256(session_id.encode()).hexdigest()[:2]
        return self._segments / shard / f"{session_id}.seg"

    def _remove_orphans(self) -> None:
        """Segments whose session row is gone: a purge that stopped between the two."""
        known = {row[0] for row in self._db.execute("SELECT session_id FROM sessions")}
        for path in self._segments.glob("*/*.seg"):
            if path.stem not in known:
                path.unlink()

    def _cut_unindexed_tails(self) -> None:
        rows = self._db.execute(
            "SELECT s.session_id, COALESCE(MAX(b.offset + b.length), ?) FROM sessions s"
            " LEFT JOIN batches b USING (session_id) GROUP BY s.session_id",
            (len(SEGMENT_MAGIC),),
        ).fetchall()
        for session_id, end in rows:
            path = self.segment_path(session_id)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < len(SEGMENT_MAGIC):
                path.unlink()  # torn while writing the magic: nothing was ever indexed
            elif size > end:
                with path.open("r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())

    async def _run(self, fn: Callable[[], T]) -> T:
        future: Future[T] = Future()
        self._jobs.put(_Job(future, call=fn))
        return await asyncio.wrap_future(future)

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            pending = [job]
            while True:  # take everything already waiting: that is the group
                try:
                    pending.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            group = _Group()
            for item in pending:
                if item is None:
                    self._commit(group)
                    return
                if item.append is not None:
                    group.jobs.append(item)
                    continue
                self._commit(group)  # keep order: earlier appends before this call
                group = _Group()
                assert item.call is not None
                try:
                    item.future.set_result(item.call())
                except BaseException as exc:
                    item.future.set_exception(exc)
            self._commit(group)

    # -- writes ------------------------------------------------------------------------

    async def open_session(self, new: SessionRecord) -> SessionRecord:
        return await self._run(lambda: self._open_session(new))

    def _open_session(self, new: SessionRecord) -> SessionRecord:
        try:
            return self._get_session(self._db, new.session_id)
        except UnknownSession:
            pass
        key = new.wrapped_key
        self._db.execute(
            "INSERT INTO sessions (session_id, instance, user, environment, tab_id, started_at,"
            " dek_id, kek_id, wrapped_dek) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new.session_id,
                new.instance,
                new.user,
                new.environment,
                new.tab_id,
                self._clock(),
                key.dek_id,
                key.kek_id,
                key.blob,
            ),
        )
        return self._get_session(self._db, new.session_id)

    async def append(self, session_id: str, batch: SealedBatch) -> bool:
        future: Future[bool] = Future()
        self._jobs.put(_Job(future, append=(session_id, batch)))
        return await asyncio.wrap_future(future)

    def _commit(self, group: _Group) -> None:
        """Write, fsync and index a group of appends; then settle every one of them."""
        if not group.jobs:
            return
        try:
            self._write_group(group)
        except BaseException as exc:
            for job in group.jobs:
                job.future.set_exception(exc)
            return
        for job, stored in zip(group.jobs, group.results, strict=True):
            job.future.set_result(stored)

    def _write_group(self, group: _Group) -> None:
        files: dict[str, Any] = {}
        starts: dict[str, int] = {}  # each touched segment's size before this group
        try:
            self._write_records(group, files, starts)
            if group.rows:
                self._index(group.rows)
        except BaseException:
            # Nothing of a failed group may stay: later appends would bury these bytes
            # behind indexed records, where the restart's tail cut cannot reach them.
            for session_id, size in starts.items():
                with contextlib.suppress(OSError):
                    os.truncate(self.segment_path(session_id), size)
            raise
        finally:
            for f in files.values():
                f.close()

    def _write_records(self, group: _Group, files: dict[str, Any], starts: dict[str, int]) -> None:
        seen: set[tuple[str, int]] = set()
        new_dirs: set[Path] = set()
        for job in group.jobs:
            assert job.append is not None
            session_id, batch = job.append
            key = (session_id, batch.seq)
            duplicate = (
                key in seen
                or self._db.execute(
                    "SELECT 1 FROM batches WHERE session_id = ? AND seq = ?", key
                ).fetchone()
            )
            group.results.append(not duplicate)
            if duplicate:
                continue
            seen.add(key)
            f = files.get(session_id)
            if f is None:
                path = self.segment_path(session_id)
                if not path.exists():
                    path.parent.mkdir(exist_ok=True)
                    new_dirs.add(path.parent)
                f = files[session_id] = path.open("ab")
                starts[session_id] = f.tell()
                if f.tell() == 0:
                    f.write(SEGMENT_MAGIC)
            header = HEADER.pack(len(batch.sealed), zlib.crc32(batch.sealed), batch.seq)
            offset = f.tell()
            f.write(header + batch.sealed)
            group.rows.append((session_id, batch, offset))
        for f in files.values():
            f.flush()
            os.fsync(f.fileno())
        for directory in new_dirs:
            _fsync_dir(directory)
            _fsync_dir(directory.parent)

    def _index(self, rows: list[tuple[str, SealedBatch, int]]) -> None:
        self._db.execute("BEGIN")
        try:
            for session_id, batch, offset in rows:
                self._db.execute(
                    "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        session_id,
                        batch.seq,
                        offset,
                        HEADER.size + len(batch.sealed),
                        batch.event_count,
                        batch.first_ts,
                        batch.last_ts,
                    ),
                )
                self._db.execute(
                    "UPDATE sessions SET event_count = event_count + ?,"
                    " batch_count = batch_count + 1,"
                    " first_ts = MIN(COALESCE(first_ts, ?), ?),"
                    " last_ts = MAX(COALESCE(last_ts, ?), ?),"
                    " max_seq = MAX(max_seq, ?) WHERE session_id = ?",
                    (
                        batch.event_count,
                        batch.first_ts,
                        batch.first_ts,
                        batch.last_ts,
                        batch.last_ts,
                        batch.seq,
                        session_id,
                    ),
                )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def purge(self, cutoffs: Mapping[str, float], default_cutoff: float) -> list[str]:
        return await self._run(lambda: self._purge(cutoffs, default_cutoff))

    def _purge(self, cutoffs: Mapping[str, float], default_cutoff: float) -> list[str]:
        rows = self._db.execute("SELECT session_id, instance, started_at FROM sessions")
        expired = [
            sid for sid, inst, started in rows if started < cutoffs.get(inst, default_cutoff)
        ]
        for session_id in expired:
            # The index row holds the only copy of the wrapped data key: once it is gone
            # (secure_delete overwrites it), the records are unreadable wherever they are.
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM batches WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            self._db.execute("COMMIT")
            self.segment_path(session_id).unlink(missing_ok=True)
        if expired:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old page left in the WAL
        return expired

    async def rewrap(self, rewrap: Callable[[SessionRecord], WrappedKey | None]) -> int:
        return await self._run(lambda: self._rewrap(rewrap))

    def _rewrap(self, rewrap: Callable[[SessionRecord], WrappedKey | None]) -> int:
        changed = 0
        for session in self._list_sessions(self._db):
            new = rewrap(session)
            if new is None:
                continue
            self._db.execute(
                "UPDATE sessions SET dek_id = ?, kek_id = ?, wrapped_dek = ? WHERE session_id = ?",
                (new.dek_id, new.kek_id, new.blob, session.session_id),
            )
            changed += 1
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _get_session(conn: sqlite3.Connection, session_id: str) -> SessionRecord:
        row = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?",  # noqa: S608
            (session_id,),
        ).fetchone()
        if row is None:
            raise UnknownSession("no session with that id")
        return _session_from_row(row)

    @staticmethod
    def _list_sessions(conn: sqlite3.Connection) -> list[SessionRecord]:
        rows = conn.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY started_at DESC"  # noqa: S608
        ).fetchall()
        return [_session_from_row(r) for r in rows]

    def get_session(self, session_id: str) -> SessionRecord:
        with self._read_lock:
            return self._get_session(self._reader, session_id)

    def list_sessions(self) -> list[SessionRecord]:
        with self._read_lock:
            return self._list_sessions(self._reader)

    def read_batches(self, session_id: str) -> Iterator[SealedBatch]:
        with self._read_lock:
            self._get_session(self._reader, session_id)
            rows = self._reader.execute(
                "SELECT seq, offset, length, event_count, first_ts, last_ts FROM batches"
                " WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        if not rows:
            return
        with self.segment_path(session_id).open("rb") as f:
            for seq, offset, length, events, first, last in rows:
                f.seek(offset)
                raw = f.read(length)
                if len(raw) != length or length < HEADER.size:
                    raise CorruptRecord(f"record seq {seq} is truncated")
                body_len, crc, stored_seq = HEADER.unpack_from(raw)
                body = raw[HEADER.size :]
                if body_len != len(body) or stored_seq != seq or zlib.crc32(body) != crc:
                    raise CorruptRecord(f"record seq {seq} fails its length or checksum")
                yield SealedBatch(seq, events, first, last, body)

    def close(self) -> None:
        """Finish pending writes, stop the writer thread, release the directory."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        self._db.close()
        self._reader.close()
        self._unlock()
