"""All cryptography lives here: the only module that imports `cryptography.hazmat`.

Envelope encryption: each session has a random 256-bit data key (DEK). Records are
sealed with AES-256-GCM under the DEK, with a fresh 96-bit nonce from `os.urandom`
and associated data that binds the record to its instance, session, seq and DEK id,
so a record cannot be moved to another place without failing verification. DEKs are
wrapped (also AES-256-GCM) by a key-encryption key (KEK) from the keyring, a file
kept apart from the data directory.

Console passwords are hashed with Argon2id (RFC 9106), stored as PHC strings.

The audit chain is keyed: HMAC-SHA-256 with a key derived (HKDF, one label per use) from
a dedicated audit secret in the keyring, not from a KEK, because `keys rewrap` retires
every KEK but the active one and the chain must outlive that.

Retention ratchet (docs/adr/0022-retention-ratchet.md): the keyring holds the root K_R
of one UTC day R; K_(d+1) = HKDF(K_d), one-way. A session's DEK is wrapped under a key
derived from the KEK and the day key HKDF(K_epoch, instance) of its instance and epoch
(UTC day of creation). After each purge the root moves to yesterday, and of the days
before it the keyring keeps only the day keys live sessions use: a purged session's day
key is gone once its day has no live session left, so a backup taken before the purge
cannot be opened with the live keyring.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterator, Mapping, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidKey, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from collector.exceptions import CorruptRecord, KeyringError, RetentionKeyDestroyed
from collector.files import write_new_file

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # 96-bit GCM nonce, fresh for every seal
KEYRING_FORMAT = "phi-replay-keyring/1"
# HKDF labels: one key per purpose from the one audit secret, so a chain MAC can never
# pass for an anchor signature or the other way round.
AUDIT_CHAIN_LABEL = b"phi-replay/audit-chain/v1"
AUDIT_ANCHOR_LABEL = b"phi-replay/audit-anchor/v1"
RATCHET_LABEL = b"phi-replay/retention-ratchet/v1"
DAY_KEY_LABEL = b"phi-replay/retention-day/v1"
DEK_WRAP_LABEL = b"phi-replay/dek-wrap/v1"
# A wrapped key naming a day further ahead of the ratchet than this is not ours: the
# derivation is one HKDF per day, and an index is not trusted to pick the loop's length.
MAX_RATCHET_STEPS = 100 * 366
DESTROYED = "its retention key was destroyed: the session expired and was purged"


# OWASP's first Argon2id configuration: 19 MiB, 2 passes, 1 lane (about 50 ms here).
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_ITERATIONS = 2
ARGON2_LANES = 1
SALT_BYTES = 16


def hash_password(password: str) -> str:
    """An Argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`)."""
    kdf = Argon2id(
        salt=os.urandom(SALT_BYTES),
        length=32,
        iterations=ARGON2_ITERATIONS,
        lanes=ARGON2_LANES,
        memory_cost=ARGON2_MEMORY_KIB,
    )
    return kdf.derive_phc_encoded(password.encode())


def verify_password(encoded: str, password: str) -> bool:
    """Whether `password` matches the PHC string; False for a malformed one."""
    try:
        Argon2id.verify_phc_encoded(password.encode(), encoded)
    except (InvalidKey, ValueError):
        return False
    return True


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < NONCE_BYTES + 16:
        raise CorruptRecord("sealed data is shorter than a nonce and a tag")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise CorruptRecord("authentication tag does not verify") from exc


def record_aad(instance: str, session_id: str, seq: int, dek_id: str) -> bytes:
    return f"phi-replay/record/v1\x00{instance}\x00{session_id}\x00{seq}\x00{dek_id}".encode()


def _wrap_aad(instance: str, session_id: str, dek_id: str, kek_id: str) -> bytes:
    return f"phi-replay/dek/v1\x00{instance}\x00{session_id}\x00{dek_id}\x00{kek_id}".encode()


def _wrap_aad_epoch(instance: str, session_id: str, dek_id: str, kek_id: str, epoch: str) -> bytes:
    return (
        f"phi-replay/dek/v2\x00{instance}\x00{session_id}\x00{dek_id}\x00{kek_id}\x00{epoch}"
    ).encode()


def utc_day(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


@dataclass(frozen=True, repr=False)
class DataKey:
    """A session's data key. Prints as `[secure]`: key material never reaches a log."""

    dek_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"DataKey(dek_id={self.dek_id!r}, key=[secure])"

    @classmethod
    def generate(cls) -> DataKey:
        return cls(dek_id=secrets.token_hex(8), key=os.urandom(KEY_BYTES))

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        return _seal(self.key, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        return _open(self.key, blob, aad)


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(secret)


@dataclass(frozen=True, repr=False)
class AuditKey:
    """The keys of the audit chain, derived from the keyring's audit secret. `created` (epoch
    seconds) is when the secret was added: an unkeyed record written after it is suspect.
    Prints as `[secure]`."""

    chain: bytes
    anchor: bytes
    created: float

    def __repr__(self) -> str:
        return f"AuditKey(created={self.created!r}, keys=[secure])"

    @classmethod
    def from_secret(cls, secret: bytes, created: float) -> AuditKey:
        return cls(_derive(secret, AUDIT_CHAIN_LABEL), _derive(secret, AUDIT_ANCHOR_LABEL), created)

    def mac(self, body: bytes) -> str:
        return hmac.new(self.chain, body, hashlib.sha256).hexdigest()

    def key_id(self) -> int:
        """Names the key without revealing it (60 bits, to fit an SQLite integer)."""
        return int(self.mac(b"phi-replay/audit-key-id")[:15], 16)

    def sign_anchor(self, body: bytes) -> str:
        return hmac.new(self.anchor, body, hashlib.sha256).hexdigest()

    def anchor_ok(self, body: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign_anchor(body), signature)


@dataclass(frozen=True)
class WrappedKey:
    """A DEK as stored: sealed under the KEK named by `kek_id` and, when `epoch` (a UTC
    day, ISO) is set, the retention ratchet's key of that day. "" for keys wrapped before
    the ratchet: the KEK alone opens them until `keys rewrap` moves them onto it."""

    dek_id: str
    kek_id: str
    blob: bytes
    epoch: str = ""


@dataclass(frozen=True, repr=False)
class Ratchet:
    """The retention ratchet: the root key K of `day`, which derives every later day's
    root and so every later (instance, day) key, and no earlier one; and `kept`, the
    (instance, day) keys of days before `day` that a live session still uses. A purge
    ends a day key's use; the next advance drops it, and it exists nowhere any more."""

    day: date
    key: bytes
    kept: Mapping[tuple[str, date], bytes] = field(default_factory=dict)
    _roots: dict[date, bytes] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return f"Ratchet(day={self.day.isoformat()!r}, kept={len(self.kept)}, keys=[secure])"

    def root(self, day: date) -> bytes:
        """K of `day` (not before `self.day`): one HKDF per day from the stored root."""
        steps = (day - self.day).days
        if steps < 0:
            raise RetentionKeyDestroyed(DESTROYED)
        if steps > MAX_RATCHET_STEPS:
            raise CorruptRecord("the data key names a retention day too far in the future")
        cached = self._roots.get(day)
        if cached is not None:
            return cached
        key = self.key
        for _ in range(steps):
            key = _derive(key, RATCHET_LABEL)
        if len(self._roots) > 1024:  # bounded: export walks many sessions of few days
            self._roots.clear()
        self._roots[day] = key
        return key

    def has(self, instance: str, day: date) -> bool:
        return day >= self.day or (instance, day) in self.kept

    def day_key(self, instance: str, day: date) -> bytes:
        """The key of sessions of `instance` started on `day`. One per instance, so that a
        long-retention instance keeps only its own old days' keys, never another's."""
        if day < self.day:
            kept = self.kept.get((instance, day))
            if kept is None:
                raise RetentionKeyDestroyed(DESTROYED)
            return kept
        return _derive(self.root(day), DAY_KEY_LABEL + b"\x00" + instance.encode())

    def advanced(self, day: date, in_use: Set[tuple[str, date]]) -> Ratchet:
        """The root moved to `day` (never back), keeping exactly the day keys before it
        that `in_use` names and that still exist. Deterministic: the same ratchet, day
        and sessions give the same state, however many steps it took to get there."""
        day = max(day, self.day)
        kept: dict[tuple[str, date], bytes] = {}
        for instance, used in sorted(in_use):
            if used < day and self.has(instance, used):
                kept[(instance, used)] = self.day_key(instance, used)
        return Ratchet(day, self.root(day), kept)


@dataclass(repr=False)
class Keyring:
    """Key-encryption keys, loaded from a 0600 JSON file outside the data directory."""

    path: Path
    active: str
    keys: dict[str, bytes] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    # The audit chain's secret and when it was made (absent in keyrings from before it).
    audit_secret: bytes | None = None
    audit_created: str = ""
    # Absent in keyrings from before it: added at first start (`ensure_ratchet`).
    ratchet: Ratchet | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def __repr__(self) -> str:
        return f"Keyring(path={str(self.path)!r}, active={self.active!r}, keys=[secure])"

    @classmethod
    def load(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Keyring:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError as exc:
            raise KeyringError(
                f"keyring {path} does not exist; create it with `phi-replay keys init`"
            ) from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyringError(
                f"keyring {path} is readable by group or others (mode {stat.S_IMODE(mode):o});"
                " run `chmod 600` on it"
            )
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != KEYRING_FORMAT:
                raise KeyringError(f"keyring {path}: expected format {KEYRING_FORMAT!r}")
            keys = {str(k["id"]): _unb64(k["key"]) for k in doc["keys"]}
            created = {str(k["id"]): str(k.get("created", "")) for k in doc["keys"]}
            active = str(doc["active"])
            audit = doc.get("audit")
            audit_secret = None if audit is None else _unb64(audit["key"])
            audit_created = "" if audit is None else str(audit["created"])
            if audit is not None:
                datetime.fromisoformat(audit_created)
            raw_ratchet = doc.get("ratchet")
            ratchet = None
            if raw_ratchet is not None:
                kept = {
                    (str(k["instance"]), date.fromisoformat(k["day"])): _unb64(k["key"])
                    for k in raw_ratchet.get("kept", [])
                }
                ratchet = Ratchet(
                    date.fromisoformat(raw_ratchet["day"]), _unb64(raw_ratchet["key"]), kept
                )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"keyring {path} is malformed ({type(exc).__name__})") from exc
        if active not in keys:
            raise KeyringError(f"keyring {path}: the active key is not in the keyring")
        if any(len(k) != KEY_BYTES for k in keys.values()):
            raise KeyringError(f"keyring {path}: every key must be {KEY_BYTES} bytes")
        if audit_secret is not None and len(audit_secret) != KEY_BYTES:
            raise KeyringError(f"keyring {path}: the audit key must be {KEY_BYTES} bytes")
        if ratchet is not None and any(
            len(k) != KEY_BYTES for k in (ratchet.key, *ratchet.kept.values())
        ):
            raise KeyringError(f"keyring {path}: the ratchet key must be {KEY_BYTES} bytes")
        return cls(path, active, keys, created, audit_secret, audit_created, ratchet, clock)

    @classmethod
    def create(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Keyring:
        """Write a new keyring with one fresh KEK; refuses to overwrite an existing file."""
        ring = cls(path=path, active="", clock=clock)
        ring.active = ring._new_key()
        ring._new_audit_secret()
        ring.ratchet = ring._new_ratchet()
        ring._write(exclusive=True)
        return ring

    def today(self) -> date:
        return utc_day(self.clock())

    def _new_ratchet(self) -> Ratchet:
        return Ratchet(self.today(), os.urandom(KEY_BYTES))

    def ensure_ratchet(self) -> bool:
        """A keyring from before the ratchet gets one now (written once, like the audit
        secret). False when the file cannot be written: new sessions are then wrapped
        under the KEK alone, as before, and the caller says so."""
        if self.ratchet is not None:
            return True
        try:
            with self._locked():
                on_disk = self._on_disk()
                if on_disk.ratchet is None:
                    on_disk.ratchet = on_disk._new_ratchet()
                    on_disk._write(exclusive=False)
                self.ratchet = on_disk.ratchet
        except OSError:
            return False
        return True

    def advance_ratchet(self, in_use: Set[tuple[str, date]]) -> bool:
        """After a purge: the root moves to yesterday (UTC; not today: a session whose key
        was wrapped just before midnight may not have its row yet), and of the days
        before it only the (instance, day) keys in `in_use` (every session still stored)
        are kept. Whether anything changed. OSError when the keyring cannot be written:
        the ratchet then stays where it was, on disk and here."""
        if self.ratchet is None:
            return False
        target = self.today() - timedelta(days=1)
        if self.ratchet.advanced(target, in_use) == self.ratchet:
            return False
        with self._locked():
            on_disk = self._on_disk()
            self._adopt_newer_ratchet(on_disk)
            new = self.ratchet.advanced(target, in_use)
            if new != on_disk.ratchet:
                on_disk.ratchet = new
                on_disk._write(exclusive=False)
            self.ratchet = new
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Every rewrite of an existing keyring holds this lock beside it, and reads the
        file again inside it: two writers (serve advancing the ratchet, `keys rotate`)
        never undo each other's change."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _on_disk(self) -> Keyring:
        """The keyring file as it is now (inside `_locked`: the truth under the lock)."""
        return Keyring.load(self.path, clock=self.clock)

    def _adopt_newer_ratchet(self, on_disk: Keyring) -> None:
        """Inside `_locked`: a ratchet advanced on disk since this ring was loaded wins,
        or writing this ring back would bring destroyed keys back."""
        if on_disk.ratchet is not None and (
            self.ratchet is None or on_disk.ratchet.day >= self.ratchet.day
        ):
            self.ratchet = on_disk.ratchet

    def _new_audit_secret(self) -> None:
        self.audit_secret = os.urandom(KEY_BYTES)
        self.audit_created = datetime.now(UTC).isoformat(timespec="microseconds")

    def audit_key(self) -> AuditKey:
        """The audit chain's keys. A keyring from before keyed audit gets its secret now
        (written once, like a rotation): the one upgrade step an operator never runs."""
        if self.audit_secret is None:
            try:
                self._add_audit_secret()
            except OSError as exc:
                raise KeyringError(
                    f"keyring {self.path}: cannot add the audit key to it"
                    f" ({exc.strerror or type(exc).__name__}); run any `phi-replay audit`"
                    " command once as the keyring's owner"
                ) from exc
        assert self.audit_secret is not None
        created = datetime.fromisoformat(self.audit_created).timestamp()
        return AuditKey.from_secret(self.audit_secret, created)

    def _new_key(self) -> str:
        kek_id = "kek-" + secrets.token_hex(4)
        self.keys[kek_id] = os.urandom(KEY_BYTES)
        self.created[kek_id] = datetime.now(UTC).isoformat(timespec="seconds")
        return kek_id

    def rotate(self) -> str:
        """A new KEK becomes active for new sessions; older ones stay until `retire`."""
        with self._locked():
            self._adopt_newer_ratchet(self._on_disk())
            self.active = self._new_key()
            self._write(exclusive=False)
        return self.active

    def retire(self, kek_ids: set[str]) -> None:
        """Destroy KEKs: every DEK they wrapped (and any backup of it) becomes unreadable."""
        if self.active in kek_ids:
            raise KeyringError("the active key cannot be retired; rotate first")
        with self._locked():
            self._adopt_newer_ratchet(self._on_disk())
            for kek_id in kek_ids:
                self.keys.pop(kek_id, None)
                self.created.pop(kek_id, None)
            self._write(exclusive=False)

    def rewrap(
        self, wrapped: WrappedKey, instance: str, session_id: str, started_at: float
    ) -> WrappedKey:
        """The same DEK, wrapped under the active KEK (records need no re-encryption). A key
        from before the ratchet moves onto it, at the day its session started (or the
        ratchet's day, if that is later), so that its purge can destroy it too."""
        dek = self.unwrap(wrapped, instance, session_id)
        epoch = date.fromisoformat(wrapped.epoch) if wrapped.epoch else utc_day(started_at)
        return self.wrap(dek, instance, session_id, epoch=epoch)

    @classmethod
    def load_or_create(cls, path: Path, *, clock: Callable[[], float] = time.time) -> Keyring:
        if path.exists():
            return cls.load(path, clock=clock)
        return cls.create(path, clock=clock)

    def _add_audit_secret(self) -> None:
        """Under a lock beside the keyring, so that two processes upgrading at once end
        with one secret: the second finds the first's on disk and takes it."""
        with self._locked():
            on_disk = self._on_disk()
            if on_disk.audit_secret is not None:
                self.audit_secret, self.audit_created = on_disk.audit_secret, on_disk.audit_created
                return
            self._adopt_newer_ratchet(on_disk)
            self._new_audit_secret()
            self._write(exclusive=False)

    def _write(self, *, exclusive: bool) -> None:
        doc: dict[str, object] = {
            "format": KEYRING_FORMAT,
            "active": self.active,
            "keys": [
                {"id": k, "created": self.created.get(k, ""), "key": _b64(v)}
                for k, v in self.keys.items()
            ],
        }
        if self.audit_secret is not None:
            doc["audit"] = {"created": self.audit_created, "key": _b64(self.audit_secret)}
        if self.ratchet is not None:
            doc["ratchet"] = {
                "day": self.ratchet.day.isoformat(),
                "key": _b64(self.ratchet.key),
                "kept": [
                    {"instance": instance, "day": day.isoformat(), "key": _b64(key)}
                    for (instance, day), key in sorted(self.ratchet.kept.items())
                ],
            }
        if exclusive and self.path.exists():
            raise KeyringError(f"keyring {self.path} already exists; not overwriting it")
        self._remove_stale_tmp()
        write_new_file(self.path, json.dumps(doc, indent=2).encode(), sync=True)

    def _remove_stale_tmp(self) -> None:
        """Earlier versions wrote through a fixed `KEYRING.tmp`; one left by a crash holds
        key material. Removed only when it is a regular file of ours (never followed)."""
        stale = self.path.with_name(self.path.name + ".tmp")
        try:
            info = stale.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            stale.unlink(missing_ok=True)

    def wrap(
        self, dek: DataKey, instance: str, session_id: str, *, epoch: date | None = None
    ) -> WrappedKey:
        """Under the active KEK and the ratchet's key of `epoch` (default: today, UTC),
        never of a day the ratchet has passed. Without a ratchet (a keyring that could
        not be upgraded) under the KEK alone, as before it."""
        kek_id = self.active
        ratchet = self.ratchet  # one read: an advance replaces it whole, from a thread
        if ratchet is None:
            aad = _wrap_aad(instance, session_id, dek.dek_id, kek_id)
            return WrappedKey(dek.dek_id, kek_id, _seal(self.keys[kek_id], dek.key, aad))
        day = epoch or self.today()
        if not ratchet.has(instance, day):
            day = ratchet.day
        key = _derive(self.keys[kek_id] + ratchet.day_key(instance, day), DEK_WRAP_LABEL)
        aad = _wrap_aad_epoch(instance, session_id, dek.dek_id, kek_id, day.isoformat())
        return WrappedKey(dek.dek_id, kek_id, _seal(key, dek.key, aad), day.isoformat())

    def unwrap(self, wrapped: WrappedKey, instance: str, session_id: str) -> DataKey:
        kek = self.keys.get(wrapped.kek_id)
        if kek is None:
            raise CorruptRecord("the key that wrapped this data key is not in the keyring")
        if not wrapped.epoch:
            aad = _wrap_aad(instance, session_id, wrapped.dek_id, wrapped.kek_id)
            return DataKey(wrapped.dek_id, _open(kek, wrapped.blob, aad))
        try:
            day = date.fromisoformat(wrapped.epoch)
        except ValueError as exc:
            raise CorruptRecord("the data key's retention day is not a date") from exc
        ratchet = self.ratchet
        if ratchet is None:
            raise CorruptRecord(
                "the data key needs the retention ratchet and this keyring has none:"
                " is it the right keyring?"
            )
        key = _derive(kek + ratchet.day_key(instance, day), DEK_WRAP_LABEL)
        aad = _wrap_aad_epoch(instance, session_id, wrapped.dek_id, wrapped.kek_id, wrapped.epoch)
        return DataKey(wrapped.dek_id, _open(key, wrapped.blob, aad))
