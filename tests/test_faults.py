"""Faults a crash test does not reach: a damaged index, damaged records, a full disk.

Issue 11 (items 9-11): start-up never deletes what it cannot prove is garbage; `fsck`
rebuilds the index from the segments and names what it cannot; `export --all` goes on
past a damaged record; a full volume is named, refuses new sessions and heals itself.
Each runs a real collector (or the real store) on real files; the disk-full tests mount
a small tmpfs (the suite runs as root, as CI does).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.crypto import DataKey, Keyring
from collector.embedded import EmbeddedStore
from collector.exceptions import StorageFull
from collector.records import read_session, seal_batch
from collector.testing import cli, export_events, free_port, running_collector, running_process
from tests.factories import sealed_session
from tests.wsclient import (
    batch,
    custom,
    hello,
    new_id,
    open_socket,
    receive,
    refused,
    start_session,
)

CANARY = "CANARY-FAULT-NOTE"
SEGMENT_MAGIC = b"PHIRSEG1"  # docs/storage.md, "Segment files"
RECORD_HEADER = struct.Struct(">IIQ")  # body length, CRC-32 of the body, seq


@dataclass(frozen=True)
class Record:
    offset: int
    seq: int
    length: int
    intact: bool  # its CRC-32 checks


def scan_records(raw: bytes, start: int) -> tuple[list[Record], int]:
    """Records back to back from `start`, as docs/storage.md lays them out; and where the
    last whole one ends."""
    records, at = [], start
    while len(raw) - at >= RECORD_HEADER.size:
        length, crc, seq = RECORD_HEADER.unpack_from(raw, at)
        end = at + RECORD_HEADER.size + length
        if end > len(raw):
            break
        intact = zlib.crc32(raw[at + RECORD_HEADER.size : end]) == crc
        records.append(Record(at, seq, end - at, intact))
        at = end
    return records, at


def _note(session_id: str, seq: int) -> str:
    return f"{CANARY}-{session_id}-{seq}"


def _events(session_id: str, seq: int) -> list[dict[str, Any]]:
    return [
        {
            "type": 5,
            "data": {"tag": "t", "payload": {"note": _note(session_id, seq)}},
            "timestamp": 1_000 * seq,
        }
    ]


def _exported(data_dir: Path, keyring: Path) -> set[tuple[str, int, str]]:
    """(session, seq, note) of every exported event."""
    return {
        (e["session_id"], e["seq"], e["event"]["data"]["payload"]["note"])
        for e in export_events(data_dir, keyring)
    }


def _records_on_disk(data_dir: Path) -> set[tuple[str, int]]:
    """(session, seq) of every whole record (length and CRC check) in any file under the
    data directory: live segments and whatever start-up moved aside."""
    found = set()
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.suffix not in (".seg", ".tail"):
            continue
        raw = path.read_bytes()
        start = len(SEGMENT_MAGIC) if raw.startswith(SEGMENT_MAGIC) else 0
        records, _ = scan_records(raw, start)
        session_id = path.name.split(".", 1)[0]
        found |= {(session_id, r.seq) for r in records if r.intact}
    return found


def _fsck(data_dir: Path, keyring: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli("fsck", "--data-dir", data_dir, "--keyring", keyring, *extra, check=False)


# -- item 11: a damaged index never makes the collector delete data --------------------


def test_a_wal_cut_in_half_loses_no_acknowledged_batch_and_fsck_restores_them(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    acked: set[tuple[str, int, str]] = set()
    sessions = [new_id("sess") for _ in range(10)]
    with running_collector(data_dir) as server:
        # One session after the other: the later ones' rows live only in the WAL's end.
        for session_id in sessions:
            ws, _ = start_session(server.ws_url, session_id)
            for seq in range(1, 11):
                ws.send(batch(seq, custom(1_000 * seq, note=_note(session_id, seq))))
                assert receive(ws) == {"type": "ack", "seq": seq}
                acked.add((session_id, seq, _note(session_id, seq)))
            ws.close()
        server.proc.kill()  # the WAL stays as it was: nothing checkpointed it
        server.proc.wait()
        keyring = server.keyring
    wal = data_dir / "index.sqlite3-wal"
    size = wal.stat().st_size
    assert size > 0
    os.truncate(wal, size // 2)
    (data_dir / "index.sqlite3-shm").unlink()

    with running_collector(data_dir, keyring=keyring) as server:
        log = server.log
    assert _records_on_disk(data_dir) >= {(s, q) for s, q, _ in acked}, (
        "start-up deleted acknowledged records"
    )
    survived = _exported(data_dir, keyring)
    assert survived < acked, "the cut WAL lost index rows: otherwise this proves nothing"
    text = log.read_text()
    assert "moved to" in text
    assert "deleting nothing" in text
    assert CANARY not in text
    assert "restored them from their key files" in text
    assert len(list((data_dir / "quarantine" / "tails").iterdir())) > 1

    report = _fsck(data_dir, keyring)
    assert report.returncode == 1, report.stdout + report.stderr
    assert "restorable: session" in report.stdout
    assert "--repair" in report.stdout

    repaired = _fsck(data_dir, keyring, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "restored" in repaired.stdout
    assert _exported(data_dir, keyring) == acked, "fsck --repair brings every batch back"
    assert not [p for p in (data_dir / "quarantine").rglob("*") if p.is_file()]
    again = _fsck(data_dir, keyring)
    assert again.returncode == 0, again.stdout
    # The recorder's next batch lands after the restored ones.
    with running_collector(data_dir, keyring=keyring) as server:
        ws, next_seq = start_session(server.ws_url, sessions[-1])
        assert next_seq == 11
        ws.close()


@pytest.mark.anyio
async def test_a_segment_whose_row_is_lost_is_kept_and_its_session_resumes_under_its_key(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    raw: dict[str, bytes] = {}
    for session_id in ("sess-orphan01", "sess-nokey001"):
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, session_id))
        for seq in (1, 2, 3):
            sealed = seal_batch(session, dek, seq, _events(session_id, seq))
            assert await store.append(session_id, sealed)
        raw[session_id] = store.segment_path(session_id).read_bytes()
    orphan = store.get_session("sess-orphan01")
    segment = store.segment_path("sess-orphan01")
    await store.aclose()
    next(data_dir.glob("keys/*/sess-nokey001.key")).unlink()  # as before key files
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:  # an index that lost the sessions' rows (an older copy, a cut WAL)
        db.execute("DELETE FROM batches")
        db.execute("DELETE FROM sessions")
    db.close()

    store = EmbeddedStore(data_dir)
    # The row is back from the key file: a resuming recorder keeps the session's key.
    back = store.get_session("sess-orphan01")
    assert (back.wrapped_key, back.user, back.tab_id, back.started_at) == (
        orphan.wrapped_key,
        orphan.user,
        orphan.tab_id,
        orphan.started_at,
    )
    await store.aclose()
    [tail] = (data_dir / "quarantine" / "tails").glob("sess-orphan01.*")
    assert tail.read_bytes() == raw["sess-orphan01"][len(SEGMENT_MAGIC) :], "byte for byte"
    assert segment.read_bytes() == SEGMENT_MAGIC
    # Without a key file the segment cannot stay: it leaves segments/ whole.
    [whole] = (data_dir / "quarantine" / "orphans").glob("sess-nokey001*")
    assert whole.read_bytes() == raw["sess-nokey001"]

    result = _fsck(data_dir, keyring.path, "--repair")
    assert result.returncode == 1, "the session without a key file cannot come back"
    assert "session sess-nokey001: its quarantined records cannot be restored" in result.stdout
    exported = _exported(data_dir, keyring.path)
    assert exported == {("sess-orphan01", s, _note("sess-orphan01", s)) for s in (1, 2, 3)}
    store = EmbeddedStore(data_dir, writer=False)
    restored = store.get_session("sess-orphan01")
    store.close()
    assert (restored.event_count, restored.batch_count, restored.next_seq) == (3, 3, 4)
    assert (restored.first_ts, restored.last_ts) == (1_000, 3_000)
    assert whole.exists(), "what fsck cannot restore stays"


@pytest.mark.anyio
async def test_an_interrupted_purge_is_finished_and_only_its_own_files_go(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    ids = ("sess-purged01", "sess-reused01")
    for session_id in ids:
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, session_id))
        assert await store.append(session_id, seal_batch(session, dek, 1, _events(session_id, 1)))
    paths = {sid: (store.segment_path(sid), store.key_path(sid)) for sid in ids}
    await store.aclose()
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:  # a purge that stopped after its transaction, before unlinking its files
        for session_id in ids:
            (dek_id,) = db.execute(
                "SELECT dek_id FROM sessions WHERE session_id = ?", (session_id,)
            ).fetchone()
            # The second id's files belong to a later session under another data key.
            dek_id = dek_id if session_id == "sess-purged01" else "another-dek"
            db.execute("DELETE FROM batches WHERE session_id = ?", (session_id,))
            db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
            db.execute("INSERT INTO purged VALUES (?, ?)", (session_id, dek_id))
    db.close()

    store = EmbeddedStore(data_dir)
    await store.aclose()
    segment, key = paths["sess-purged01"]
    assert not segment.exists(), "proven garbage: deleted"
    assert not key.exists(), "proven garbage: shredded"
    quarantined = {p.name for p in (data_dir / "quarantine").rglob("*") if p.is_file()}
    assert quarantined == {"sess-reused01.8.tail"}, "no proof: its records are kept"
    store = EmbeddedStore(data_dir, writer=False)
    assert [s.session_id for s in store.list_sessions()] == ["sess-reused01"]
    store.close()


@pytest.mark.anyio
async def test_rewrap_rewrites_key_files_so_fsck_restores_under_the_active_key(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, "sess-rewrap01"))
    assert await store.append(session.session_id, seal_batch(session, dek, 1, _events("r", 1)))
    await store.aclose()
    old_kek = keyring.active
    keyring.rotate()
    assert cli("keys", "rewrap", "--data-dir", data_dir, "--keyring", keyring.path).returncode == 0
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:
        db.execute("DELETE FROM batches")
        db.execute("DELETE FROM sessions")
    db.close()

    result = _fsck(data_dir, keyring.path, "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    store = EmbeddedStore(data_dir, writer=False)
    restored = store.get_session("sess-rewrap01")
    store.close()
    assert restored.wrapped_key.kek_id != old_kek, "the key file followed the rewrap"
    assert _exported(data_dir, keyring.path) == {("sess-rewrap01", 1, _note("r", 1))}


@pytest.mark.anyio
async def test_sqlite_out_of_space_is_named_not_an_operational_error(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    store = EmbeddedStore(tmp_path / "var")
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, "sess-sqlfull1"))
    (pages,) = store._db.execute("PRAGMA page_count").fetchone()
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL

    async def index_until_full() -> None:
        for seq in range(1, 500):
            events = _events("q", seq)  # soon one more row needs a page SQLite may not add
            await store.append(session.session_id, seal_batch(session, dek, seq, events))

    with pytest.raises(StorageFull, match="no space left on device on the volume holding"):
        await index_until_full()
    store._db.execute("PRAGMA max_page_count = 1073741823")
    await store.aclose()


@pytest.mark.anyio
async def test_sessions_indexed_before_key_files_get_them_at_the_first_start(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, "sess-legacy01"))
    assert await store.append(session.session_id, seal_batch(session, dek, 1, _events("l", 1)))
    await store.aclose()
    for path in data_dir.glob("keys/*/*.key"):  # as an older collector left the directory
        path.unlink()
    db = sqlite3.connect(data_dir / "index.sqlite3")
    db.execute("PRAGMA user_version = 1")
    db.close()

    EmbeddedStore(data_dir).close()
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:  # and now the index loses the row
        db.execute("DELETE FROM batches")
        db.execute("DELETE FROM sessions")
    db.close()
    result = _fsck(data_dir, keyring.path, "--repair")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _exported(data_dir, keyring.path) == {("sess-legacy01", 1, _note("l", 1))}


# -- fsck: rebuilds a deleted index, names what it cannot ----------------------------------


def _sessions_json(data_dir: Path) -> dict[str, dict[str, Any]]:
    out = cli("sessions", "--data-dir", data_dir, "--json").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return {r["session_id"]: r for r in rows}


def test_fsck_rebuilds_a_deleted_index_and_names_what_it_cannot(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    ids = [new_id("sess") for _ in range(3)]
    with running_collector(data_dir) as server:
        for session_id in ids:
            ws, _ = start_session(server.ws_url, session_id)
            for seq in (1, 2):
                ws.send(batch(seq, custom(1_000 * seq, note=_note(session_id, seq))))
                assert receive(ws)["type"] == "ack"
            ws.close()
        keyring = server.keyring
    before = _exported(data_dir, keyring)
    listed = _sessions_json(data_dir)
    legacy = ids[0]  # a session indexed before key files existed: its key was only in the row
    next(data_dir.glob(f"keys/*/{legacy}.key")).unlink()
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (data_dir / name).unlink(missing_ok=True)

    report = _fsck(data_dir, keyring)
    assert report.returncode == 1
    assert "index.sqlite3 is missing" in report.stdout

    repaired = _fsck(data_dir, keyring, "--repair")
    assert repaired.returncode == 1, "something could not be recovered: not clean"
    out = repaired.stdout
    assert f"problem: session {legacy}: its quarantined records cannot be restored" in out
    assert "data key was only in the index row that was lost" in out
    assert "console users, their logins and the audit trail" in out
    assert CANARY not in out
    assert _exported(data_dir, keyring) == {e for e in before if e[0] != legacy}
    rebuilt = _sessions_json(data_dir)
    assert set(rebuilt) == set(ids[1:])
    for session_id in ids[1:]:
        for column in ("user", "environment", "started_at", "event_count", "duration_ms", "pages"):
            assert rebuilt[session_id][column] == listed[session_id][column], column
    # What it could not restore stays where it was, for a backup's key to open later.
    assert list((data_dir / "quarantine" / "orphans").glob(f"{legacy}*.seg"))

    (data_dir / "index.sqlite3").write_bytes(b"CANARY-NOT-A-DATABASE" * 200)
    report = _fsck(data_dir, keyring)
    assert report.returncode == 1
    assert "index.sqlite3 is damaged: SQLite cannot read it" in report.stdout
    repaired = _fsck(data_dir, keyring, "--repair")
    assert "moved to" in repaired.stdout, repaired.stdout + repaired.stderr
    [aside] = (data_dir / "quarantine").glob("index-*/index.sqlite3")
    assert aside.read_bytes().startswith(b"CANARY-NOT-A-DATABASE"), "set aside, not deleted"
    assert _exported(data_dir, keyring) == {e for e in before if e[0] != legacy}


# -- item 10: export --all goes on past a damaged record ----------------------------------


@pytest.mark.anyio
async def test_export_all_names_each_damaged_record_and_exports_everything_else(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    ids = ["sess-first001", "sess-\x1b[2J-evil", "sess-third001"]  # one id a terminal would obey
    for session_id in ids:
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, session_id))
        for seq in (1, 2, 3):
            sealed = seal_batch(session, dek, seq, _events(session_id, seq))
            assert await store.append(session_id, sealed)
    damaged = store.segment_path(ids[1])
    await store.aclose()
    raw = bytearray(damaged.read_bytes())
    records, _ = scan_records(bytes(raw), len(SEGMENT_MAGIC))
    second = records[1]
    raw[second.offset + second.length - 5] ^= 0x01  # a flipped bit inside seq 2's body
    damaged.write_bytes(bytes(raw))

    result = cli("export", "--data-dir", data_dir, "--keyring", keyring.path, "--all", check=False)
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    got = {(e["session_id"], e["seq"]) for e in lines}
    wanted = {(sid, seq) for sid in ids for seq in (1, 2, 3)} - {(ids[1], 2)}
    assert got == wanted, "the damaged session's later batch and the sessions after it too"
    assert "\x1b" not in result.stderr, "recorder-chosen ids reach the terminal escaped"
    assert "session sess-\\x1b[2J-evil seq 2: CRC mismatch" in result.stderr
    assert "1 record(s) and 1 session(s) could not be read in full" in result.stderr
    assert CANARY not in result.stderr

    # A record that passes its CRC but not its authentication tag: "does not decrypt".
    raw = bytearray(damaged.read_bytes())
    third = records[2]
    body = bytearray(raw[third.offset + 16 : third.offset + third.length])
    body[20] ^= 0x01
    raw[third.offset + 4 : third.offset + 8] = zlib.crc32(body).to_bytes(4, "big")
    raw[third.offset + 16 : third.offset + third.length] = body
    damaged.write_bytes(bytes(raw))
    result = cli("export", "--data-dir", data_dir, "--keyring", keyring.path, "--all", check=False)
    assert result.returncode == 1
    assert "seq 3: does not decrypt (authentication tag does not verify)" in result.stderr

    # fsck names both, and --repair cannot make them readable: it says so, deletes nothing.
    for extra in ((), ("--repair",)):
        checked = _fsck(data_dir, keyring.path, *extra)
        assert checked.returncode == 1
        assert "problem: session sess-\\x1b[2J-evil seq 2: CRC mismatch" in checked.stdout
        assert "seq 3: does not decrypt (authentication tag does not verify)" in checked.stdout
        assert "\x1b" not in checked.stdout
    assert damaged.read_bytes() == bytes(raw)


@pytest.mark.anyio
async def test_records_the_index_names_but_a_segment_lost_are_named_missing(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, "sess-shorter1"))
    for seq in (1, 2):
        sealed = seal_batch(session, dek, seq, _events("m", seq))
        assert await store.append(session.session_id, sealed)
    segment = store.segment_path(session.session_id)
    await store.aclose()
    records, _ = scan_records(segment.read_bytes(), len(SEGMENT_MAGIC))
    os.truncate(segment, records[1].offset + 5)  # an older copy of the segment, restored

    checked = _fsck(data_dir, keyring.path)
    assert checked.returncode == 1
    assert "problem: session sess-shorter1 seq 2: truncated: missing from its segment" in (
        checked.stdout
    )
    result = cli("export", "--data-dir", data_dir, "--keyring", keyring.path, "--all", check=False)
    assert result.returncode == 1
    assert {json.loads(line)["seq"] for line in result.stdout.splitlines()} == {1}
    assert "seq 2: truncated: missing from its segment" in result.stderr


# -- item 9: a full disk --------------------------------------------------------------


@contextlib.contextmanager
def _small_volume(path: Path, size: str = "24m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    path.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def _fill(volume: Path) -> Path:
    """Fill the volume to the last byte; returns the filler, to free the space again."""
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


@pytest.mark.anyio
async def test_a_full_volume_is_named_refuses_new_sessions_and_heals_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    with _small_volume(tmp_path / "vol") as volume:
        data_dir = volume / "var"
        store = EmbeddedStore(data_dir)
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, "sess-full0001"))
        assert await store.append(session.session_id, seal_batch(session, dek, 1, _events("s", 1)))
        assert store.health() == []
        filler = _fill(volume)

        with pytest.raises(StorageFull, match="no space left on device on the volume holding"):
            await store.append(session.session_id, seal_batch(session, dek, 2, _events("s", 2)))
        [problem] = store.health()
        assert problem.startswith(
            f"disk full: no space left on device on the volume holding {data_dir}"
        )
        assert any(
            "no space left on device" in r.getMessage() and r.levelname == "ERROR"
            for r in caplog.records
        )
        fresh = DataKey.generate()
        with pytest.raises(StorageFull):
            await store.open_session(sealed_session(keyring, fresh, "sess-full0002"))
        # An existing session is not refused (its batches fail while full, and retry).
        assert (await store.open_session(session)).session_id == session.session_id

        filler.unlink()
        assert store.health() == [], "space is back: ready again, no restart"
        other = await store.open_session(sealed_session(keyring, fresh, "sess-full0002"))
        assert await store.append(other.session_id, seal_batch(other, fresh, 1, _events("o", 1)))
        stored = [seq for seq, _ in read_session(store, keyring, session.session_id)]
        await store.aclose()
    assert stored == list(range(1, len(stored) + 1)), "every acked batch, in order"


@pytest.mark.anyio
async def test_start_up_on_a_full_volume_keeps_an_unindexed_tail_until_it_can_be_kept(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    with _small_volume(tmp_path / "vol") as volume:
        data_dir = volume / "var"
        store = EmbeddedStore(data_dir)
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, "sess-fullboot"))
        bulky = [{"type": 5, "data": {"note": os.urandom(300_000).hex()}, "timestamp": 2}]
        for seq, events in ((1, _events("b", 1)), (2, bulky)):  # seq 2: ~300 KB sealed
            assert await store.append(session.session_id, seal_batch(session, dek, seq, events))
        segment = store.segment_path(session.session_id)
        await store.aclose()
        db = sqlite3.connect(data_dir / "index.sqlite3")
        with db:  # seq 2's row lost: its record is an unindexed tail now
            db.execute("DELETE FROM batches WHERE seq = 2")
        db.close()
        raw = segment.read_bytes()
        filler = _fill(volume)

        with pytest.raises(StorageFull, match="cannot open the index: no space left on dev"):
            EmbeddedStore(data_dir)
        os.truncate(filler, filler.stat().st_size - 256 * 1024)  # room for SQLite, no more
        with pytest.raises(StorageFull, match="before it may cut them, and no space left"):
            EmbeddedStore(data_dir)
        assert segment.read_bytes() == raw, "nothing cut that was not kept first"

        filler.unlink()
        EmbeddedStore(data_dir).close()
        [tail] = (data_dir / "quarantine" / "tails").iterdir()
        assert not [p for p in (data_dir / "quarantine").rglob(".*.tmp")]
        assert len(segment.read_bytes()) + len(tail.read_bytes()) == len(raw)


def test_a_full_volume_refuses_sockets_clearly_and_loses_nothing_acked(tmp_path: Path) -> None:
    with _small_volume(tmp_path / "vol") as volume:
        data_dir = volume / "var"
        keyring = tmp_path / "keyring.json"
        log = tmp_path / "collector.log"  # off the full volume: the log must get through
        port = free_port()
        argv: list[str | Path] = [
            sys.executable,
            "-m",
            "collector",
            "serve",
            "--dev",
            "--port",
            str(port),
            "--data-dir",
            data_dir,
            "--keyring",
            keyring,
        ]
        url = f"ws://127.0.0.1:{port}/v1/ingest"
        with running_process(argv, f"http://127.0.0.1:{port}/healthz", log):
            first = new_id("sess")
            ws, _ = start_session(url, first)
            for seq in (1, 2):
                ws.send(batch(seq, custom(seq, note=_note(first, seq))))
                assert receive(ws) == {"type": "ack", "seq": seq}
            filler = _fill(volume)
            ws.send(batch(3, custom(3, note=_note(first, 3) + "x" * 200_000)))
            error, code, _ = refused(ws)
            assert error["code"] in ("storage_full", "internal"), error

            later = new_id("sess")
            ws = open_socket(url)
            ws.send(hello(later))
            error, code, _ = refused(ws)
            assert (error["code"], code) == ("storage_full", 1013), error
            assert str(data_dir) not in error["reason"], "the browser learns no server paths"
            text = log.read_text()
            assert f"no space left on device on the volume holding {data_dir}" in text
            assert "code=storage_full" in text
            assert "Traceback" not in text

            filler.unlink()
            ws, next_seq = start_session(url, later)  # no restart
            ws.send(batch(1, custom(1, note=_note(later, 1))))
            assert receive(ws) == {"type": "ack", "seq": 1}
            ws.close()
            ws, next_seq = start_session(url, first)
            assert next_seq == 3
            ws.send(batch(3, custom(3, note=_note(first, 3))))
            assert receive(ws) == {"type": "ack", "seq": 3}
            ws.close()
        exported = _exported(data_dir, keyring)
    assert exported == {(first, s, _note(first, s)) for s in (1, 2, 3)} | {
        (later, 1, _note(later, 1))
    }


def test_export_says_when_the_quarantine_holds_what_it_did_not_export(tmp_path: Path) -> None:
    """Between a damaged start and `fsck --repair`, an export is incomplete: it says so."""
    keyring = Keyring.create(tmp_path / "k.json")
    data_dir = tmp_path / "var"
    EmbeddedStore(data_dir).close()
    tails = data_dir / "quarantine" / "tails"
    tails.mkdir(parents=True)
    (tails / "sess-lost00001.16.tail").write_bytes(b"\0" * 32)
    result = cli("export", "--data-dir", data_dir, "--keyring", keyring.path, "--all", check=False)
    assert "holds 1 file(s) start-up set aside, not exported" in result.stderr
    assert "phi-replay fsck --repair" in result.stderr
