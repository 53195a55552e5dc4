"""Retention and key rotation: expired sessions are crypto-shredded, old keys retired."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from collector.config import Settings, dev_instance, retention_cutoffs
from collector.crypto import DataKey, Keyring
from collector.embedded import HEADER, SEGMENT_MAGIC, EmbeddedStore
from collector.exceptions import CorruptRecord
from collector.records import open_batch, read_session, seal_batch
from collector.store import SealedBatch, SessionRecord
from collector.testing import cli, running_collector
from tests.factories import sealed_session

DAY = 86400.0
T0 = 1_800_000_000.0
CANARY = "CANARY-RETENTION-NOTE-3141"
EVENTS = [{"type": 5, "data": {"tag": "t", "payload": {"note": CANARY}}, "timestamp": 1}]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def record(store: EmbeddedStore, keyring: Keyring, session_id: str) -> SessionRecord:
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, session_id))
    for seq in (1, 2):
        assert await store.append(session_id, seal_batch(session, dek, seq, EVENTS))
    return store.get_session(session_id)


def segment_records(raw: bytes) -> list[SealedBatch]:
    """Parse a segment file as docs/storage.md describes it."""
    assert raw.startswith(SEGMENT_MAGIC)
    out, offset = [], len(SEGMENT_MAGIC)
    while offset < len(raw):
        length, _, seq = HEADER.unpack_from(raw, offset)
        body = raw[offset + HEADER.size : offset + HEADER.size + length]
        out.append(SealedBatch(seq, 1, 1, 1, body))
        offset += HEADER.size + length
    return out


def files_of(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())


@pytest.mark.anyio
async def test_expired_sessions_are_shredded_and_a_backup_stays_unreadable(
    tmp_path: Path,
) -> None:
    keyring = Keyring.create(tmp_path / "keyring.json")
    clock = Clock(T0)
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir, clock=clock)
    old = await record(store, keyring, "sess-expiring")
    clock.now = T0 + 20 * DAY
    await record(store, keyring, "sess-keeping")
    backup = tmp_path / "backup.seg"
    shutil.copy(store.segment_path("sess-expiring"), backup)

    settings = Settings(data_dir=data_dir, instances=(dev_instance(),))
    now = T0 + 30 * DAY + 60
    cutoffs = retention_cutoffs(settings.instances, now)
    purged = await store.purge(cutoffs, settings.default_cutoff(now))
    assert purged == ["sess-expiring"]
    assert [s.session_id for s in store.list_sessions()] == ["sess-keeping"]
    assert not store.segment_path("sess-expiring").exists()
    await store.aclose()

    # No file of the data directory still holds the purged session's wrapped key.
    assert old.wrapped_key.blob not in files_of(data_dir)
    result = cli(
        "export",
        "--data-dir",
        data_dir,
        "--keyring",
        keyring.path,
        "--session",
        "sess-expiring",
        check=False,
    )
    assert result.returncode == 2
    assert "no session" in result.stderr
    # The backup copy of the segment: no key in the keyring opens any of its records.
    raw = backup.read_bytes()
    records = segment_records(raw)
    assert [r.seq for r in records] == [1, 2]
    for sealed in records:
        for kek in keyring.keys.values():
            with pytest.raises(CorruptRecord):
                open_batch(old, DataKey(old.wrapped_key.dek_id, kek), sealed)
    assert CANARY.encode() not in raw


def test_purge_command_uses_each_instances_retention(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "keyring.json")
    data_dir = tmp_path / "var"

    async def seed() -> None:
        store = EmbeddedStore(data_dir, clock=lambda: 0.0)  # started at the epoch: long expired
        await record(store, keyring, "sess-ancient")
        await store.aclose()
        store = EmbeddedStore(data_dir)
        await record(store, keyring, "sess-today")
        await store.aclose()

    asyncio.run(seed())
    result = cli("purge", "--data-dir", data_dir, "--keyring", keyring.path, "--dev")
    assert "purged 1 expired session(s)" in result.stdout
    listed = cli("sessions", "--data-dir", data_dir, "--json").stdout
    assert "sess-today" in listed
    assert "sess-ancient" not in listed


@pytest.mark.anyio
async def test_rotate_then_rewrap_retires_the_old_key_and_keeps_sessions_readable(
    tmp_path: Path,
) -> None:
    ring_path = tmp_path / "keyring.json"
    keyring = Keyring.create(ring_path)
    first_kek = keyring.active
    data_dir = tmp_path / "var"
    store = EmbeddedStore(data_dir)
    await record(store, keyring, "sess-rotating")
    await store.aclose()
    index_backup = (data_dir / "index.sqlite3").read_bytes()

    rotated = cli("keys", "rotate", "--keyring", ring_path).stdout
    assert "active key is now" in rotated
    rewrapped = cli("keys", "rewrap", "--data-dir", data_dir, "--keyring", ring_path).stdout
    assert "re-wrapped 1 session key(s)" in rewrapped
    assert "retired 1 key(s)" in rewrapped

    keyring = Keyring.load(ring_path)
    assert first_kek not in keyring.keys
    store = EmbeddedStore(data_dir, writer=False)
    assert store.get_session("sess-rotating").wrapped_key.kek_id == keyring.active
    events = [e for _, e in read_session(store, keyring, "sess-rotating")]
    assert events[0]["data"]["payload"]["note"] == CANARY
    store.close()

    # An index backup from before the rewrap names a key that no longer exists.
    (data_dir / "index.sqlite3").write_bytes(index_backup)
    for name in ("index.sqlite3-wal", "index.sqlite3-shm"):
        (data_dir / name).unlink(missing_ok=True)
    store = EmbeddedStore(data_dir, writer=False)
    with pytest.raises(CorruptRecord, match="not in the keyring"):
        list(read_session(store, keyring, "sess-rotating"))
    store.close()


def test_rewrap_refuses_while_the_collector_writes(tmp_path: Path) -> None:
    with running_collector(tmp_path / "var") as server:
        result = cli(
            "keys",
            "rewrap",
            "--data-dir",
            server.data_dir,
            "--keyring",
            server.keyring,
            check=False,
        )
    assert result.returncode == 2
    assert "in use by another collector" in result.stderr
