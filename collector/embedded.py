"""Embedded store: one append-only segment file per session plus a SQLite index.

    DATA_DIR/index.sqlite3          sessions and batches (offsets, counts), WAL mode
    DATA_DIR/segments/<h>/<id>.seg  "PHIRSEG1", then records (<h>: 2 hex of sha256(id))

    DATA_DIR/keys/<h>/<id>.key      the session's index row without its counts (JSON)
    DATA_DIR/quarantine/...         what start-up could not prove is garbage (moved here)

Each record is a 16-byte header `>IIQ` (body length, CRC-32 of body, seq) and the body
(the sealed batch). A batch is acknowledged only after its record is on disk (synced) and
its index row committed. On open, segment bytes past the last indexed record, and
segments without a session row, are moved to the quarantine, never deleted: a damaged
index looks exactly like an unacknowledged tail (`phi-replay fsck` restores them). See
docs/storage.md.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import itertools
import json
import logging
import os
import queue
import resource
import sqlite3
import struct
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from collector.control import Control, sql_filter
from collector.crypto import WrappedKey
from collector.exceptions import CorruptRecord, PhiReplayError, StorageFull, UnknownSession
from collector.files import fsync_path, write_new_file
from collector.paths import NO_ROUTES, templated_pages
from collector.store import (
    MAX_PAGES_PER_SESSION,
    SealedBatch,
    SessionQuery,
    SessionRecord,
    SessionSummary,
)

SEGMENT_MAGIC = b"PHIRSEG1"
HEADER = struct.Struct(">IIQ")  # body length, crc32(body), seq
KEY_FILE_FORMAT = "phi-replay-session/1"
QUARANTINE = "quarantine"
WRITER_LOCK = "writer.lock"  # held (flock) by the one process writing the directory


def writer_active(data_dir: Path) -> bool:
    """Whether a process holds `data_dir`'s writer lock now (a probe: released at once)."""
    lock = data_dir / WRITER_LOCK
    if not lock.exists():
        return False
    fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's lock, if it got it
    return False


log = logging.getLogger("phi_replay.store")

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
    max_seq INTEGER NOT NULL DEFAULT 0,
    epoch TEXT NOT NULL DEFAULT ''
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
CREATE TABLE IF NOT EXISTS session_pages (
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (session_id, path)
) WITHOUT ROWID;
-- A purge in progress: its rows are gone, its files maybe not yet (start-up finishes it).
CREATE TABLE IF NOT EXISTS purged (
    session_id TEXT PRIMARY KEY,
    dek_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_instance ON sessions (instance, started_at);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user, started_at);
"""

# The session list's sort keys (collector.store.SORT_KEYS) as SQL; ties go by id.
_ORDER = {
    "started": "started_at",
    "duration": "COALESCE(last_ts - first_ts, 0)",
    "events": "event_count",
    "user": "user",
    "instance": "instance",
    "environment": "environment",
}
# The index's PRAGMA user_version from which session_pages holds only paths the collector
# templated itself (collector/paths.py); before it, paths were kept as the recorder sent them.
PAGES_TEMPLATED = 1
# From this user_version on, every session row has its key file (written once at start).
KEY_FILES_WRITTEN = 2
# From this user_version on, sessions have an `epoch` column: the retention ratchet's day
# their data key is wrapped under ("" for keys wrapped before it). Added by ALTER TABLE
# at the writer's first start, before anything reads a row.
EPOCHS = 3

_SESSION_COLUMNS = (
    "session_id, instance, user, environment, tab_id, started_at, dek_id, kek_id,"
    " wrapped_dek, first_ts, last_ts, event_count, batch_count, max_seq, epoch"
)
# What a reader (the CLI beside an index no new writer has opened yet) selects instead.
_LEGACY_SESSION_COLUMNS = _SESSION_COLUMNS.replace(", epoch", ", '' AS epoch")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA secure_delete=ON")  # a purged data key is overwritten, not freed
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def _has_epoch_column(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "epoch" for row in conn.execute("PRAGMA table_info(sessions)"))


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
        epoch,
    ) = row
    return SessionRecord(
        session_id=str(sid),
        instance=str(instance),
        user=str(user),
        environment=str(env),
        tab_id=str(tab),
        started_at=float(started),
        wrapped_key=WrappedKey(str(dek_id), str(kek_id), bytes(blob), str(epoch)),
        first_ts=first if isinstance(first, int) else None,
        last_ts=last if isinstance(last, int) else None,
        event_count=int(events),
        batch_count=int(batches),
        next_seq=int(max_seq) + 1,
    )


def _load_syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2): one call makes every file of the data directory's filesystem
    durable, whatever the number of files written (os has no wrapper for it)."""
    name = ctypes.util.find_library("c")
    try:
        fn = getattr(ctypes.CDLL(name, use_errno=True), "syncfs")  # noqa: B009
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn  # type: ignore[no-any-return]


_SYNCFS = _load_syncfs()


def _max_open_segments() -> int:
    """Segment files kept open for appends (a quarter of the open-files limit: sockets need
    the rest); the others are reopened when their session writes again."""
    return max(64, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 4)


SQLITE_FULL = 13  # sqlite3's result code for "database or disk is full"
# While full, space counts as back once the volume has this much free: a batch or two.
FREE_SPACE_TO_RESUME = 8 * 1024 * 1024


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what it was raised from) says the volume is out of space."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StorageFull):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if isinstance(seen, sqlite3.Error) and (
            getattr(seen, "sqlite_errorcode", None) == SQLITE_FULL
            or "database or disk is full" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def free_bytes(path: Path) -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


