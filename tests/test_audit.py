"""The audit trail: a keyed chain (HMAC, key from the keyring) that `phi-replay audit
verify` checks, which no edit, deletion or reordering of a record gets past, even with
every hash recomputed; an anchor kept elsewhere that finds records cut from the end; and
a recording purge that leaves it alone."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collector.app import purge_expired
from collector.config import InstanceConfig, Settings
from collector.control import AuditEntry, Control
from collector.crypto import AuditKey, DataKey, Keyring
from collector.embedded import EmbeddedStore
from tests.factories import sealed_session


def audit_key(data_dir: Path) -> AuditKey:
    """The audit key of the keyring `phi-replay` finds by default for `data_dir`."""
    return Keyring.load_or_create(Settings(data_dir=data_dir).keyring_path).audit_key()


def chain(data_dir: Path, n: int = 6) -> None:
    control = Control.open(data_dir, audit_key=audit_key(data_dir))
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


def test_a_recomputed_hash_does_not_hide_an_edit(tmp_path: Path) -> None:
    """Without the key, re-hashing the edited record does not make it verify."""
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
    assert "BROKEN at record 3: its content was altered" in result.stdout


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
    control = Control.open(tmp_path, clock=clock, audit_key=audit_key(tmp_path))
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


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def rechain_plain(data_dir: Path, edit_seq: int, actor: str) -> None:
    """What the review did: rewrite one record, then recompute every SHA-256 after it, as
    anyone who can write the database can (the unkeyed chain's formula is public)."""
    from collector.control import record_hash

    control = Control.open(data_dir, audit_key=audit_key(data_dir))
    records = list(control.audit_chain())
    control.close()
    prev = next(r.hash for r in records if r.seq == edit_seq - 1)
    for r in records:
        if r.seq < edit_seq:
            continue
        who = actor if r.seq == edit_seq else r.actor
        fields = (who, r.action, r.target, r.source, r.outcome)
        digest = record_hash(prev, r.seq, r.at, fields, r.details)
        sql(
            data_dir,
            "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            who,
            prev,
            digest,
            r.seq,
        )
        prev = digest


def test_a_rewritten_record_with_every_hash_recomputed_is_found(tmp_path: Path) -> None:
    chain(tmp_path)
    rechain_plain(tmp_path, 3, "someone.else")
    result = verify(tmp_path)
    assert result.returncode == 1
    assert "BROKEN at record 3: its content was altered" in result.stdout


def test_records_cut_from_the_end_after_an_anchor_are_found(tmp_path: Path) -> None:
    chain(tmp_path)
    taken = cli(tmp_path, "audit", "anchor")
    assert taken.returncode == 0, taken.stderr
    anchor = taken.stdout.strip()
    assert anchor.startswith("phi-replay-anchor/1:seq=7:")  # 6 records and the anchor's own
    sql(tmp_path, "DELETE FROM audit WHERE seq >= 5")
    # The cut chain is a valid chain on its own: only the anchor tells.
    assert verify(tmp_path).returncode == 0
    kept = tmp_path.parent / "anchor.txt"
    kept.write_text(anchor + "\n")
    for given in (anchor, str(kept)):
        result = cli(tmp_path, "audit", "verify", "--anchor", given)
        assert result.returncode == 1, result.stdout
        assert "BROKEN at anchored record 7" in result.stdout
        assert "chain ends at record 4" in result.stdout
        assert "records 5 to 7 were removed" in result.stdout


def test_an_intact_chain_holds_its_anchor_as_it_grows(tmp_path: Path) -> None:
    chain(tmp_path)
    anchor = cli(tmp_path, "audit", "anchor").stdout.strip()
    chain(tmp_path, 3)  # more records after the anchor
    result = cli(tmp_path, "audit", "verify", "--anchor", anchor)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: 10 record(s)" in result.stdout
    assert "anchor holds: record 7" in result.stdout


def test_an_edited_or_foreign_anchor_is_refused(tmp_path: Path) -> None:
    chain(tmp_path)
    anchor = cli(tmp_path, "audit", "anchor").stdout.strip()
    edited = anchor.replace(":seq=7:", ":seq=3:")
    result = cli(tmp_path, "audit", "verify", "--anchor", edited)
    assert result.returncode == 2
    assert "signature does not verify" in result.stderr
    garbage = cli(tmp_path, "audit", "verify", "--anchor", "phi-replay-anchor/1:nonsense")
    assert garbage.returncode == 2
    assert "expected an anchor like phi-replay-anchor/1:seq=N" in garbage.stderr


def test_the_chain_key_outlives_key_rotation_and_retirement(tmp_path: Path) -> None:
    chain(tmp_path)
    ring = Keyring.load(Settings(data_dir=tmp_path).keyring_path)
    first = ring.active
    ring.rotate()
    ring.retire({first})  # what `keys rewrap` does to every KEK but the active one
    chain(tmp_path, 2)
    result = verify(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: 8 record(s)" in result.stdout


def test_a_process_without_the_keyring_cannot_append_to_a_keyed_chain(tmp_path: Path) -> None:
    from collector.control import AuditError

    chain(tmp_path, 1)
    control = Control.open(tmp_path)
    with pytest.raises(AuditError, match="no keyring"):
        control.audit(AuditEntry("u", "login", "u", "127.0.0.1"))
    control.close()


def old_keyring(data_dir: Path) -> Path:
    """A keyring as written before keyed audit: no audit secret in it."""
    path = Settings(data_dir=data_dir).keyring_path
    Keyring.create(path)
    doc = json.loads(path.read_text())
    del doc["audit"]
    path.write_text(json.dumps(doc))
    return path


def unkeyed_chain(data_dir: Path, n: int = 6) -> None:
    """A chain written before keyed audit (plain SHA-256), long before the upgrade."""
    clock = iter(float(1000 + i) for i in range(n)).__next__
    control = Control.open(data_dir, clock=clock)
    for i in range(n):
        control.audit(AuditEntry(f"user{i}", "session.view", f"s-{i:04d}", "127.0.0.1"))
    control.close()


def test_an_unkeyed_chain_is_keyed_at_upgrade_and_then_holds_against_rewrites(
    tmp_path: Path,
) -> None:
    unkeyed_chain(tmp_path)
    keyring = old_keyring(tmp_path)
    result = verify(tmp_path)  # the first keyed open: adds the audit key, re-keys the chain
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: 7 record(s)" in result.stdout
    assert "audit" in json.loads(keyring.read_text())
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    control = Control.open(tmp_path, audit_key=audit_key(tmp_path))
    rekey = list(control.audit_chain())[-1]
    control.close()
    assert rekey.action == "audit.rekey"
    assert rekey.details["legacy"] == "intact"
    assert rekey.details["through_seq"] == "6"
    rechain_plain(tmp_path, 2, "someone.else")
    assert "BROKEN at record 2: its content was altered" in verify(tmp_path).stdout


def test_a_break_from_before_the_upgrade_stays_reported(tmp_path: Path) -> None:
    unkeyed_chain(tmp_path)
    sql(tmp_path, "UPDATE audit SET actor = 'someone.else' WHERE seq = 2")
    old_keyring(tmp_path)
    for _ in range(2):  # re-keying does not launder it, then or later
        result = verify(tmp_path)
        assert result.returncode == 1
        assert "BROKEN at record 2: its content was altered" in result.stdout
        assert "found when the unkeyed chain was keyed at upgrade" in result.stdout


def test_another_keyrings_audit_key_is_refused_before_it_writes(tmp_path: Path) -> None:
    from collector.control import AuditError

    chain(tmp_path, 3)
    other = Keyring.create(tmp_path.parent / "another.keyring.json").audit_key()
    with pytest.raises(AuditError, match="another keyring's audit key"):
        Control.open(tmp_path, audit_key=other)
    result = cli(
        tmp_path, "audit", "verify", "--keyring", str(tmp_path.parent / "another.keyring.json")
    )
    assert result.returncode == 2
    assert "another keyring's audit key" in result.stderr
    assert verify(tmp_path).returncode == 0  # nothing was written under the wrong key


def test_an_anchor_names_a_rewritten_record_and_outlives_retention_quietly(
    tmp_path: Path,
) -> None:
    clock = iter([1000.0, 2000.0, 3000.0, 4000.0, 9000.0, 9001.0]).__next__
    key = audit_key(tmp_path)
    control = Control.open(tmp_path, clock=clock, audit_key=key)
    for i in range(3):
        control.audit(AuditEntry("u", "login", f"u{i}", "127.0.0.1"))
    anchor = control.anchor()  # seq 3, at 4000
    assert control.check_anchor(anchor) == "holds"
    sql(tmp_path, "UPDATE audit SET hash = ? WHERE seq = 3", "f" * 64)
    rewritten = control.check_anchor(anchor)
    assert not isinstance(rewritten, str)
    assert "the chain was rewritten" in rewritten.problem
    sql(tmp_path, "UPDATE audit SET hash = ? WHERE seq = 3", anchor.head)
    control.audit(AuditEntry("u", "login", "u3", "127.0.0.1"))  # seq 4, at 9000
    assert control.purge_audit(5000.0) == 3  # the anchored record is past retention
    assert control.check_anchor(anchor) == "retired"
    control.close()


def test_an_unkeyed_record_dated_after_the_audit_key_is_not_re_keyed_as_old(
    tmp_path: Path,
) -> None:
    """Deleting the keyed flag and rewriting the chain as unkeyed, to have it re-keyed,
    means dating the forgery before the audit key existed: a record after it is a break."""
    unkeyed_chain(tmp_path, 3)
    keyring = Keyring.create(Settings(data_dir=tmp_path).keyring_path)  # the key exists now
    control = Control.open(tmp_path, clock=lambda: time.time() + 60)  # unkeyed, and later
    control.audit(AuditEntry("forger", "session.view", "s-0003", "127.0.0.1"))
    control.close()
    result = verify(tmp_path)
    assert result.returncode == 1
    assert "BROKEN at record 4: it was written without the audit key after that existed" in (
        result.stdout
    )
    assert keyring.audit_secret is not None
