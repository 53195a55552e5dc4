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
import fcntl
import hashlib
import os
import sqlite3
import struct
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class EmbeddedStore:
    """One writer process per data directory (an exclusive lock); any number of readers.

    Writes run on one thread, in order. Only the writer repairs torn tails: a reader
    (the CLI while `serve` runs) must never cut bytes the writer is about to index.
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
        self._db = _connect(data_dir / "index.sqlite3")
        self._db.executescript(_SCHEMA)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="phi-store")
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
            if path.exists() and path.stat().st_size < len(SEGMENT_MAGIC):
                path.unlink()  # torn while writing the magic: nothing was ever indexed
            elif path.exists() and path.stat().st_size > end:
                with path.open("r+b") as f:
                    f.truncate(end)
                    os.fsync(f.fileno())

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn)

    # -- writes ------------------------------------------------------------------------

    async def open_session(self, new: SessionRecord) -> SessionRecord:
        return await self._run(lambda: self._open_session(new))

    def _open_session(self, new: SessionRecord) -> SessionRecord:
        try:
            return self.get_session(new.session_id)
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
        return self.get_session(new.session_id)

    async def append(self, session_id: str, batch: SealedBatch) -> bool:
        return await self._run(lambda: self._append(session_id, batch))

    def _append(self, session_id: str, batch: SealedBatch) -> bool:
        seen = self._db.execute(
            "SELECT 1 FROM batches WHERE session_id = ? AND seq = ?", (session_id, batch.seq)
        ).fetchone()
        if seen:
            return False
        path = self.segment_path(session_id)
        created = not path.exists()
        if created:
            path.parent.mkdir(exist_ok=True)
        record = HEADER.pack(len(batch.sealed), zlib.crc32(batch.sealed), batch.seq)
        with path.open("ab") as f:
            if created:
                f.write(SEGMENT_MAGIC)
            offset = f.tell()
            f.write(record + batch.sealed)
            f.flush()
            os.fsync(f.fileno())
        if created:
            _fsync_dir(path.parent)
        self._db.execute("BEGIN")
        try:
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
                "UPDATE sessions SET event_count = event_count + ?, batch_count = batch_count + 1,"
                " first_ts = MIN(COALESCE(first_ts, ?), ?), last_ts = MAX(COALESCE(last_ts, ?), ?),"
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
        return True

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
        for session in self.list_sessions():
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
        await self._run(self._db.close)
        self._writer.shutdown(wait=True)
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- reads -------------------------------------------------------------------------

    def get_session(self, session_id: str) -> SessionRecord:
        row = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE session_id = ?",  # noqa: S608
            (session_id,),
        ).fetchone()
        if row is None:
            raise UnknownSession("no session with that id")
        return _session_from_row(row)

    def list_sessions(self) -> list[SessionRecord]:
        rows = self._db.execute(
            f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY started_at DESC"  # noqa: S608
        ).fetchall()
        return [_session_from_row(r) for r in rows]

    def read_batches(self, session_id: str) -> Iterator[SealedBatch]:
        self.get_session(session_id)
        rows = self._db.execute(
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
        """Synchronous close for command-line use (no writes pending)."""
        self._writer.shutdown(wait=True)
        self._db.close()
        self._unlock()
