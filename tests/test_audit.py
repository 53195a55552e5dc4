"""The audit trail: a hash chain that `phi-replay audit verify` checks, which no edit,
deletion or reordering of a record gets past, and which the recording purge leaves alone."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.app import purge_expired
from collector.config import InstanceConfig, Settings
from collector.control import AuditEntry, Control
from collector.crypto import DataKey, Keyring
from collector.embedded import EmbeddedStore
from tests.factories import sealed_session


def chain(data_dir: Path, n: int = 6) -> None:
    control = Control.open(data_dir)
    for i in range(n):
        control.audit(AuditEntry(f"user{i}", "session.view", f"s-{i:04d}", "127.0.0.1"))
    control.close()


def verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sql(data_dir: Path, statement: str, *params: object) -> None:
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:
        db.execute(statement, params)
    db.close()


def test_an_untouched_chain_verifies(tmp_path: Path) -> None:
    chain(tmp_path)
    result = verify(tmp_path)
    assert result.returncode == 0
    assert "intact: 6 record(s)" in result.stdout


@pytest.mark.parametrize(
    ("tamper", "first_broken", "problem"),
    [
        ("UPDATE audit SET actor = 'someone.else' WHERE seq = 3", 3, "altered"),
        ("UPDATE audit SET at = at + 1 WHERE seq = 2", 2, "altered"),
        ('UPDATE audit SET details = \'{"x":"1"}\' WHERE seq = 5', 5, "altered"),
        ("DELETE FROM audit WHERE seq = 4", 5, "missing"),
        ("DELETE FROM audit WHERE seq = 1", 2, "missing"),
        # Swap the contents of records 2 and 3 (their seqs stay): order is part of the chain.
        (
            "UPDATE audit SET actor = CASE seq WHEN 2 THEN 'user2' ELSE 'user1' END,"
            " target = CASE seq WHEN 2 THEN 's-0002' ELSE 's-0001' END WHERE seq IN (2, 3)",
            2,
            "altered",
        ),
    ],
)
def test_one_tampered_record_is_found(
    tmp_path: Path, tamper: str, first_broken: int, problem: str
) -> None:
    chain(tmp_path)
    sql(tmp_path, tamper)
    result = verify(tmp_path)
    assert result.returncode == 1
    assert f"BROKEN at record {first_broken}:" in result.stdout
    assert problem in result.stdout


def test_reordering_by_renumbering_is_found(tmp_path: Path) -> None:
    chain(tmp_path)
    sql(tmp_path, "UPDATE audit SET seq = -seq WHERE seq IN (3, 4)")
    sql(tmp_path, "UPDATE audit SET seq = 4 WHERE seq = -3")
    sql(tmp_path, "UPDATE audit SET seq = 3 WHERE seq = -4")
    result = verify(tmp_path)
    assert result.returncode == 1
    assert "BROKEN at record 3:" in result.stdout


def test_a_recomputed_hash_does_not_hide_an_edit_from_the_next_link(tmp_path: Path) -> None:
    """Re-hashing the edited record itself moves the break to the record after it."""
    chain(tmp_path)
    control = Control.open(tmp_path)
    record = next(r for r in control.audit_chain() if r.seq == 3)
    control.close()
    from collector.control import record_hash

    forged = record_hash(
        record.prev_hash,
        3,
        record.at,
        ("attacker", record.action, record.target, record.source, record.outcome),
        record.details,
    )
    sql(tmp_path, "UPDATE audit SET actor = 'attacker', hash = ? WHERE seq = 3", forged)
    result = verify(tmp_path)
    assert "BROKEN at record 4:" in result.stdout


def test_the_recording_purge_keeps_audit_records(tmp_path: Path) -> None:
    chain(tmp_path, 3)
    settings = Settings(data_dir=tmp_path, instances=(InstanceConfig(name="trials"),))
    keyring = Keyring.create(tmp_path.parent / "audit-purge.keyring.json")

    async def purge() -> None:
        store = EmbeddedStore(tmp_path)
        try:
            dek = DataKey.generate()
            await store.open_session(sealed_session(keyring, dek, "s-expiring", "trials"))
            # 60 days on: every recording has expired, no audit record has.
            await purge_expired(settings, store, time.time() + 60 * 86400)
        finally:
            await store.aclose()

    asyncio.run(purge())
    reader = EmbeddedStore(tmp_path, writer=False)
    assert reader.list_sessions() == []  # the recording went
    reader.close()
    control = Control.open(tmp_path)
    assert [r.seq for r in control.audit_chain()] == [1, 2, 3]
    control.close()


def test_audit_older_than_its_retention_goes_and_the_chain_still_verifies(tmp_path: Path) -> None:
    clock = iter([1000.0, 2000.0, 3000.0, 9000.0]).__next__
    control = Control.open(tmp_path, clock=clock)
    for i in range(3):
        control.audit(AuditEntry("u", "login", f"u{i}", "127.0.0.1"))
    assert control.purge_audit(2500.0) == 2
    assert [r.action for r in control.audit_chain()] == ["login", "audit.purge"]
    assert control.verify_audit() == (2, None)
    control.close()
    # Deleting the purge record's evidence, i.e. the surviving first record, is found.
    sql(tmp_path, "DELETE FROM audit WHERE seq = 3")
    result = verify(tmp_path)
    assert result.returncode == 1
