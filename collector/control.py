"""The control plane: console accounts, console logins and the audit trail.

Stored in the same store as the recordings (the embedded backend's SQLite index, in
its own tables), and written by any process: the collector's console and the operator's
CLI (`phi-replay users ...`, `export`) while `serve` runs. Every write is one
`BEGIN IMMEDIATE` transaction, so SQLite's write lock serialises them across processes;
that is what keeps the audit chain a chain.

The audit trail is a keyed chain: each record carries an HMAC-SHA-256 (key from the
keyring, collector.crypto.AuditKey) over the previous record's MAC and its own fields,
so `phi-replay audit verify` finds the first record that was altered, removed or moved,
even by someone who can write the database but has no keyring. Records removed from the
end leave a valid chain; `phi-replay audit anchor` prints a signed head to keep
elsewhere, and `verify --anchor` finds that. Audit records never hold recording
content: who, when, what (action and target id), from where, and the outcome.

Chains written before keyed audit (plain SHA-256) are re-keyed in place the first time a
keyed process opens them, after checking them as they were; one `audit.rekey` record
says how many there were and whether they verified (docs/operations.md, "Audit
anchoring").
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from collector.crypto import AuditKey
from collector.exceptions import PhiReplayError

Role = Literal["superadmin", "support", "customer"]
ROLES: tuple[Role, ...] = ("superadmin", "support", "customer")
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD_CHARS = 12
GENESIS = "0" * 64  # the previous hash of the first audit record ever written
ANCHOR_FORMAT = "phi-replay-anchor/1"
# A clock may step back a little between processes; an unkeyed record this much younger
# than the audit key is still taken for one written before the upgrade.
KEY_CLOCK_SLACK_SECONDS = 1.0
AUDIT_RETENTION_DAYS = 6 * 365  # audit outlives recordings (HIPAA: six years)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    instance TEXT,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    source TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    updated_at REAL NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS control_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit (target, seq);
CREATE INDEX IF NOT EXISTS audit_by_at ON audit (at);
"""


class AccountError(PhiReplayError):
    """A user command that cannot be carried out (unknown user, bad role, ...)."""


class AuditError(PhiReplayError):
    """The audit chain cannot be written or checked as asked (no key, a bad anchor)."""


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    instance: str | None  # customers only: the one instance they may see
    password_hash: str = field(repr=False)
    disabled: bool = False
    failed_logins: int = 0
    locked_until: float = 0.0
    created_at: float = 0.0


@dataclass(frozen=True)
class Login:
    """A console login (the server side of the session cookie)."""

    token_hash: str
    username: str
    csrf: str = field(repr=False)
    created_at: float
    last_seen: float
    source: str


@dataclass(frozen=True)
class AuditEntry:
    """What happened; the chain fields are added when it is appended."""

    actor: str  # the console user or operator; "-" when nobody is logged in
    action: str  # e.g. "login", "session.view", "user.add" (collector.console.AUDIT_ACTIONS)
    target: str = ""  # what it was done to: a session id, a user name, an instance
    source: str = ""  # from where: the client address, or "cli"
    outcome: str = "ok"  # "ok", or why it was refused ("bad_password", "locked", ...)
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: float
    actor: str
    action: str
    target: str
    source: str
    outcome: str
    details: dict[str, str]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditBreak:
    """The first link of the chain that does not hold."""

    seq: int
    problem: str


