"""The retention ratchet: a backup of the data directory taken before a purge stays
unreadable after it, with the live keyring, without the operator doing anything
(docs/adr/0022-retention-ratchet.md). Real store, real keyring files, CLI subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from collector.app import advance_ratchet, purge_expired
from collector.config import Settings, dev_instance
from collector.crypto import DataKey, Keyring, utc_day
from collector.embedded import EmbeddedStore
from collector.exceptions import CorruptRecord, RetentionKeyDestroyed
from collector.instances import InstanceRegistry
from collector.records import read_session, seal_batch
from collector.store import SessionRecord
from collector.testing import cli, running_collector
from tests.factories import sealed_session

DAY = 86400.0
CANARY = "CANARY-RATCHET-NOTE-2718"
EVENTS = [{"type": 5, "data": {"tag": "t", "payload": {"note": CANARY}}, "timestamp": 1}]


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def days_ago(n: float) -> float:
    return time.time() - n * DAY


def YESTERDAY() -> date:
    return utc_day(time.time()) - timedelta(days=1)


async def record(
    store: EmbeddedStore, keyring: Keyring, session_id: str, instance: str = "dev"
) -> SessionRecord:
    dek = DataKey.generate()
    session = await store.open_session(sealed_session(keyring, dek, session_id, instance))
    for seq in (1, 2):
        assert await store.append(session_id, seal_batch(session, dek, seq, EVENTS))
    return store.get_session(session_id)


def seed(data_dir: Path, keyring: Keyring, clock: Clock, sessions: dict[str, float]) -> None:
    """Sessions started (collector clock and ratchet epoch alike) `age` days ago."""

    async def run() -> None:
        for session_id, age in sessions.items():
            clock.now = days_ago(age)
            store = EmbeddedStore(data_dir, clock=clock)
            await record(store, keyring, session_id)
            await store.aclose()

    asyncio.run(run())


def export_all(data_dir: Path, keyring: Path) -> subprocess.CompletedProcess[str]:
    return cli("export", "--data-dir", data_dir, "--keyring", keyring, "--all", check=False)


def exported_sessions(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {json.loads(line)["session_id"] for line in result.stdout.splitlines()}


def test_a_backup_restored_after_a_purge_does_not_open_the_purged_session(
    tmp_path: Path,
) -> None:
    clock = Clock(days_ago(40))
    ring_path = tmp_path / "keyring.json"
    keyring = Keyring.create(ring_path, clock=clock)
    data_dir = tmp_path / "var"
    seed(data_dir, keyring, clock, {"sess-expiring": 40, "sess-keeping": 2})
    backup = tmp_path / "backup-var"
    shutil.copytree(data_dir, backup)  # the nightly backup, both sessions still live
    assert exported_sessions(export_all(backup, ring_path)) == {"sess-expiring", "sess-keeping"}

    purged = cli("purge", "--data-dir", data_dir, "--keyring", ring_path, "--dev")
    assert "purged 1 expired session(s)" in purged.stdout
    ratchet = Keyring.load(ring_path).ratchet
    assert ratchet is not None
    assert ratchet.day == YESTERDAY()
    assert set(ratchet.kept) == {("dev", utc_day(days_ago(2)))}  # the live session's day only

    # The disaster: the data directory is restored from the backup, beside the live keyring.
    restored = tmp_path / "restored-var"
    shutil.copytree(backup, restored)
    result = export_all(restored, ring_path)
    assert result.returncode == 1
    assert exported_sessions(result) == {"sess-keeping"}
    assert CANARY in result.stdout  # the session within retention reads as before
    assert (
        "session sess-expiring: its retention key was destroyed: the session expired and was"
        " purged" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "right --keyring" not in result.stderr

    # And not by any key the live keyring holds, whichever way it is tried.
    reader = EmbeddedStore(restored, writer=False)
    try:
        old = reader.get_session("sess-expiring")
        with pytest.raises(RetentionKeyDestroyed):
            Keyring.load(ring_path).unwrap(old.wrapped_key, old.instance, old.session_id)
    finally:
        reader.close()

    fsck = cli("fsck", "--data-dir", restored, "--keyring", ring_path, check=False)
    assert "sess-expiring: its data key does not unwrap (its retention key was destroyed" in (
        fsck.stdout + fsck.stderr
    )


def test_a_long_retention_instance_keeps_only_its_own_days_and_the_root_stops_at_yesterday(
    tmp_path: Path,
) -> None:
    clock = Clock(days_ago(120))
    ring_path = tmp_path / "keyring.json"
    keyring = Keyring.create(ring_path, clock=clock)
    archive = dev_instance().model_copy(update={"name": "archive", "retention_days": 3650})
    settings = Settings(data_dir=tmp_path / "var", instances=(dev_instance(), archive))
    backup = tmp_path / "backup-var"

    async def run() -> None:
        store = EmbeddedStore(settings.data_dir, clock=clock)
        for session_id, instance, age in (
            ("sess-archive", "archive", 100),  # ten-year retention: kept
            ("sess-dev-old", "dev", 50),  # 30 days: expired, though younger than the archive
            ("sess-dev-live", "dev", 20),
            ("sess-dev-mate", "dev", 50),  # same day as sess-dev-old, also expired
        ):
            clock.now = days_ago(age)
            await record(store, keyring, session_id, instance)
        await store.aclose()
        shutil.copytree(settings.data_dir, backup)

        clock.now = time.time()
        store = EmbeddedStore(settings.data_dir)
        registry = InstanceRegistry(store.control, settings)
        registry.import_file(settings.instances, "config file")  # as serve does
        assert await purge_expired(settings, store, time.time(), registry, keyring) == 2
        # The root goes to yesterday whatever is stored; older days keep a key only where
        # a live session of that instance and day needs it.
        ratchet = keyring.ratchet
        assert ratchet is not None
        assert ratchet.day == YESTERDAY()
        assert set(ratchet.kept) == {
            ("archive", utc_day(days_ago(100))),
            ("dev", utc_day(days_ago(20))),
        }
        assert Keyring.load(ring_path).ratchet == ratchet
        for session_id in ("sess-archive", "sess-dev-live"):
            events = [e for _, e in read_session(store, keyring, session_id)]
            assert events[0]["data"]["payload"]["note"] == CANARY

        # Not past yesterday: a key wrapped today (its row perhaps not yet written when the
        # purge looked) opens after another advance with nothing of today in use.
        today = await record(store, keyring, "sess-today")
        assert today.wrapped_key.epoch == utc_day(time.time()).isoformat()
        assert len(await store.purge({}, time.time() + 1)) == 3  # everything, then advance
        await advance_ratchet(store, keyring)
        assert keyring.ratchet == ratchet.advanced(YESTERDAY(), set())
        assert keyring.ratchet.kept == {}
        dek = keyring.unwrap(today.wrapped_key, today.instance, today.session_id)
        assert dek.dek_id == today.wrapped_key.dek_id
        await store.aclose()

    asyncio.run(run())
    # A single ratchet held at the archive's day would have kept sess-dev-old's key too.
    restored = export_all(backup, ring_path)
    assert restored.returncode == 1
    assert exported_sessions(restored) == set()
    assert "session sess-dev-old: its retention key was destroyed" in restored.stderr
    assert "session sess-archive: its retention key was destroyed" in restored.stderr


@contextlib.contextmanager
def read_only_directory(path: Path) -> Iterator[None]:
    """A directory nobody can write: a read-only tmpfs for root (who ignores modes),
    mode 0500 for anyone else."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(path)], check=True)
    else:
        path.chmod(0o500)
        try:
            yield
        finally:
            path.chmod(0o700)