@dataclass(frozen=True)
class ScannedRecord:
    """A record as found in a segment (or a quarantined piece of one)."""

    offset: int
    seq: int
    length: int  # header and body
    problem: str | None  # None: length and CRC-32 check
    body: bytes


def scan_records(raw: bytes, start: int) -> tuple[list[ScannedRecord], int]:
    """The records back to back from `start`, and where they end: short of `len(raw)`
    when the last one is torn (its header or body runs past the end)."""
    records: list[ScannedRecord] = []
    at = start
    while len(raw) - at >= HEADER.size:
        body_len, crc, seq = HEADER.unpack_from(raw, at)
        end = at + HEADER.size + body_len
        if end > len(raw):
            break
        body = raw[at + HEADER.size : end]
        problem = None if zlib.crc32(body) == crc else "CRC mismatch"
        records.append(ScannedRecord(at, seq, end - at, problem, body))
        at = end
    return records, at


def record_problem(raw: bytes, length: int, seq: int) -> str | None:
    """Why the bytes an index row points at are not its record, or None."""
    if len(raw) != length or length < HEADER.size:
        return "truncated: missing from its segment (the file ends before it does)"
    body_len, crc, stored_seq = HEADER.unpack_from(raw)
    if body_len != length - HEADER.size:
        return "length mismatch"
    if stored_seq != seq:
        return f"the record there is seq {stored_seq}"
    if zlib.crc32(raw[HEADER.size :]) != crc:
        return "CRC mismatch"
    return None