@dataclass(frozen=True)
class Anchor:
    """The head of the chain at one moment, signed with the audit key: kept off the host,
    it shows later whether records up to it were removed or rewritten."""

    seq: int
    head: str
    at: float
    signature: str

    def body(self) -> str:
        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{ANCHOR_FORMAT}:seq={self.seq}:head={self.head}:at={when}"

    def text(self) -> str:
        return f"{self.body()}:sig={self.signature}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """`phi-replay-anchor/1:seq=N:head=HEX:at=YYYY-MM-DDTHH:MM:SSZ:sig=HEX`."""
        found = _ANCHOR.fullmatch(text.strip())
        if found is None:
            raise AuditError(
                f"expected an anchor like {ANCHOR_FORMAT}:seq=N:head=...:at=...:sig=..."
                " (as `phi-replay audit anchor` prints it), but it does not have that form"
            )
        at = datetime.strptime(found["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return cls(int(found["seq"]), found["head"], at.timestamp(), found["sig"])


_ANCHOR = re.compile(
    re.escape(ANCHOR_FORMAT) + r":seq=(?P<seq>[0-9]{1,18}):head=(?P<head>[0-9a-f]{64})"
    r":at=(?P<at>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z):sig=(?P<sig>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    actions: tuple[str, ...] = ()  # any of these (with `action`, both must hold)
    target: str | None = None
    at_from: float | None = None
    at_to: float | None = None
    limit: int = 100
    offset: int = 0


def record_hash(
    prev_hash: str,
    seq: int,
    at: float,
    entry_fields: Sequence[str],
    details: dict[str, str],
    key: AuditKey | None = None,
) -> str:
    """HMAC-SHA-256 under `key` over the previous hash and this record's fields, as
    canonical JSON; plain SHA-256 for the chains from before keyed audit (`key` None)."""
    body = json.dumps(
        [prev_hash, seq, repr(at), *entry_fields, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    ).encode()
    return key.mac(body) if key is not None else hashlib.sha256(body).hexdigest()


def _fields(record: AuditRecord | AuditEntry) -> tuple[str, str, str, str, str]:
    return (record.actor, record.action, record.target, record.source, record.outcome)


def generate_password() -> str:
    """A password to show once: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: tuple[Any, ...]) -> User:
    name, role, instance, phc, disabled, failed, locked, created = row
    return User(
        str(name),
        cast(Role, role),
        instance,
        str(phc),
        bool(disabled),
        int(failed),
        float(locked),
        float(created),
    )


def _audit(row: tuple[Any, ...]) -> AuditRecord:
    seq, at, actor, action, target, source, outcome, details, prev, digest = row
    return AuditRecord(
        int(seq),
        float(at),
        str(actor),
        str(action),
        str(target),
        str(source),
        str(outcome),
        json.loads(details),
        str(prev),
        str(digest),
    )


_USER_COLUMNS = (
    "username, role, instance, password_hash, disabled, failed_logins, locked_until, created_at"
)
_AUDIT_COLUMNS = "seq, at, actor, action, target, source, outcome, details, prev_hash, hash"