@contextlib.contextmanager
def own_directory(path: Path) -> Iterator[Path]:
    path.mkdir()
    if os.geteuid() == 0:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(path)], check=True
        )
    try:
        yield path
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def test_a_read_only_keyring_warns_and_the_purge_is_still_done(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(days_ago(40))
    with own_directory(tmp_path / "etc") as etc:
        keyring = Keyring.create(etc / "keyring.json", clock=clock)
        keyring_bytes = keyring.path.read_bytes()
        settings = Settings(data_dir=tmp_path / "var", instances=(dev_instance(),))

        async def run() -> int:
            clock.now = days_ago(40)
            store = EmbeddedStore(settings.data_dir, clock=clock)
            await record(store, keyring, "sess-expiring")
            clock.now = days_ago(2)
            await record(store, keyring, "sess-keeping")
            clock.now = time.time()
            try:
                return await purge_expired(settings, store, time.time(), keyring=keyring)
            finally:
                await store.aclose()

        with read_only_directory(etc), caplog.at_level(logging.WARNING):
            assert asyncio.run(run()) == 1
        assert keyring.path.read_bytes() == keyring_bytes  # untouched, and nothing crashed
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert str(keyring.path) in warnings[0]
        assert (
            "backups taken before this purge stay readable until the ratchet can advance"
            in (warnings[0])
        )
        listed = cli("sessions", "--data-dir", settings.data_dir, "--json").stdout
        assert "sess-keeping" in listed
        assert "sess-expiring" not in listed

        # Writable again: the next purge advances it.
        async def again() -> None:
            store = EmbeddedStore(settings.data_dir)
            await purge_expired(settings, store, time.time(), keyring=keyring)
            await store.aclose()

        asyncio.run(again())
        ratchet = Keyring.load(keyring.path).ratchet
        assert ratchet is not None
        assert ratchet.day == YESTERDAY()
        assert set(ratchet.kept) == {("dev", utc_day(days_ago(2)))}


def legacy_keyring(path: Path) -> None:
    """Strip the ratchet: a keyring as versions before it wrote one."""
    doc = json.loads(path.read_text())
    del doc["ratchet"]
    path.write_text(json.dumps(doc))
    path.chmod(0o600)


def test_legacy_sessions_still_open_and_after_rewrap_a_backup_of_them_is_shredded(
    tmp_path: Path,
) -> None:
    ring_path = tmp_path / "keyring.json"
    clock = Clock(days_ago(60))
    Keyring.create(ring_path, clock=clock)
    legacy_keyring(ring_path)
    data_dir = tmp_path / "var"
    legacy = Keyring.load(ring_path)
    assert legacy.ratchet is None
    seed(data_dir, legacy, clock, {"sess-legacy-old": 40, "sess-legacy-new": 2})
    store = EmbeddedStore(data_dir, writer=False)
    assert {s.wrapped_key.epoch for s in store.list_sessions()} == {""}
    store.close()
    # Wrapped under the KEK alone, as before the ratchet: they open as they always did,
    # with a keyring that has gained a ratchet since.
    Keyring.load(ring_path, clock=Clock(days_ago(50))).ensure_ratchet()
    before = export_all(data_dir, ring_path)
    assert before.returncode == 0
    assert exported_sessions(before) == {"sess-legacy-old", "sess-legacy-new"}
    # The upgrade happened 50 days ago: the ratchet starts then, and rewrap puts each
    # legacy session at its own start day.
    rewrapped = cli("keys", "rewrap", "--data-dir", data_dir, "--keyring", ring_path)
    assert "re-wrapped 2 session key(s)" in rewrapped.stdout
    store = EmbeddedStore(data_dir, writer=False)
    epochs = {s.session_id: s.wrapped_key.epoch for s in store.list_sessions()}
    key_file = json.loads(store.key_path("sess-legacy-old").read_bytes())
    store.close()
    assert epochs == {
        "sess-legacy-old": utc_day(days_ago(40)).isoformat(),
        "sess-legacy-new": utc_day(days_ago(2)).isoformat(),
    }
    assert key_file["epoch"] == epochs["sess-legacy-old"]  # fsck restores the same key

    backup = tmp_path / "backup-var"
    shutil.copytree(data_dir, backup)
    cli("purge", "--data-dir", data_dir, "--keyring", ring_path, "--dev")
    result = export_all(backup, ring_path)
    assert result.returncode == 1
    assert exported_sessions(result) == {"sess-legacy-new"}
    assert "session sess-legacy-old: its retention key was destroyed" in result.stderr


def test_two_keyring_copies_advanced_independently_derive_the_same_key(tmp_path: Path) -> None:
    start = days_ago(30)
    day0 = utc_day(start)
    first = Keyring.create(tmp_path / "a.json", clock=Clock(start))
    shutil.copy(first.path, tmp_path / "b.json")
    second = Keyring.load(tmp_path / "b.json", clock=Clock(start))
    in_use = {("dev", day0 + timedelta(days=3)), ("archive", day0 + timedelta(days=1))}

    # One purges every day, the other once, ten days on: same sessions, same keys.
    for n in range(1, 11):
        first.clock = Clock(start + (n + 1) * DAY)  # the root goes to the day before
        assert first.advance_ratchet(in_use)
    second.clock = Clock(start + 11 * DAY)
    assert second.advance_ratchet(in_use)
    a, b = Keyring.load(first.path), Keyring.load(second.path)
    assert a.ratchet is not None
    assert b.ratchet is not None
    assert a.ratchet.day == day0 + timedelta(days=10)
    assert a.ratchet == b.ratchet  # root, its day and every kept day key
    assert not second.advance_ratchet(in_use)  # nothing new: no rewrite

    # A key wrapped by one copy opens with the other, for a day still in use and a later
    # day alike; once a day is out of use, neither has its key.
    dek = DataKey.generate()
    for day in (day0 + timedelta(days=3), day0 + timedelta(days=12)):
        wrapped = a.wrap(dek, "dev", "sess-shared", epoch=day)
        assert wrapped.epoch == day.isoformat()
        assert b.unwrap(wrapped, "dev", "sess-shared").key == dek.key
    kept = a.wrap(dek, "dev", "sess-shared", epoch=day0 + timedelta(days=3))
    assert b.advance_ratchet({("archive", day0 + timedelta(days=1))})  # the dev day purged
    with pytest.raises(RetentionKeyDestroyed):
        b.unwrap(kept, "dev", "sess-shared")
    # Another instance's key of the same day is another key.
    with pytest.raises(CorruptRecord):
        a.unwrap(kept, "archive", "sess-shared")
    # The epoch is bound: relabelling the day does not open the key under another day's.
    moved = type(kept)(kept.dek_id, kept.kek_id, kept.blob, (day0 + timedelta(days=12)).isoformat())
    with pytest.raises(CorruptRecord):
        a.unwrap(moved, "dev", "sess-shared")


def test_an_index_from_before_the_ratchet_gains_the_epoch_column_and_keeps_its_keys(
    tmp_path: Path,
) -> None:
    ring_path = tmp_path / "keyring.json"
    Keyring.create(ring_path)
    legacy_keyring(ring_path)
    data_dir = tmp_path / "var"
    seed(data_dir, Keyring.load(ring_path), Clock(0), {"sess-before": 1})
    # The index as the previous version left it: no epoch column, user_version 2.
    conn = sqlite3.connect(data_dir / "index.sqlite3")
    conn.execute("ALTER TABLE sessions DROP COLUMN epoch")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    # A reader (the CLI, serve not yet upgraded) reads it as it is...
    assert exported_sessions(export_all(data_dir, ring_path)) == {"sess-before"}
    # ...and the first writer adds the column: the session keeps its KEK-only key.
    store = EmbeddedStore(data_dir)
    assert store.get_session("sess-before").wrapped_key.epoch == ""
    store.close()
    conn = sqlite3.connect(data_dir / "index.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone() == (3,)
    conn.close()
    assert exported_sessions(export_all(data_dir, ring_path)) == {"sess-before"}


def test_serve_advances_the_ratchet_at_its_start_up_purge(tmp_path: Path) -> None:
    clock = Clock(days_ago(40))
    ring_path = tmp_path / "keyring.json"
    keyring = Keyring.create(ring_path, clock=clock)
    data_dir = tmp_path / "var"
    seed(data_dir, keyring, clock, {"sess-expiring": 40, "sess-keeping": 2})
    backup = tmp_path / "backup-var"
    shutil.copytree(data_dir, backup)
    with running_collector(data_dir, keyring=ring_path) as server:
        deadline = time.monotonic() + 60
        while "retention ratchet advanced" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
    assert "retention purged 1 expired session(s)" in server.log.read_text()
    ratchet = Keyring.load(ring_path).ratchet
    assert ratchet is not None
    assert ratchet.day == YESTERDAY()
    result = export_all(backup, ring_path)
    assert result.returncode == 1
    assert exported_sessions(result) == {"sess-keeping"}
    assert "session sess-expiring: its retention key was destroyed" in result.stderr