def key_document(session: SessionRecord) -> bytes:
    """A session's key file: its index row without the counts, which the records give
    back. It lets `fsck` rebuild a session whose row a damaged index lost."""
    key = session.wrapped_key
    doc = {
        "format": KEY_FILE_FORMAT,
        "session_id": session.session_id,
        "instance": session.instance,
        "user": session.user,
        "environment": session.environment,
        "tab_id": session.tab_id,
        "started_at": session.started_at,
        "dek_id": key.dek_id,
        "kek_id": key.kek_id,
        "wrapped_dek": base64.b64encode(key.blob).decode("ascii"),
        "epoch": key.epoch,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def parse_key_document(raw: bytes) -> SessionRecord:
    """A key file's session (no counts); CorruptRecord when it is not one."""
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != KEY_FILE_FORMAT:
            raise ValueError("not a session key file")
        key = WrappedKey(
            str(doc["dek_id"]),
            str(doc["kek_id"]),
            base64.b64decode(doc["wrapped_dek"]),
            str(doc.get("epoch", "")),  # absent in key files from before the ratchet
        )
        return SessionRecord(
            session_id=str(doc["session_id"]),
            instance=str(doc["instance"]),
            user=str(doc["user"]),
            environment=str(doc["environment"]),
            tab_id=str(doc["tab_id"]),
            started_at=float(doc["started_at"]),
            wrapped_key=key,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptRecord("the session key file is not valid") from exc


def _zero(path: Path, *, sync: bool) -> None:
    """Overwrite a file with zeros in place: what secure_delete does for an index row
    holding a wrapped key. (On copy-on-write filesystems neither reaches the old blocks.)"""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    try:
        os.pwrite(fd, bytes(os.fstat(fd).st_size), 0)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _shred(path: Path) -> None:
    """Zero a file, durably, then unlink it."""
    _zero(path, sync=True)
    path.unlink(missing_ok=True)


def _copy_tail(f: Any, start: int, target: Path) -> int:
    """Copy a segment's bytes from `start` to a new file `target`, made durable, one
    record at a time (a tail may be a whole session's records: never all in memory).
    Returns how many whole records (length and CRC-32 check) it held."""
    whole = 0
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            f.seek(start)
            while True:
                header = f.read(HEADER.size)
                out.write(header)
                if len(header) < HEADER.size:
                    break
                body_len, crc, _ = HEADER.unpack(header)
                left, check = body_len, 0
                while left:  # in pieces: a damaged header may claim 4 GiB
                    piece = f.read(min(left, 1 << 20))
                    if not piece:
                        break
                    out.write(piece)
                    check = zlib.crc32(piece, check)
                    left -= len(piece)
                if left:
                    break  # torn: the rest of the file is this record's start
                whole += check == crc
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, target)
    fsync_path(target.parent)
    return whole


def _free_name(directory: Path, stem: str, suffix: str) -> Path:
    """`directory/stem.suffix`, or with `.2`, `.3`... until no file has the name."""
    path = directory / f"{stem}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = directory / f"{stem}.{n}{suffix}"
    return path


@dataclass
class Recovery:
    """What start-up moved to the quarantine (or finished deleting), for its one log line."""

    orphan_segments: int = 0
    orphan_keys: int = 0
    tails: int = 0
    tail_records: int = 0  # whole records (length and CRC check) among the tails
    tail_bytes: int = 0
    purges_finished: int = 0
    rows_restored: int = 0  # session rows a damaged index lost, back from key files
    empty_rows_restored: int = 0  # the same for sessions that had no record yet

    @property
    def quarantined(self) -> bool:
        return bool(self.orphan_segments or self.orphan_keys or self.tails)


@dataclass(frozen=True)
class RecordRead:
    """An indexed batch as read back: the batch, or why its record cannot be read."""

    seq: int
    batch: SealedBatch | None
    problem: str | None = None


@dataclass
class _Tail:
    """A segment as the event loop appends to it (only the loop's thread touches this)."""

    path: Path
    end: int  # the file's size, records not yet durable included
    generation: int  # replaced when a failed group's bytes are cut from the file
    # No seq above this is stored or pending: the recorder's next batch needs no lookup.
    top_seq: int = 0
    fd: int | None = None
    pending: dict[int, asyncio.Future[bool]] = field(default_factory=dict)  # seq → durable?


@dataclass
class _Append:
    """A record already written to its segment, waiting to be synced and indexed."""

    session_id: str
    batch: SealedBatch
    offset: int
    generation: int
    future: asyncio.Future[bool]
    loop: asyncio.AbstractEventLoop


@dataclass
class _Call:
    """Any other work for the writer thread. A barrier unless `in_place`: appends queued
    before it are committed first, so that it sees them."""

    fn: Callable[[], Any]
    future: Future[Any]
    in_place: bool = False


class EmbeddedStore:
    """One writer process per data directory (an exclusive lock); any number of readers.

    An append writes its record to the segment file at once, on the event loop's thread
    (a page-cache write of a few microseconds), and queues it for the writer thread.
    The writer thread group-commits whatever is queued: one `syncfs` makes every record
    of the group durable, one transaction indexes them all, and one callback on the loop
    acknowledges them. The writer thread so hands the GIL back and forth a handful of
    times per group, not per record: with the loop busy validating, each hand-off can
    wait for Python's switch interval (5 ms).

    Only the writer repairs torn tails: a reader (the CLI while `serve` runs) must never
    cut bytes the writer is about to index.
    """

    def __init__(
        self, data_dir: Path, *, writer: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.data_dir = data_dir
        self._clock = clock
        self._segments = data_dir / "segments"
        self._keys = data_dir / "keys"
        self.quarantine = data_dir / QUARANTINE
        self._full: str | None = None  # why the volume counts as full, or None
        self.recovery = Recovery()
        self._lock_fd: int | None = None
        if writer:
            self._segments.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(data_dir / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._lock_fd)
                raise PhiReplayError(
                    f"data directory {data_dir} is in use by another collector"
                ) from None
        elif not (data_dir / "index.sqlite3").exists():
            raise PhiReplayError(f"{data_dir} holds no phi-replay data (no index.sqlite3)")
        opened: list[sqlite3.Connection] = []
        try:
            self._db = _connect(data_dir / "index.sqlite3")  # the writer thread's own
            opened.append(self._db)
            self._db.executescript(_SCHEMA)
            has_epoch = _has_epoch_column(self._db)
            if writer and not has_epoch:
                self._db.execute("ALTER TABLE sessions ADD COLUMN epoch TEXT NOT NULL DEFAULT ''")
                has_epoch = True
            self._columns = _SESSION_COLUMNS if has_epoch else _LEGACY_SESSION_COLUMNS
            self._reader = _connect(data_dir / "index.sqlite3")  # public reads, any thread
            opened.append(self._reader)
            self._loop_db = _connect(data_dir / "index.sqlite3")  # the event loop's reads
            opened.append(self._loop_db)
            self.control = Control(data_dir / "index.sqlite3", clock=clock)  # accounts, audit
        except (sqlite3.Error, OSError) as exc:
            for conn in opened:
                conn.close()
            self._unlock()
            # SQLite reports a volume too full for its WAL index as a "disk I/O error".
            free = free_bytes(data_dir)
            if is_disk_full(exc) or (free is not None and free < 64 * 1024):
                raise StorageFull(
                    f"cannot open the index: {self._full_message()}; free space there and"
                    " start again"
                ) from exc
            raise
        self._read_lock = threading.Lock()
        # syncfs reports write-back errors that happened since this descriptor was opened.
        self._dir_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._tails: OrderedDict[str, _Tail] = OrderedDict()  # least recently used first
        self._max_tails = _max_open_segments()
        self._generations = itertools.count()
        self._cut: dict[str, tuple[int, BaseException]] = {}  # writer thread: failed groups
        self._jobs: queue.SimpleQueue[_Append | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_loop, name="phi-store", daemon=True)
        self._thread.start()
        if writer:
            try:
                self._remove_partial_copies()
                self._finish_purges()
                self._quarantine_orphans()
                self._cut_unindexed_tails()
                self._log_recovery()
                self._template_old_pages()
                self._write_missing_key_files()
                self._mark_epochs()
            except BaseException:
                self.close()  # the writer lock too: a later attempt must not find it held
                raise

    # -- layout ----------------------------------------------------------------------

    def segment_path(self, session_id: str) -> Path:
        # Client-chosen ids share prefixes ("s-..."): shard on a hash to spread them.
        shard = hashlib.sha256(session_id.encode()).hexdigest()[:2]
        return self._segments / shard / f"{session_id}.seg"

    def key_path(self, session_id: str) -> Path:
        shard = hashlib.sha256(session_id.encode()).hexdigest()[:2]
        return self._keys / shard / f"{session_id}.key"

    # -- start-up: nothing is deleted that is not proven garbage ----------------------
    # A damaged index (a WAL cut short, a restored old copy) looks like lost rows: a
    # segment without a session row, records past the last indexed one. Those may be
    # acknowledged batches, so they go to the quarantine, whole, and `fsck` restores them.

    def _quarantine_dir(self, kind: str) -> Path:
        directory = self.quarantine / kind
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _move_to_quarantine(self, path: Path, kind: str) -> None:
        directory = self._quarantine_dir(kind)
        target = _free_name(directory, path.stem, path.suffix)
        os.replace(path, target)  # same filesystem: atomic, the bytes never copied
        fsync_path(directory)
        fsync_path(path.parent)

    def _remove_partial_copies(self) -> None:
        """Temporary files a crash left half-written: their originals were never replaced
        or cut (that happens only after the rename), so they are copies, and garbage."""
        for pattern in ("tails/.*.tmp", "keys/.*.tmp"):
            for path in self.quarantine.glob(pattern):
                path.unlink()
        for path in self._keys.glob("*/.*.tmp"):
            path.unlink()

    def _finish_purges(self) -> None:
        """A purge that stopped after deleting its rows (its tombstone says so) left files
        that are proven garbage: they are shredded now. A segment whose key file names
        another data key belongs to a later session under the same id: not garbage."""
        tombstones = self._db.execute("SELECT session_id, dek_id FROM purged").fetchall()
        for session_id, dek_id in tombstones:
            known = self._db.execute(
                "SELECT 1 FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            key_path = self.key_path(session_id)
            try:
                other = parse_key_document(key_path.read_bytes()).wrapped_key.dek_id != dek_id
            except (OSError, CorruptRecord):
                other = False
            if known is None and not other:
                _shred(key_path)
                self.segment_path(session_id).unlink(missing_ok=True)
                self.recovery.purges_finished += 1
            self._db.execute("DELETE FROM purged WHERE session_id = ?", (session_id,))

    def _quarantine_orphans(self) -> None:
        """Sessions whose row is gone. A key file holds the row (counts aside): the row
        comes back from it at once, so that a recorder resuming the session keeps its
        data key and the records the index lost become an unindexed tail (quarantined
        next, restored by fsck). Without a key file (a session from before them, or a
        damaged one) the segment and key file go to the quarantine whole: they must leave
        `segments/`, or a resumed session would append under a new key to the old file."""
        known = {row[0] for row in self._db.execute("SELECT session_id FROM sessions")}
        for path in sorted(self._keys.glob("*/*.key")):
            if path.stem in known:
                continue
            try:
                session = parse_key_document(path.read_bytes())
            except (OSError, CorruptRecord):
                session = None
            if session is None or session.session_id != path.stem:
                self._move_to_quarantine(path, "keys")
                self.recovery.orphan_keys += 1
                continue
            self._open_session(session, session.started_at)
            known.add(session.session_id)
            if self.segment_path(session.session_id).exists():
                self.recovery.rows_restored += 1
            else:  # a crash between its key file and its row, before any batch: no loss
                self.recovery.empty_rows_restored += 1
        for path in sorted(self._segments.glob("*/*.seg")):
            if path.stem not in known:
                self._move_to_quarantine(path, "orphans")
                self.recovery.orphan_segments += 1

    def _cut_unindexed_tails(self) -> None:
        """Bytes past a segment's last indexed record: an unacknowledged or torn tail
        after a crash, or acknowledged records whose rows a damaged index lost. Either
        way they leave the segment (appends must not bury them behind indexed records),
        copied to the quarantine first."""
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
                if end <= len(SEGMENT_MAGIC):
                    path.unlink()  # torn while writing the magic: holds no record at all
            elif size > end:
                target = _free_name(self._quarantine_dir("tails"), session_id, f".{end}.tail")
                with path.open("r+b") as f:
                    try:
                        whole = _copy_tail(f, end, target)
                    except OSError as exc:
                        if not is_disk_full(exc):
                            raise
                        # Nothing was cut: the tail stays until there is room to keep it.
                        raise StorageFull(
                            f"start-up must copy {size - end} bytes of unindexed records to"
                            f" {self.quarantine} before it may cut them, and"
                            f" {self._full_message()}; free space there and start again"
                        ) from exc
                    f.truncate(end)
                    os.fsync(f.fileno())
                self.recovery.tails += 1
                self.recovery.tail_records += whole
                self.recovery.tail_bytes += size - end

    def _log_recovery(self) -> None:
        r = self.recovery
        if r.purges_finished:
            log.info("start-up finished %d interrupted purge(s)", r.purges_finished)
        if r.empty_rows_restored:
            log.info(
                "start-up restored %d session row(s) with no records from their key files"
                " (sessions opened just before a crash)",
                r.empty_rows_restored,
            )
        if r.rows_restored:
            log.warning(
                "start-up found %d session(s) whose index row was lost and restored them from"
                " their key files (the index was damaged or restored from an older copy)",
                r.rows_restored,
            )
        if not r.quarantined:
            return
        # Counts only: session ids are chosen by recorders (fsck names them, escaped).
        alarming = r.orphan_segments or r.orphan_keys or r.tail_records
        log.log(
            logging.WARNING if alarming else logging.INFO,
            "start-up moved to %s, deleting nothing: %d segment(s) and %d key file(s)"
            " without a session row, %d unindexed tail(s) (%d whole record(s), %d bytes;"
            " after a crash these are batches never acknowledged, after index damage they"
            " may be acknowledged ones); run `phi-replay fsck --repair` with serve stopped"
            " to restore what the index lost",
            self.quarantine,
            r.orphan_segments,
            r.orphan_keys,
            r.tails,
            r.tail_records,
            r.tail_bytes,
        )

    def _template_old_pages(self) -> None:
        """Once per index: template the paths indexed before the collector templated them,
        by the vocabulary alone (no instance declared routes then), and leave no copy of
        the old ones in the file or its WAL."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version >= PAGES_TEMPLATED:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            rows = self._db.execute("SELECT session_id, path FROM session_pages").fetchall()
            fresh = {
                (sid, page) for sid, path in rows for page in templated_pages([path], NO_ROUTES)
            }
            if fresh != set(rows):
                self._db.execute("DELETE FROM session_pages")  # secure_delete: overwritten
                self._db.executemany(
                    "INSERT INTO session_pages (session_id, path) VALUES (?, ?)", sorted(fresh)
                )
            self._db.execute(f"PRAGMA user_version = {PAGES_TEMPLATED}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if rows:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _write_missing_key_files(self) -> None:
        """Once per index: the key files of sessions indexed before key files existed,
        so that fsck can restore them too if the index loses their rows."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version >= KEY_FILES_WRITTEN:
            return
        written = 0
        for session in self._list_sessions(self._db):
            path = self.key_path(session.session_id)
            if not path.exists():
                write_new_file(path, key_document(session), sync=False)
                written += 1
        self._flush_all()  # durable before the index says it was done
        self._db.execute(f"PRAGMA user_version = {KEY_FILES_WRITTEN}")
        if written:
            log.info("wrote the key files of %d session(s) indexed before them", written)

    def _mark_epochs(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version < EPOCHS:
            self._db.execute(f"PRAGMA user_version = {EPOCHS}")

    # -- the writer thread -------------------------------------------------------------

    async def _run(self, fn: Callable[[], T], *, in_place: bool = False) -> T:
        future: Future[T] = Future()
        self._jobs.put(_Call(fn, future, in_place))
        return await asyncio.wrap_future(future)

    def _write_loop(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            while True:  # take everything already waiting: that is the group
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            group: list[_Append] = []
            for job in jobs:
                if job is None:
                    self._commit(group)
                    return
                if isinstance(job, _Append):
                    group.append(job)
                    continue
                if not job.in_place:
                    self._commit(group)  # keep order: earlier appends before this call
                    group = []
                try:
                    job.future.set_result(job.fn())
                except BaseException as exc:
                    job.future.set_exception(exc)
            self._commit(group)

    def _commit(self, group: list[_Append]) -> None:
        """Sync and index a group of written records; then settle every one of them."""
        if not group:
            return
        outcomes: list[tuple[_Append, BaseException | None]] = []
        live: list[_Append] = []
        for job in group:
            cut = self._cut.get(job.session_id)
            if cut is not None and job.generation <= cut[0]:
                outcomes.append((job, cut[1]))  # behind a failed record: its bytes are cut
            else:
                live.append(job)
        began = time.perf_counter()
        if live:
            try:
                try:
                    self._sync(live)
                    self._index([(j.session_id, j.batch, j.offset) for j in live])
                except Exception as exc:
                    self._check_full(exc)
                    raise
            except Exception as exc:
                for job in live:
                    self._cut[job.session_id] = (job.generation, exc)
                outcomes.extend((job, exc) for job in live)
            else:
                outcomes.extend((job, None) for job in live)
                self._no_longer_full()
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Append, BaseException | None]]] = {}
        if live:  # the metrics: the group's size and how long it took to be durable, or failed
            failed = outcomes[-1][1] is not None  # the live jobs' outcomes come last
            self._observe(len(live), None if failed else time.perf_counter() - began)
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, settled in by_loop.items():
            # One wake-up per group; a closed loop has nobody waiting for these any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._settle, settled)

    # (batches, seconds to make them durable: syncfs, then the index's own fsync; or None:
    # the commit failed); from the writer thread. The metrics set it (collector/metrics.py).
    commit_observer: Callable[[int, float | None], None] | None = None

    def _observe(self, batches: int, seconds: float | None) -> None:
        observer = self.commit_observer
        if observer is not None:
            with contextlib.suppress(Exception):  # metrics never fail a commit
                observer(batches, seconds)

    def _sync(self, group: list[_Append]) -> None:
        """Make the group's records (and new files and directories) durable."""
        if _SYNCFS is not None:
            if _SYNCFS(self._dir_fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs failed: {os.strerror(err)}")
            return
        paths = {self.segment_path(job.session_id) for job in group}
        for path in paths:
            fsync_path(path)
        for directory in {p.parent for p in paths} | {self._segments}:
            fsync_path(directory)

    def _flush_all(self) -> None:
        """Make every change to the data directory durable (unlinks and renames too)."""
        if _SYNCFS is not None and _SYNCFS(self._dir_fd) == 0:
            return
        for directory in [
            self._segments,
            self._keys,
            *self._segments.glob("*"),
            *self._keys.glob("*"),
        ]:
            with contextlib.suppress(OSError):
                fsync_path(directory)

    def _index(self, rows: list[tuple[str, SealedBatch, int]]) -> None:
        """One transaction for the whole group, in two statements (each statement is one
        GIL hand-off; `executemany` would be one per row)."""
        doc = json.dumps(
            [
                (sid, b.seq, at, HEADER.size + len(b.sealed), b.event_count, b.first_ts, b.last_ts)
                for sid, b, at in rows
            ]
        )
        self._db.execute("BEGIN")
        try:
            self._db.execute(
                "INSERT INTO batches (session_id, seq, offset, length, event_count, first_ts,"
                " last_ts) SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3,"
                " value ->> 4, value ->> 5, value ->> 6 FROM json_each(?)",
                (doc,),
            )
            self._db.execute(
                "UPDATE sessions SET event_count = event_count + g.events,"
                " batch_count = batch_count + g.batches,"
                " first_ts = MIN(COALESCE(first_ts, g.first), g.first),"
                " last_ts = MAX(COALESCE(last_ts, g.last), g.last),"
                " max_seq = MAX(max_seq, g.top)"
                " FROM (SELECT value ->> 0 AS sid, SUM(value ->> 4) AS events,"
                " COUNT(*) AS batches, MIN(value ->> 5) AS first, MAX(value ->> 6) AS last,"
                " MAX(value ->> 1) AS top FROM json_each(?) GROUP BY sid) AS g"
                " WHERE sessions.session_id = g.sid",
                (doc,),
            )
            pages = [(sid, p) for sid, b, _ in rows for p in b.pages]
            if pages:
                self._index_pages(pages)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # SQLITE_FULL may have rolled it back already
                self._db.execute("ROLLBACK")
            raise

    def _index_pages(self, pages: list[tuple[str, str]]) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO session_pages (session_id, path)"
            " SELECT value ->> 0, value ->> 1 FROM json_each(?) AS p"
            " WHERE (SELECT COUNT(*) FROM session_pages s WHERE s.session_id = p.value ->> 0)"
            " < ?",
            (json.dumps(pages), MAX_PAGES_PER_SESSION),
        )

    # -- the event loop's side of appends ---------------------------------------------

    async def append(self, session_id: str, batch: SealedBatch) -> bool:
        while True:
            tail = self._tail(session_id)
            earlier = tail.pending.get(batch.seq)
            if earlier is None:
                break
            try:
                await asyncio.shield(earlier)
            except Exception:  # noqa: S112 (that copy failed: store this one)
                continue
            return False  # the same (session, seq) was on its way and is now stored
        if batch.seq <= tail.top_seq and self._is_stored(session_id, batch.seq):
            return False
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        try:
            offset = self._write(session_id, tail, batch)
        except OSError as exc:
            self._check_full(exc)
            raise
        tail.pending[batch.seq] = future
        tail.top_seq = max(tail.top_seq, batch.seq)
        self._jobs.put(_Append(session_id, batch, offset, tail.generation, future, loop))
        return await future

    def _is_stored(self, session_id: str, seq: int) -> bool:
        row = self._loop_db.execute(
            "SELECT 1 FROM batches WHERE session_id = ? AND seq = ?", (session_id, seq)
        ).fetchone()
        return row is not None

    def _tail(self, session_id: str) -> _Tail:
        tail = self._tails.get(session_id)
        if tail is not None:
            self._tails.move_to_end(session_id)
            return tail
        tail = self._tails[session_id] = self._load_tail(session_id)
        if len(self._tails) > self._max_tails:
            idle = [sid for sid, t in itertools.islice(self._tails.items(), 64) if not t.pending]
            for sid in idle[: len(self._tails) - self._max_tails]:
                self._drop_tail(sid)
        return tail

    def _load_tail(self, session_id: str) -> _Tail:
        # Appends go to the file's end (O_APPEND); the start cut left nothing unindexed.
        path = self.segment_path(session_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        (top,) = self._loop_db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM batches WHERE session_id = ?", (session_id,)
        ).fetchone()
        return _Tail(path, size, next(self._generations), top_seq=int(top))

    def _drop_tail(self, session_id: str) -> None:
        tail = self._tails.pop(session_id, None)
        if tail is not None and tail.fd is not None:
            os.close(tail.fd)

    def _write(self, session_id: str, tail: _Tail, batch: SealedBatch) -> int:
        """Append the record to the page cache; returns its offset. All or nothing."""
        if tail.fd is None:
            if tail.end == 0:
                tail.path.parent.mkdir(exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            tail.fd = os.open(tail.path, flags, 0o600)
        record = HEADER.pack(len(batch.sealed), zlib.crc32(batch.sealed), batch.seq) + batch.sealed
        data = SEGMENT_MAGIC + record if tail.end == 0 else record
        start = tail.end
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(tail.fd, view) :]
        except OSError:
            # Records before `start` may still be pending: never drop or reload this tail.
            with contextlib.suppress(OSError):
                os.ftruncate(tail.fd, start)
            with contextlib.suppress(OSError):
                tail.end = os.fstat(tail.fd).st_size
            raise
        tail.end += len(data)
        return tail.end - len(record)

    def _settle(self, outcomes: list[tuple[_Append, BaseException | None]]) -> None:
        """On the loop: acknowledge a committed group, or cut a failed one's bytes."""
        cuts: dict[str, int] = {}
        for job, error in outcomes:
            tail = self._tails.get(job.session_id)
            if tail is not None and tail.pending.get(job.batch.seq) is job.future:
                del tail.pending[job.batch.seq]
            if error is not None:
                if tail is not None and tail.generation == job.generation:
                    cuts[job.session_id] = min(job.offset, cuts.get(job.session_id, job.offset))
                if not job.future.done():
                    job.future.set_exception(error)
            elif not job.future.done():
                job.future.set_result(True)
        for session_id, offset in cuts.items():
            # Nothing of a failed group may stay: later appends would bury these bytes
            # behind indexed records, where the restart's tail cut cannot reach them.
            # Records written after it (same generation) fail in the writer thread.
            # Every pending record of this tail is behind the failed one and fails too.
            tail = self._tails[session_id]
            tail.generation = next(self._generations)
            try:
                os.truncate(tail.path, offset)
            except OSError:  # unindexed bytes stay, unreadable; later offsets stay right
                with contextlib.suppress(OSError):
                    tail.end = os.stat(tail.path).st_size
            else:
                tail.end = offset

    # -- sessions ----------------------------------------------------------------------

    async def open_session(self, new: SessionRecord) -> SessionRecord:
        try:
            return self._get_session(self._loop_db, new.session_id)
        except UnknownSession:
            pass
        self._refuse_while_full()
        return await self._run(lambda: self._open_session(new), in_place=True)

    async def restore_session(self, session: SessionRecord) -> SessionRecord:
        """`fsck`: a session from its key file, with its own start time (retention)."""
        return await self._run(lambda: self._open_session(session, session.started_at))

    def _open_session(self, new: SessionRecord, started_at: float | None = None) -> SessionRecord:
        try:
            return self._get_session(self._db, new.session_id)
        except UnknownSession:
            pass
        key = new.wrapped_key
        started = self._clock() if started_at is None else started_at
        row = SessionRecord(
            new.session_id, new.instance, new.user, new.environment, new.tab_id, started, key
        )
        # Before the row: a row never exists without its key file. It needs no flush of
        # its own: the group that makes the session's first batch durable flushes it too.
        try:
            write_new_file(self.key_path(new.session_id), key_document(row), sync=False)
        except OSError as exc:
            self._check_full(exc)
            raise
        try:
            self._db.execute(
                "INSERT INTO sessions (session_id, instance, user, environment, tab_id,"
                " started_at, dek_id, kek_id, wrapped_dek, epoch)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    new.session_id,
                    new.instance,
                    new.user,
                    new.environment,
                    new.tab_id,
                    started,
                    key.dek_id,
                    key.kek_id,
                    key.blob,
                    key.epoch,
                ),
            )
        except sqlite3.Error as exc:
            self._check_full(exc)
            raise
        return self._get_session(self._db, new.session_id)

    def write_key_file(self, session: SessionRecord) -> None:
        """`fsck --repair`: the key file of a session indexed before key files existed."""
        write_new_file(self.key_path(session.session_id), key_document(session), sync=True)

    async def purge(self, cutoffs: Mapping[str, float], default_cutoff: float) -> list[str]:
        purged = await self._run(lambda: self._purge(cutoffs, default_cutoff))
        for session_id in purged:
            self._drop_tail(session_id)
        return purged

    def _purge(self, cutoffs: Mapping[str, float], default_cutoff: float) -> list[str]:
        rows = self._db.execute("SELECT session_id, instance, started_at, dek_id FROM sessions")
        expired = [
            (sid, dek_id)
            for sid, inst, started, dek_id in rows
            if started < cutoffs.get(inst, default_cutoff)
        ]
        for session_id, dek_id in expired:
            # The index row and the key file hold the only copies of the wrapped data key:
            # once both are gone (secure_delete overwrites the row, the file is zeroed),
            # the records are unreadable wherever they are. The tombstone, in the same
            # transaction, is start-up's proof that files left by a crash are garbage.
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM batches WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM session_pages WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            self._db.execute(
                "INSERT OR REPLACE INTO purged (session_id, dek_id) VALUES (?, ?)",
                (session_id, dek_id),
            )
            self._db.execute("COMMIT")
            _zero(self.key_path(session_id), sync=_SYNCFS is None)
        if expired:
            # One flush for all: the zeros reach the disk before the files are unlinked
            # (a file unlinked first may never have its zeros written back).
            self._flush_all()
            for session_id, _ in expired:
                self.key_path(session_id).unlink(missing_ok=True)
                self.segment_path(session_id).unlink(missing_ok=True)
            self._flush_all()  # the unlinks are durable before their tombstones go
            self._db.execute("DELETE FROM purged")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # no old page left in the WAL
        return [sid for sid, _ in expired]

    async def rewrap(self, rewrap: Callable[[SessionRecord], WrappedKey | None]) -> int:
        return await self._run(lambda: self._rewrap(rewrap))

    def _rewrap(self, rewrap: Callable[[SessionRecord], WrappedKey | None]) -> int:
        changed = 0
        for session in self._list_sessions(self._db):
            new = rewrap(session)
            if new is not None:
                self._db.execute(
                    "UPDATE sessions SET dek_id = ?, kek_id = ?, wrapped_dek = ?, epoch = ?"
                    " WHERE session_id = ?",
                    (new.dek_id, new.kek_id, new.blob, new.epoch, session.session_id),
                )
                changed += 1
            # The key file follows, or fsck would restore a key wrapped by a retired KEK;
            # also one an interrupted rewrap left behind its row.
            row = self._get_session(self._db, session.session_id)
            path = self.key_path(session.session_id)
            try:
                current = parse_key_document(path.read_bytes()).wrapped_key == row.wrapped_key
            except (OSError, CorruptRecord):
                current = False
            if not current:
                write_new_file(path, key_document(row), sync=True)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return changed

    async def epochs_in_use(self) -> set[tuple[str, str]]:
        return await self._run(self._epochs_in_use)

    def _epochs_in_use(self) -> set[tuple[str, str]]:
        """Each (instance, retention day) a stored data key is wrapped under: of the index
        rows, and of the quarantined key files too, which `fsck` may yet restore."""
        rows = self._db.execute(
            "SELECT DISTINCT instance, epoch FROM sessions WHERE epoch != ''"
        ).fetchall()
        used = {(str(instance), str(epoch)) for instance, epoch in rows}
        for path in self.quarantine.glob("keys/*.key"):
            try:
                session = parse_key_document(path.read_bytes())
            except (OSError, CorruptRecord):
                continue  # no key anyone could restore
            if session.wrapped_key.epoch:
                used.add((session.instance, session.wrapped_key.epoch))
        return used

    async def aclose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- reads -------------------------------------------------------------------------

    def _get_session(self, conn: sqlite3.Connection, session_id: str) -> SessionRecord:
        row = conn.execute(
            f"SELECT {self._columns} FROM sessions WHERE session_id = ?",  # noqa: S608
            (session_id,),
        ).fetchone()
        if row is None:
            raise UnknownSession("no session with that id")
        return _session_from_row(row)

    def _list_sessions(self, conn: sqlite3.Connection) -> list[SessionRecord]:
        rows = conn.execute(
            f"SELECT {self._columns} FROM sessions ORDER BY started_at DESC"  # noqa: S608
        ).fetchall()
        return [_session_from_row(r) for r in rows]

    def get_session(self, session_id: str) -> SessionRecord:
        with self._read_lock:
            return self._get_session(self._reader, session_id)

    def list_sessions(self) -> list[SessionRecord]:
        with self._read_lock:
            return self._list_sessions(self._reader)

    def query_sessions(self, query: SessionQuery) -> tuple[list[SessionSummary], int]:
        exact = (
            ("instance", query.instance),
            ("environment", query.environment),
            ("user", query.user),
        )
        clauses, params = sql_filter(exact, "started_at", query.started_from, query.started_to)
        if query.instances is not None:
            clauses.append("instance IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(sorted(query.instances)))
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        order = _ORDER.get(query.sort, _ORDER["started"])
        direction = "DESC" if query.descending else "ASC"
        with self._read_lock:
            (total,) = self._reader.execute(
                f"SELECT COUNT(*) FROM sessions {where}",  # noqa: S608
                params,
            ).fetchone()
            rows = self._reader.execute(
                f"SELECT {self._columns} FROM sessions {where}"  # noqa: S608
                f" ORDER BY {order} {direction}, session_id {direction} LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset),
            ).fetchall()
            sessions = [_session_from_row(r) for r in rows]
            pages: dict[str, list[str]] = {}
            if sessions:
                ids = json.dumps([s.session_id for s in sessions])
                for sid, path in self._reader.execute(
                    "SELECT session_id, path FROM session_pages"
                    " WHERE session_id IN (SELECT value FROM json_each(?)) ORDER BY path",
                    (ids,),
                ):
                    pages.setdefault(sid, []).append(path)
        summaries = [SessionSummary(s, tuple(pages.get(s.session_id, ()))) for s in sessions]
        return summaries, int(total)

    def read_batches(self, session_id: str) -> Iterator[SealedBatch]:
        for read in self.read_records(session_id):
            if read.batch is None:
                raise CorruptRecord(f"record seq {read.seq}: {read.problem}")
            yield read.batch

    def read_records(self, session_id: str) -> Iterator[RecordRead]:
        """Every indexed batch of a session in seq order, each with its problem when its
        record cannot be read: a damaged record does not hide the ones after it."""
        with self._read_lock:
            self._get_session(self._reader, session_id)
            rows = self._reader.execute(
                "SELECT seq, offset, length, event_count, first_ts, last_ts FROM batches"
                " WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        if not rows:
            return
        try:
            f = self.segment_path(session_id).open("rb")
        except FileNotFoundError:
            for seq, *_ in rows:
                yield RecordRead(seq, None, "missing from the segments (its file is gone)")
            return
        with f:
            for seq, offset, length, events, first, last in rows:
                f.seek(offset)
                raw = f.read(length)
                problem = record_problem(raw, length, seq)
                if problem is not None:
                    yield RecordRead(seq, None, problem)
                else:
                    yield RecordRead(seq, SealedBatch(seq, events, first, last, raw[HEADER.size :]))

    # -- health ------------------------------------------------------------------------

    def health(self) -> list[str]:
        """What keeps the store from taking new data now, one sentence each; empty when
        it can (for `/readyz`). A full volume counts until it has FREE_SPACE_TO_RESUME
        free again, which is checked on every call: no restart is needed."""
        problems = []
        if not self._thread.is_alive():
            problems.append("the store's writer thread has stopped")
        if self._full is not None and not self._space_returned():
            problems.append(f"disk full: {self._full}")
        return problems

    def _full_message(self) -> str:
        free = free_bytes(self.data_dir)
        shown = "unknown" if free is None else f"{free // 1024} KiB"
        return f"no space left on device on the volume holding {self.data_dir} ({shown} free)"

    def _check_full(self, exc: BaseException) -> None:
        """Raise StorageFull (and note the state) when `exc` says the volume is full."""
        if not is_disk_full(exc):
            return
        message = f"{self._full_message()}; free space there: the collector resumes by itself"
        if self._full is None:
            log.error(
                "store: %s. Until then batches and new sessions are refused (storage_full);"
                " nothing acknowledged is affected",
                message,
            )
        self._full = message
        raise StorageFull(message) from exc

    def _space_returned(self) -> bool:
        try:
            st = os.statvfs(self.data_dir)
        except OSError:
            return False
        # A small volume (a test's tmpfs) counts as back with a twentieth of it free.
        wanted = min(FREE_SPACE_TO_RESUME, st.f_blocks * st.f_frsize // 20)
        if st.f_bavail * st.f_frsize < wanted:
            return False
        self._no_longer_full()
        return True

    def _no_longer_full(self) -> None:
        if self._full is not None:
            self._full = None
            log.info(
                "store: space on the volume holding %s is back; accepting again", self.data_dir
            )

    def _refuse_while_full(self) -> None:
        if self._full is not None and not self._space_returned():
            raise StorageFull(self._full)

    def quarantined_files(self) -> list[Path]:
        if not self.quarantine.is_dir():
            return []
        return sorted(p for p in self.quarantine.rglob("*") if p.is_file())

    def run_sync(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the writer thread and wait (for tools with no event loop)."""
        future: Future[T] = Future()
        self._jobs.put(_Call(fn, future))
        return future.result()

    def close(self) -> None:
        """Finish pending writes, stop the writer thread, release the directory."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        for session_id in list(self._tails):
            self._drop_tail(session_id)
        self._db.close()
        self._reader.close()
        self._loop_db.close()
        self.control.close()
        if self._dir_fd >= 0:
            os.close(self._dir_fd)
            self._dir_fd = -1
        self._unlock()