class Control:
    """The control plane over one SQLite database file (the embedded index)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._audit_key: AuditKey | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        audit_key: AuditKey | None = None,
    ) -> Control:
        """The data directory's control plane, creating the directory if needed."""
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        old = os.umask(0o077)
        try:
            control = cls(data_dir / "index.sqlite3", clock=clock)
        finally:
            os.umask(old)
        if audit_key is not None:
            control.key_audit(audit_key)
        return control

    def key_audit(self, key: AuditKey) -> None:
        """Key the audit chain from now on; re-key an unkeyed one (once, in place)."""
        with self._write() as db:
            self._audit_key = key
            self._ensure_keyed(db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Control:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- users -----------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        with self._write() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", (user.username,)).fetchone():
                raise AccountError(f"user {user.username!r} already exists")
            db.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, 0, ?)",  # noqa: S608
                (
                    user.username,
                    user.role,
                    user.instance,
                    user.password_hash,
                    int(user.disabled),
                    self.clock(),
                ),
            )

    def get_user(self, username: str) -> User | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?",  # noqa: S608
                (username,),
            ).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_USER_COLUMNS} FROM users ORDER BY username"  # noqa: S608
            ).fetchall()
        return [_user(r) for r in rows]

    def set_password(self, username: str, password_hash: str) -> None:
        """A new password also clears a lockout and ends the user's logins."""
        with self._write() as db:
            changed = db.execute(
                "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = 0"
                " WHERE username = ?",
                (password_hash, username),
            ).rowcount
            if not changed:
                raise AccountError(f"no user {username!r}")
            db.execute("DELETE FROM logins WHERE username = ?", (username,))

    def set_disabled(self, username: str, disabled: bool) -> None:
        with self._write() as db:
            changed = db.execute(
                "UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username)
            ).rowcount
            if not changed:
                raise AccountError(f"no user {username!r}")
            if disabled:
                db.execute("DELETE FROM logins WHERE username = ?", (username,))

    def record_failure(self, username: str, max_failures: int, lock_seconds: float) -> bool:
        """Count a failed login; lock the account at `max_failures`. True if now locked."""
        with self._write() as db:
            row = db.execute(
                "SELECT failed_logins FROM users WHERE username = ?", (username,)
            ).fetchone()
            if row is None:
                return False
            failed = int(row[0]) + 1
            locked = failed >= max_failures
            db.execute(
                "UPDATE users SET failed_logins = ?, locked_until = ? WHERE username = ?",
                (0 if locked else failed, self.clock() + lock_seconds if locked else 0, username),
            )
            return locked

    def record_success(self, username: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE users SET failed_logins = 0, locked_until = 0 WHERE username = ?",
                (username,),
            )

    # -- console logins --------------------------------------------------------------

    def create_login(self, login: Login) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO logins (token_hash, username, csrf, created_at, last_seen, source)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    login.token_hash,
                    login.username,
                    login.csrf,
                    login.created_at,
                    login.last_seen,
                    login.source,
                ),
            )

    def get_login(self, token_hash: str) -> Login | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token_hash, username, csrf, created_at, last_seen, source FROM logins"
                " WHERE token_hash = ?",
                (token_hash,),
            ).fetchone()
        if row is None:
            return None
        return Login(str(row[0]), str(row[1]), str(row[2]), float(row[3]), float(row[4]), row[5])

    def touch_login(self, token_hash: str, now: float) -> None:
        with self._write() as db:
            db.execute("UPDATE logins SET last_seen = ? WHERE token_hash = ?", (now, token_hash))

    def end_login(self, token_hash: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM logins WHERE token_hash = ?", (token_hash,))

    def end_idle_logins(self, idle_before: float) -> int:
        with self._write() as db:
            return int(
                db.execute("DELETE FROM logins WHERE last_seen < ?", (idle_before,)).rowcount
            )

    # -- instance configuration ---------------------------------------------------------
    # Stored as the JSON of collector.config.InstanceConfig, validated by the caller; a
    # version number tells the collector's processes when to read them again.

    def config_version(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM control_meta WHERE key = 'config_version'"
            ).fetchone()
        return int(row[0]) if row else 0

    def instance_docs(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """(config version, name → document), read together."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                row = self._db.execute(
                    "SELECT value FROM control_meta WHERE key = 'config_version'"
                ).fetchone()
                docs = self._db.execute("SELECT name, doc FROM instances ORDER BY name").fetchall()
            finally:
                self._db.execute("COMMIT")
        return (int(row[0]) if row else 0), {str(n): json.loads(d) for n, d in docs}

    def put_instance(self, name: str, doc: dict[str, Any], entry: AuditEntry) -> bool:
        """Store an instance's configuration if it changed, audited as `entry`, in one
        transaction. Returns whether anything changed."""
        text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
        with self._write() as db:
            row = db.execute("SELECT doc FROM instances WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] == text:
                return False
            db.execute(
                "INSERT INTO instances (name, doc, updated_at, updated_by) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET doc = excluded.doc,"
                " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                (name, text, self.clock(), entry.actor),
            )
            db.execute(
                "INSERT INTO control_meta (key, value) VALUES ('config_version', 1)"
                " ON CONFLICT (key) DO UPDATE SET value = value + 1"
            )
            self._append_audit(db, entry)
        return True

    # -- audit -----------------------------------------------------------------------

    def audit(self, entry: AuditEntry) -> AuditRecord:
        """Append one record to the chain (serialised by the write transaction)."""
        with self._write() as db:
            return self._append_audit(db, entry)

    def _append_audit(self, db: sqlite3.Connection, entry: AuditEntry) -> AuditRecord:
        key = self._ensure_keyed(db)
        details = {str(k): str(v) for k, v in entry.details.items()}
        last = db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
        at = self.clock()
        digest = record_hash(prev, seq, at, _fields(entry), details, key)
        db.execute(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
            (seq, at, *_fields(entry), json.dumps(details, sort_keys=True), prev, digest),
        )
        return AuditRecord(seq, at, *_fields(entry), details, prev, digest)

    def _keyed(self, db: sqlite3.Connection) -> bool:
        row = db.execute("SELECT value FROM control_meta WHERE key = 'audit_keyed'").fetchone()
        return bool(row and row[0])

    def _ensure_keyed(self, db: sqlite3.Connection) -> AuditKey | None:
        """The key to chain with (None: an unkeyed chain and no key, as in old data
        directories read by tests). Inside a write transaction."""
        if self._keyed(db):
            if self._audit_key is None:
                raise AuditError(
                    "the audit chain is keyed and this process has no keyring to append to it"
                )
            self._check_key_id(db, self._audit_key)
            return self._audit_key
        if self._audit_key is None:
            return None
        self._check_key_id(db, self._audit_key)
        db.execute(
            "INSERT INTO control_meta (key, value) VALUES ('audit_keyed', 1)"
            " ON CONFLICT (key) DO UPDATE SET value = 1"
        )
        if db.execute("SELECT 1 FROM audit LIMIT 1").fetchone():
            self._rekey(db, self._audit_key)
        return self._audit_key

    def _check_key_id(self, db: sqlite3.Connection, key: AuditKey) -> None:
        """Refuse another keyring's audit key before it writes a single record: one MAC
        under the wrong key would read as tampering for ever after."""
        row = db.execute("SELECT value FROM control_meta WHERE key = 'audit_key_id'").fetchone()
        if row is None:
            db.execute(
                "INSERT INTO control_meta (key, value) VALUES ('audit_key_id', ?)", (key.key_id(),)
            )
        elif int(row[0]) != key.key_id():
            raise AuditError(
                "the audit chain was keyed with another keyring's audit key; expected the"
                " keyring this data directory was used with (check --keyring)"
            )

    def _rekey(self, db: sqlite3.Connection, key: AuditKey) -> None:
        """Check an unkeyed chain as it was, then MAC it in place and say so in the chain.
        What it found is sealed in the `audit.rekey` record, so a break from before the
        upgrade stays reported and is never laundered by the re-keying. Two passes in
        pages: six years of audit need not fit in memory."""
        _, broken = verify_chain(_pages(db), None)
        late: AuditRecord | None = None  # the first unkeyed record younger than the key
        last: AuditRecord | None = None  # as it was, before its MAC was rewritten
        count = 0
        prev: str | None = None
        for record in _pages(db):
            if late is None and record.at > key.created + KEY_CLOCK_SLACK_SECONDS:
                late = record
            last, count = record, count + 1
            prev = record.prev_hash if prev is None else prev
            digest = record_hash(prev, record.seq, record.at, _fields(record), record.details, key)
            db.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, record.seq)
            )
            prev = digest
        assert last is not None
        if late is not None and (broken is None or late.seq < broken.seq):
            broken = AuditBreak(late.seq, "it was written without the audit key after that existed")
        details = {
            "through_seq": str(last.seq),
            "records": str(count),
            "legacy_head": last.hash,
            "legacy": "intact" if broken is None else "broken",
        }
        if broken is not None:
            details.update(break_seq=str(broken.seq), problem=broken.problem)
        entry = AuditEntry("-", "audit.rekey", "audit", "upgrade", details["legacy"], details)
        self._append_audit(db, entry)

    def anchor(self) -> Anchor:
        """The signed head of the chain, now."""
        key = self._verifying_key()
        with self._lock:
            last = self._db.execute(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        if last is None:
            raise AuditError("the audit chain is empty: there is no head to anchor yet")
        unsigned = Anchor(int(last[0]), str(last[1]), float(int(self.clock())), "")
        return Anchor(
            unsigned.seq, unsigned.head, unsigned.at, key.sign_anchor(unsigned.body().encode())
        )

    def check_anchor(self, anchor: Anchor) -> AuditBreak | Literal["holds", "retired"]:
        """Whether the chain still holds the anchored record as it was ("retired": it is
        older than the records kept, gone with the audit retention)."""
        key = self._verifying_key()
        when = anchor.body().rsplit(":at=", 1)[1]
        if not key.anchor_ok(anchor.body().encode(), anchor.signature):
            raise AuditError(
                "the anchor's signature does not verify with this keyring's audit key"
                " (another keyring's anchor, or an edited one)"
            )
        with self._lock:
            row = self._db.execute("SELECT hash FROM audit WHERE seq = ?", (anchor.seq,)).fetchone()
            (last,) = self._db.execute("SELECT MAX(seq) FROM audit").fetchone()
        if row is not None:
            if str(row[0]) != anchor.head:
                return AuditBreak(
                    anchor.seq, f"it is not the record anchored at {when}: the chain was rewritten"
                )
            return "holds"
        if last is None or int(last) < anchor.seq:
            through = 0 if last is None else int(last)
            gone = (
                f"record {anchor.seq} was"
                if through + 1 == anchor.seq
                else f"records {through + 1} to {anchor.seq} were"
            )
            return AuditBreak(
                anchor.seq,
                f"the chain ends at record {through} but the anchor of {when} names record"
                f" {anchor.seq}: {gone} removed",
            )
        return "retired"

    def _verifying_key(self) -> AuditKey:
        if self._audit_key is None:
            raise AuditError("checking or anchoring the audit chain needs the keyring")
        return self._audit_key

    def audit_records(self, query: AuditQuery) -> tuple[list[AuditRecord], int]:
        """Newest first, filtered; and how many match in all."""
        where, params = _audit_filter(query)
        with self._lock:
            total = self._db.execute(
                f"SELECT COUNT(*) FROM audit {where}",  # noqa: S608
                params,
            ).fetchone()[0]
            rows = self._db.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit {where} ORDER BY seq DESC LIMIT ? OFFSET ?",  # noqa: S608
                (*params, query.limit, query.offset),
            ).fetchall()
        return [_audit(r) for r in rows], int(total)

    def audit_chain(self) -> Iterator[AuditRecord]:
        """Every record in seq order (a snapshot read, in pages)."""
        yield from _pages(self._db, lock=self._lock)

    def verify_audit(self) -> tuple[int, AuditBreak | None]:
        """(records checked, the first broken link or None)."""
        with self._lock:
            keyed = self._keyed(self._db)
        if keyed:
            return verify_chain(self.audit_chain(), self._verifying_key())
        if self._audit_key is not None:
            raise AuditError("the audit chain is not keyed yet")  # key_audit keys it
        return verify_chain(self.audit_chain(), None)

    def purge_audit(self, before: float, actor: str = "-", source: str = "") -> int:
        """Drop the records older than `before` (the audit retention), oldest first, and
        say so in the chain: `verify` accepts a chain that starts after seq 1 only when an
        `audit.purge` record accounts for the records before it."""
        with self._write() as db:
            (through,) = db.execute("SELECT MAX(seq) FROM audit WHERE at < ?", (before,)).fetchone()
            if through is None:
                return 0
            removed = int(db.execute("DELETE FROM audit WHERE seq <= ?", (through,)).rowcount)
        details = {"through_seq": str(through), "records": str(removed)}
        self.audit(AuditEntry(actor, "audit.purge", "audit", source or "retention", "ok", details))
        return removed


def verify_chain(
    records: Iterator[AuditRecord], key: AuditKey | None
) -> tuple[int, AuditBreak | None]:
    checked = 0
    first: AuditRecord | None = None
    prev: AuditRecord | None = None
    purged_through = 0
    for record in records:
        checked += 1
        if prev is None:
            first = record
            if record.seq == 1 and record.prev_hash != GENESIS:
                return checked, AuditBreak(1, "the first record does not start the chain")
        elif record.seq != prev.seq + 1:
            return checked, AuditBreak(
                record.seq, f"record {prev.seq + 1} before it is missing or was moved"
            )
        elif record.prev_hash != prev.hash:
            return checked, AuditBreak(
                record.seq, "it does not follow the record before it (removed or reordered)"
            )
        fields = _fields(record)
        digest = record_hash(record.prev_hash, record.seq, record.at, fields, record.details, key)
        if not hmac.compare_digest(digest, record.hash):
            return checked, AuditBreak(record.seq, "its content was altered")
        if record.action == "audit.rekey" and record.details.get("legacy") == "broken":
            seq = record.details.get("break_seq", "")
            problem = record.details.get("problem", "")
            return checked, AuditBreak(
                int(seq) if seq.isdigit() else record.seq,
                f"{problem} (found when the unkeyed chain was keyed at upgrade, in record"
                f" {record.seq})",
            )
        if record.action == "audit.purge" and record.details.get("through_seq", "").isdigit():
            purged_through = max(purged_through, int(record.details["through_seq"]))
        prev = record
    if first is not None and first.seq > 1 and purged_through < first.seq - 1:
        return checked, AuditBreak(first.seq, f"records before {first.seq} are missing")
    return checked, None


def _pages(
    db: sqlite3.Connection, page: int = 1000, lock: threading.Lock | None = None
) -> Iterator[AuditRecord]:
    """Every audit record in seq order, `page` rows per query: inside a transaction, or
    holding `lock` for each query only (the connection's users take turns)."""
    after = -(2**62)
    while True:
        with lock or contextlib.nullcontext():
            rows = db.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608
                (after, page),
            ).fetchall()
        if not rows:
            return
        for row in rows:
            record = _audit(row)
            after = record.seq
            yield record


def sql_filter(
    exact: Iterable[tuple[str, str | None]],
    range_column: str,
    low: float | None,
    high: float | None,
) -> tuple[list[str], list[Any]]:
    """WHERE clauses and parameters: `column = ?` for each given value, and
    `low <= range_column < high` for the bounds given. Column names are ours, never input."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in exact:
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if low is not None:
        clauses.append(f"{range_column} >= ?")
        params.append(low)
    if high is not None:
        clauses.append(f"{range_column} < ?")
        params.append(high)
    return clauses, params


def _audit_filter(query: AuditQuery) -> tuple[str, tuple[Any, ...]]:
    exact = (("actor", query.actor), ("action", query.action), ("target", query.target))
    clauses, params = sql_filter(exact, "at", query.at_from, query.at_to)
    if query.actions:
        clauses.append(f"action IN ({', '.join('?' for _ in query.actions)})")
        params.extend(query.actions)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


class _Transaction:
    """`with control._write() as db:` one BEGIN IMMEDIATE transaction, under the lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            self._db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            self._lock.release()
