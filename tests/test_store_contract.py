"""The `Store` contract: every backend must pass these (embedded now, PostgreSQL later).

A backend is added by extending the `store` fixture's params; the tests speak only the
protocol in collector/store.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from collector.crypto import WrappedKey
from collector.embedded import EmbeddedStore
from collector.exceptions import UnknownSession
from collector.store import SealedBatch, SessionRecord, Store

KEY = WrappedKey("dek-1", "kek-1", b"wrapped-key-bytes")


def new_session(session_id: str = "sess-contract1", instance: str = "dev") -> SessionRecord:
    return SessionRecord(session_id, instance, "nurse.a", "uat", "tab-contract1", 0.0, KEY)


def batch(seq: int, events: int = 2, first: int = 1000) -> SealedBatch:
    return SealedBatch(seq, events, first + seq, first + seq + 500, b"sealed-%d" % seq)


@pytest.fixture(params=["embedded"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store = EmbeddedStore(tmp_path / "var", clock=lambda: 1000.0)
    yield backend
    await backend.aclose()


pytestmark = pytest.mark.anyio


async def test_open_session_creates_once_and_returns_the_stored_record(store: Store) -> None:
    first = await store.open_session(new_session())
    assert (first.instance, first.user, first.environment, first.next_seq) == (
        "dev",
        "nurse.a",
        "uat",
        1,
    )
    assert first.wrapped_key == KEY
    other_key = WrappedKey("dek-2", "kek-1", b"other")
    again = await store.open_session(replace(new_session(), wrapped_key=other_key))
    assert again.wrapped_key == KEY, "an existing session keeps its data key"


async def test_append_is_durable_ordered_and_deduplicated(store: Store) -> None:
    await store.open_session(new_session())
    assert await store.append("sess-contract1", batch(2))
    assert await store.append("sess-contract1", batch(1))
    assert not await store.append("sess-contract1", batch(2)), "a resend is not stored twice"
    assert await store.append("sess-contract1", batch(5)), "gaps in seq are allowed"
    stored = list(store.read_batches("sess-contract1"))
    assert [b.seq for b in stored] == [1, 2, 5]
    assert [b.sealed for b in stored] == [b"sealed-1", b"sealed-2", b"sealed-5"]
    session = store.get_session("sess-contract1")
    assert (session.next_seq, session.event_count, session.batch_count) == (6, 6, 3)
    assert (session.first_ts, session.last_ts) == (1001, 1505)


async def test_unknown_sessions_are_reported_as_such(store: Store) -> None:
    with pytest.raises(UnknownSession):
        store.get_session("sess-missing01")
    with pytest.raises(UnknownSession):
        list(store.read_batches("sess-missing01"))


async def test_list_sessions_shows_every_session(store: Store) -> None:
    for name in ("sess-listing01", "sess-listing02"):
        await store.open_session(new_session(name))
    assert sorted(s.session_id for s in store.list_sessions()) == [
        "sess-listing01",
        "sess-listing02",
    ]


async def test_purge_removes_only_expired_sessions_per_instance(store: Store) -> None:
    await store.open_session(new_session("sess-devexpire"))
    await store.open_session(new_session("sess-trialkeep", instance="trials"))
    await store.append("sess-devexpire", batch(1))
    purged = await store.purge({"dev": 2000.0, "trials": 500.0}, default_cutoff=0.0)
    assert purged == ["sess-devexpire"]
    assert [s.session_id for s in store.list_sessions()] == ["sess-trialkeep"]
    with pytest.raises(UnknownSession):
        store.get_session("sess-devexpire")


async def test_rewrap_replaces_wrapped_keys_where_asked(store: Store) -> None:
    await store.open_session(new_session("sess-rewrap001"))
    await store.open_session(new_session("sess-rewrap002"))
    new_key = WrappedKey("dek-1", "kek-2", b"rewrapped")
    changed = await store.rewrap(lambda s: new_key if s.session_id == "sess-rewrap001" else None)
    assert changed == 1
    assert store.get_session("sess-rewrap001").wrapped_key == new_key
    assert store.get_session("sess-rewrap002").wrapped_key == KEY
