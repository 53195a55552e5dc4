"""`phi-replay fsck`: check the index against the segments, and rebuild what it lost.

The segments carry what an index row needs, except the data key: each record's header
names its seq and a CRC of its sealed body, the file name its session, and each
session's key file (`keys/<h>/<id>.key`) the rest of its row, wrapped data key included.
Event counts, timestamps and pages come back by decrypting the records, so `--repair`
needs the keyring. Start-up quarantines what the index does not know (docs/storage.md);
fsck brings those records back under their session, and deletes a quarantined file only
once every record in it is indexed again. It runs as the data directory's one writer:
`serve` must be stopped.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from collector.crypto import DataKey, Keyring
from collector.embedded import (
    SEGMENT_MAGIC,
    EmbeddedStore,
    parse_key_document,
    scan_records,
    writer_active,
)
from collector.exceptions import CorruptRecord, PhiReplayError, UnknownSession
from collector.paths import RouteTable
from collector.records import open_batch, restored_batch
from collector.store import SealedBatch, SessionRecord
from collector.terminal import safe

INDEX = "index.sqlite3"


@dataclass
class FsckReport:
    problems: list[str] = field(default_factory=list)  # still wrong after this run
    restorable: list[str] = field(default_factory=list)  # what --repair would restore
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems and not self.restorable


def open_failure(seq: int, exc: CorruptRecord) -> str:
    """Why an intact record (its CRC checks) does not open: the AEAD, or what it holds."""
    prefix = f"record seq {seq} "
    text = str(exc)
    return text.removeprefix(prefix) if text.startswith(prefix) else f"does not decrypt ({text})"


def ensure_no_writer(data_dir: Path) -> None:
    """Refuse while `serve` (or another tool) holds the data directory."""
    if writer_active(data_dir):
        raise PhiReplayError(
            f"data directory {data_dir} is in use by another collector: stop `serve` first"
        )


def index_damage(data_dir: Path) -> str | None:
    """Why the index cannot be used, or None. quick_check names pages, not contents."""
    try:
        conn = sqlite3.connect(f"file:{data_dir / INDEX}?mode=rw", uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return f"SQLite cannot read it ({exc})"
    if rows != [("ok",)]:
        return f"SQLite's quick_check finds {len(rows)} problem(s), the first: {rows[0][0]}"[:300]
    return None


def set_aside_index(data_dir: Path) -> Path:
    """Move the damaged index (and its WAL) into the quarantine; nothing is deleted."""
    stamp = time.strftime("index-%Y%m%dT%H%M%SZ", time.gmtime())
    (data_dir / "quarantine").mkdir(parents=True, exist_ok=True)
    target = data_dir / "quarantine" / stamp
    n = 1
    while target.exists():
        n += 1
        target = data_dir / "quarantine" / f"{stamp}.{n}"
    target.mkdir()
    for suffix in ("", "-wal", "-shm"):
        path = data_dir / f"{INDEX}{suffix}"
        if path.exists():
            os.replace(path, target / path.name)
    return target


@dataclass
class _Quarantined:
    keys: list[Path] = field(default_factory=list)
    data: list[Path] = field(default_factory=list)  # whole segments and cut tails


def quarantined(store: EmbeddedStore) -> dict[str, _Quarantined]:
    """Per session id, the quarantined files fsck can restore from (key files, whole
    segments, cut tails); a set-aside index is not among them."""
    found: dict[str, _Quarantined] = {}
    for path in store.quarantined_files():
        kind = path.parent.name
        session_id = path.name.split(".", 1)[0]  # ids never hold a dot ([A-Za-z0-9_-])
        if kind == "keys" and path.suffix == ".key":
            found.setdefault(session_id, _Quarantined()).keys.append(path)
        elif (kind, path.suffix) in (("orphans", ".seg"), ("tails", ".tail")):
            found.setdefault(session_id, _Quarantined()).data.append(path)
    return found


def _unwrap(keyring: Keyring, session: SessionRecord) -> DataKey:
    return keyring.unwrap(session.wrapped_key, session.instance, session.session_id)


def check_indexed(store: EmbeddedStore, keyring: Keyring, repair: bool, report: FsckReport) -> None:
    """Every indexed record is where its row says, intact, and opens under its key."""
    backfilled = 0
    for session in store.list_sessions():
        sid = safe(session.session_id)
        if not store.key_path(session.session_id).exists():
            if repair:
                store.write_key_file(session)
                backfilled += 1
            else:
                report.restorable.append(f"session {sid}: no key file (indexed before them)")
        try:
            dek: DataKey | None = _unwrap(keyring, session)
        except CorruptRecord as exc:
            report.problems.append(f"session {sid}: its data key does not unwrap ({exc})")
            dek = None
        for read in store.read_records(session.session_id):
            if read.batch is None:
                report.problems.append(f"session {sid} seq {read.seq}: {read.problem}")
                continue
            if dek is None:
                continue
            try:
                open_batch(session, dek, read.batch)
            except CorruptRecord as exc:
                why = open_failure(read.seq, exc)
                report.problems.append(f"session {sid} seq {read.seq}: {why}")
    if backfilled:
        report.repaired.append(
            f"wrote the key files of {backfilled} session(s) indexed before them"
        )


def _candidates(
    session: SessionRecord,
    dek: DataKey,
    files: list[Path],
    indexed: set[int],
    routes: RouteTable,
    report: FsckReport,
) -> tuple[dict[int, SealedBatch], list[Path]]:
    """The quarantined records not indexed yet, rebuilt; and the files holding nothing
    else (every record in them indexed or about to be, at most a torn one at the end)."""
    sid = safe(session.session_id)
    found: dict[int, SealedBatch] = {}
    spent: list[Path] = []
    for path in files:
        raw = path.read_bytes()
        start = 0
        if path.suffix == ".seg":
            if not raw.startswith(SEGMENT_MAGIC):
                report.problems.append(f"session {sid}: quarantined {path.name} is not a segment")
                continue
            start = len(SEGMENT_MAGIC)
        records, end = scan_records(raw, start)
        whole = True
        for record in records:
            if record.problem is not None:
                where = f"(quarantine/{path.parent.name}/{path.name})"
                report.problems.append(f"session {sid} seq {record.seq}: {record.problem} {where}")
                whole = False
            elif record.seq not in indexed and record.seq not in found:
                try:
                    found[record.seq] = restored_batch(
                        session, dek, record.seq, record.body, routes
                    )
                except CorruptRecord as exc:
                    why = str(exc).removeprefix(f"record seq {record.seq} ")
                    report.problems.append(
                        f"session {sid} seq {record.seq}: does not decrypt ({why})"
                        f" (quarantine/{path.parent.name}/{path.name})"
                    )
                    whole = False
        if end < len(raw):
            report.notes.append(
                f"session {sid}: {len(raw) - end} byte(s) of a torn record at the end of"
                f" quarantine/{path.parent.name}/{path.name} (never acknowledged)"
            )
        if whole:
            spent.append(path)
    return found, spent


async def restore_quarantined(
    store: EmbeddedStore,
    keyring: Keyring,
    repair: bool,
    routes_for: Callable[[str], RouteTable],
    report: FsckReport,
) -> None:
    for session_id, files in sorted(quarantined(store).items()):
        sid = safe(session_id)
        keys: list[SessionRecord] = []
        key_files: list[Path] = []  # the ones that parse: spent once the row is back
        for path in files.keys:
            try:
                keys.append(parse_key_document(path.read_bytes()))
            except (OSError, CorruptRecord) as exc:
                report.problems.append(f"session {sid}: quarantine/keys/{path.name}: {exc}")
            else:
                key_files.append(path)
        try:
            row: SessionRecord | None = store.get_session(session_id)
        except UnknownSession:
            row = None
        session = row or (keys[0] if keys else None)
        if session is None:
            if files.data:
                report.problems.append(
                    f"session {sid}: its quarantined records cannot be restored: its data key"
                    " was only in the index row that was lost (written before key files)"
                )
            continue
        if any(k.wrapped_key.dek_id != session.wrapped_key.dek_id for k in keys):
            report.problems.append(
                f"session {sid}: a recorder started it again after its index row was lost;"
                " the quarantined records are under the earlier data key and stay there"
            )
            continue
        try:
            dek = _unwrap(keyring, session)
        except CorruptRecord as exc:
            report.problems.append(f"session {sid}: its data key does not unwrap ({exc})")
            continue
        indexed = {r.seq for r in store.read_records(session_id)} if row else set()
        routes = routes_for(session.instance)
        found, spent = _candidates(session, dek, files.data, indexed, routes, report)
        if not repair:
            if found:
                seqs = sorted(found)
                span = f"seq {seqs[0]}" + (f"-{seqs[-1]}" if len(seqs) > 1 else "")
                again = "" if row else "; its index row too, from its key file"
                report.restorable.append(
                    f"session {sid}: {len(found)} record(s) missing from the index, kept in"
                    f" the quarantine ({span}){again}"
                )
            continue
        if row is None:
            await store.restore_session(session)
        for seq in sorted(found):
            await store.append(session_id, found[seq])  # durable and indexed on return
        if found:
            again = "" if row else ", and its index row from its key file"
            report.repaired.append(f"session {sid}: restored {len(found)} record(s){again}")
        for path in [*spent, *key_files]:
            path.unlink()  # every record in it is indexed again (or was a duplicate)


async def fsck(
    store: EmbeddedStore,
    keyring: Keyring,
    *,
    repair: bool,
    routes_for: Callable[[str], RouteTable],
) -> FsckReport:
    report = FsckReport()
    r = store.recovery
    if r.rows_restored:
        report.notes.append(
            f"start-up checks restored {r.rows_restored} lost session row(s) from key files"
        )
    if r.quarantined:
        report.notes.append(
            f"start-up checks moved {r.orphan_segments} segment(s) and {r.orphan_keys} key"
            f" file(s) without an index row and {r.tails} unindexed tail(s) to the quarantine"
        )
    await restore_quarantined(store, keyring, repair, routes_for, report)
    check_indexed(store, keyring, repair, report)
    return report
