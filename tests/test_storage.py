"""What lands on disk: sealed records that need the keyring, and a store that heals."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import brotli
import pytest

from collector.crypto import DataKey, Keyring, record_aad
from collector.embedded import EmbeddedStore
from collector.exceptions import (
    CorruptRecord,
    KeyringError,
    PhiReplayError,
    StorageFull,
    UnknownSession,
)
from collector.paths import compile_routes
from collector.records import open_batch, read_session, seal_batch, seal_frame
from collector.store import SealedBatch, SessionQuery, SessionRecord
from collector.testing import cli, export_events, running_collector
from tests.factories import sealed_session
from tests.wsclient import batch, custom, meta, new_id, receive, start_session

CANARY = "CANARY-NOTE-STORAGE-4417"


def test_raw_files_hold_no_plaintext_and_export_needs_the_keyring(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    session = new_id("sess")
    with running_collector(data_dir) as server:
        ws, _ = start_session(server.ws_url, session)
        ws.send(batch(1, custom(1, note=CANARY)))
        assert receive(ws)["type"] == "ack"
        ws.close()
        keyring = server.keyring

    for path in data_dir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    assert not keyring.is_relative_to(data_dir)
    assert os.stat(keyring).st_mode & 0o077 == 0

    events = export_events(data_dir, keyring, session)
    assert events[0]["event"]["data"]["payload"]["note"] == CANARY

    other = Keyring.create(tmp_path / "other.keyring.json")
    result = cli("export", "--data-dir", data_dir, "--keyring", other.path, "--all", check=False)
    assert result.returncode == 2
    assert CANARY not in result.stdout


def test_export_of_an_unknown_session_says_so(tmp_path: Path) -> None:
    with running_collector(tmp_path / "var") as server:
        result = cli(
            "export",
            "--data-dir",
            server.data_dir,
            "--keyring",
            server.keyring,
            "--session",
            "sess-doesnotexist",
            check=False,
        )
    assert result.returncode == 2
    assert "no session" in result.stderr


def test_sessions_lists_id_instance_user_start_duration_events_and_pages(tmp_path: Path) -> None:
    with running_collector(tmp_path / "var") as server:
        session = new_id("sess")
        ws, _ = start_session(server.ws_url, session)
        ws.send(batch(1, custom(1_000), custom(63_500)))
        assert receive(ws)["type"] == "ack"
        ws.close()
        table = cli("sessions", "--data-dir", server.data_dir).stdout
        rows = [
            json.loads(x)
            for x in cli("sessions", "--data-dir", server.data_dir, "--json").stdout.splitlines()
        ]
    assert table.splitlines()[0].split() == [
        "SESSION",
        "INSTANCE",
        "USER",
        "STARTED",
        "(UTC)",
        "DURATION",
        "EVENTS",
        "PAGES",
    ]
    assert session in table
    assert "0:01:02" in table
    assert rows[0]["session_id"] == session
    assert (rows[0]["instance"], rows[0]["user"], rows[0]["event_count"]) == ("dev", "test.user", 2)
    assert rows[0]["duration_ms"] == 62_500
    assert rows[0]["pages"] == []  # no Meta event: no page (tests/test_page_index.py)


EVENTS = [{"type": 5, "data": {"tag": "t", "payload": {}}, "timestamp": 1}]


async def _one_stored_batch(tmp_path: Path) -> tuple[Keyring, DataKey, SessionRecord, Path]:
    """A closed store holding one session with batch seq 1; returns its segment path."""
    keyring = Keyring.create(tmp_path / "k.json")
    dek = DataKey.generate()
    store = EmbeddedStore(tmp_path / "var")
    session = await store.open_session(sealed_session(keyring, dek))
    assert await store.append(session.session_id, seal_batch(session, dek, 1, EVENTS))
    await store.aclose()
    return keyring, dek, session, store.segment_path(session.session_id)


@pytest.mark.anyio
async def test_a_torn_tail_is_cut_on_restart_and_acked_records_survive(tmp_path: Path) -> None:
    keyring, dek, session, segment = await _one_stored_batch(tmp_path)
    with segment.open("ab") as f:
        f.write(b"\x00\x00\x01\x00torn")  # a crash mid-append, before the index commit

    store = EmbeddedStore(tmp_path / "var")
    assert [seq for seq, _ in read_session(store, keyring, session.session_id)] == [1]
    assert await store.append(session.session_id, seal_batch(session, dek, 2, EVENTS))
    assert [seq for seq, _ in read_session(store, keyring, session.session_id)] == [1, 2]
    await store.aclose()


@pytest.mark.anyio
async def test_a_flipped_bit_is_reported_corrupt_never_returned(tmp_path: Path) -> None:
    keyring, _, session, segment = await _one_stored_batch(tmp_path)
    raw = bytearray(segment.read_bytes())
    raw[-3] ^= 0x01
    segment.write_bytes(bytes(raw))
    store = EmbeddedStore(tmp_path / "var", writer=False)
    with pytest.raises(CorruptRecord):
        list(read_session(store, keyring, session.session_id))
    with pytest.raises(UnknownSession):
        store.get_session("sess-missing1")
    store.close()


def test_a_record_cannot_be_opened_as_another_seq(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    dek = DataKey.generate()
    session = sealed_session(keyring, dek)
    sealed = seal_batch(session, dek, 1, [{"type": 5, "data": {}, "timestamp": 1}])
    moved = type(sealed)(2, sealed.event_count, 1, 1, sealed.sealed)
    with pytest.raises(CorruptRecord):
        open_batch(session, dek, moved)


def test_a_keyring_readable_by_others_is_refused(tmp_path: Path) -> None:
    ring = Keyring.create(tmp_path / "k.json")
    os.chmod(ring.path, 0o644)
    with pytest.raises(KeyringError, match="chmod 600"):
        Keyring.load(ring.path)
    assert "[secure]" in repr(Keyring.load_or_create(tmp_path / "k2.json"))


def test_one_data_directory_has_one_writer(tmp_path: Path) -> None:
    first = EmbeddedStore(tmp_path / "var")
    with pytest.raises(PhiReplayError, match="in use by another collector"):
        EmbeddedStore(tmp_path / "var")
    first.close()


@pytest.mark.anyio
async def test_concurrent_appends_share_commits_and_a_duplicate_in_a_group_is_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    store = EmbeddedStore(tmp_path / "var")
    commits: list[int] = []
    syncs: list[int] = []
    index, sync = store._index, store._sync

    def counting_index(rows: list[Any]) -> None:
        commits.append(len(rows))
        index(rows)

    def counting_sync(group: list[Any]) -> None:
        syncs.append(len(group))
        sync(group)

    monkeypatch.setattr(store, "_index", counting_index)
    monkeypatch.setattr(store, "_sync", counting_sync)
    sessions = []
    for n in range(40):
        dek = DataKey.generate()
        session = await store.open_session(sealed_session(keyring, dek, f"sess-group{n:04d}"))
        sessions.append((session, dek))
    appends = [store.append(s.session_id, seal_batch(s, dek, 1, EVENTS)) for s, dek in sessions]
    first, dek = sessions[0]
    appends.append(store.append(first.session_id, seal_batch(first, dek, 1, EVENTS)))
    stored = await asyncio.gather(*appends)
    assert stored.count(True) == 40
    assert stored.count(False) == 1, "the same (session, seq) twice in one group: once"
    assert sum(commits) == 40
    assert len(commits) < 40, "appends waiting together share one index commit"
    assert len(syncs) == len(commits), "and one flush to disk, whatever the sessions"
    for s, _ in sessions:
        assert [seq for seq, _ in read_session(store, keyring, s.session_id)] == [1]
    await store.aclose()


@pytest.mark.anyio
async def test_a_group_that_fails_leaves_no_bytes_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring, dek, session, segment = await _one_stored_batch(tmp_path)
    store = EmbeddedStore(tmp_path / "var")
    size = segment.stat().st_size
    index = store._index

    def disk_full(rows: list[Any]) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_index", disk_full)
    with pytest.raises(StorageFull, match="no space left on device on the volume holding"):
        await store.append(session.session_id, seal_batch(session, dek, 2, EVENTS))
    assert segment.stat().st_size == size, "the failed group's record was cut at once"
    monkeypatch.setattr(store, "_index", index)
    assert await store.append(session.session_id, seal_batch(session, dek, 2, EVENTS))
    assert [seq for seq, _ in read_session(store, keyring, session.session_id)] == [1, 2]
    await store.aclose()


@pytest.mark.anyio
async def test_a_record_holds_the_batch_frame_as_it_arrived(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    dek = DataKey.generate()
    session = sealed_session(keyring, dek)
    frame = batch(7, custom(5, note="as sent"), meta(9))
    sealed = seal_frame(session, dek, frame)

    aad = record_aad(session.instance, session.session_id, 7, dek.dek_id)
    assert brotli.decompress(dek.open(sealed.sealed, aad)) == frame.encode()
    assert (sealed.seq, sealed.event_count, sealed.first_ts, sealed.last_ts) == (7, 2, 5, 9)
    assert open_batch(session, dek, sealed) == json.loads(frame)["events"]


def test_records_of_the_first_format_still_open(tmp_path: Path) -> None:
    """Before the frame was sealed whole, a record held the bare array of events."""
    keyring = Keyring.create(tmp_path / "k.json")
    dek = DataKey.generate()
    session = sealed_session(keyring, dek)
    plaintext = brotli.compress(json.dumps(EVENTS).encode())
    old = dek.seal(plaintext, record_aad(session.instance, session.session_id, 1, dek.dek_id))
    assert open_batch(session, dek, SealedBatch(1, 1, 1, 1, old)) == EVENTS


@pytest.mark.anyio
async def test_segments_past_the_open_files_budget_are_closed_and_reopened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyring = Keyring.create(tmp_path / "k.json")
    store = EmbeddedStore(tmp_path / "var")
    monkeypatch.setattr(store, "_max_tails", 3)
    sessions = []
    for n in range(8):
        dek = DataKey.generate()
        sessions.append(
            (await store.open_session(sealed_session(keyring, dek, f"sess-budget{n:03d}")), dek)
        )
    for seq in (1, 2):
        for session, dek in sessions:
            assert await store.append(session.session_id, seal_batch(session, dek, seq, EVENTS))
    assert len(store._tails) <= 4, "idle segments are closed"
    for session, _ in sessions:
        assert [seq for seq, _ in read_session(store, keyring, session.session_id)] == [1, 2]
    await store.aclose()


@pytest.mark.anyio
async def test_paths_indexed_before_the_collector_templated_them_are_templated_once(
    tmp_path: Path,
) -> None:
    _, dek, session, _ = await _one_stored_batch(tmp_path)
    index = tmp_path / "var" / "index.sqlite3"
    old = sqlite3.connect(index)  # as an older collector left it: paths as received
    old.execute("PRAGMA user_version = 0")
    old.executemany(
        "INSERT INTO session_pages (session_id, path) VALUES (?, ?)",
        [
            (session.session_id, f"/patients/{CANARY}/visits"),
            (session.session_id, "/patients/CANARY-JOHN-DOE/visits"),
            (session.session_id, "/static/app.css"),
        ],
    )
    old.commit()
    old.close()

    store = EmbeddedStore(tmp_path / "var")
    try:
        (summary,), _ = store.query_sessions(SessionQuery())
        assert summary.pages == ("/patients/:id/visits", "/static/app.css")
        # Once: paths indexed from now on, with an instance's literals, are left alone.
        wards = seal_batch(
            session,
            dek,
            2,
            [meta(2, "http://127.0.0.1:5999/wards/w1/beds")],
            routes=compile_routes(("/wards/:ward/beds",)),
        )
        assert await store.append(session.session_id, wards)
    finally:
        await store.aclose()
    for name in ("index.sqlite3", "index.sqlite3-wal"):
        path = tmp_path / "var" / name
        assert not path.exists() or b"CANARY" not in path.read_bytes(), name
    store = EmbeddedStore(tmp_path / "var", writer=False)
    try:
        (summary,), _ = store.query_sessions(SessionQuery())
        assert "/wards/:id/beds" in summary.pages
    finally:
        store.close()
