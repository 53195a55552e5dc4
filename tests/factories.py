"""Factories for test data shared by several test modules."""

from __future__ import annotations

from collector.crypto import DataKey, Keyring
from collector.store import SessionRecord


def sealed_session(
    keyring: Keyring, dek: DataKey, session_id: str = "sess-aaaaaaaa", instance: str = "dev"
) -> SessionRecord:
    """A new session whose data key `dek` is wrapped by `keyring`, as ingest creates one."""
    return SessionRecord(
        session_id,
        instance,
        "u",
        "dev",
        "tab-aaaaaaaa",
        0.0,
        keyring.wrap(dek, instance, session_id),
    )
