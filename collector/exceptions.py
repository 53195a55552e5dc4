"""Errors raised by the collector.

    PhiReplayError
    ├── ConfigError          bad config file or command-line value (names the key)
    ├── StartupError         `serve` cannot start: port, TLS files, data directory (one sentence)
    ├── KeyringError         keyring missing, unreadable, too permissive or malformed
    ├── CorruptRecord        a stored record failed its length, checksum or AEAD check
    │   └── RetentionKeyDestroyed  its session expired: the ratchet destroyed its key
    ├── UnknownSession       no such session in the store
    ├── StorageFull          the data directory's volume has no space left (ENOSPC, SQLITE_FULL)
    └── Refusal              an ingest frame refused; carries the wire code and close code

Messages name what was expected and what arrived, but never echo payload values:
anything a browser sent may carry PHI.
"""

from __future__ import annotations


class PhiReplayError(Exception):
    pass


class ConfigError(PhiReplayError):
    pass


class StartupError(PhiReplayError):
    pass


class KeyringError(PhiReplayError):
    pass


class CorruptRecord(PhiReplayError):
    pass


class RetentionKeyDestroyed(CorruptRecord):
    """The session's retention day is behind the keyring's ratchet: it expired and was
    purged, and its data key can never be unwrapped again (a restored backup)."""


class UnknownSession(PhiReplayError):
    pass


class StorageFull(PhiReplayError):
    """The volume holding the data directory is full: the message names the directory,
    never a payload. The store refuses new sessions until space returns."""


class Refusal(PhiReplayError):
    """An ingest frame the collector will not accept.

    `code` is the protocol's error code (docs/protocol.md), `close_code` the WebSocket
    close code sent after the error message, `reason` a human-readable sentence.
    """

    def __init__(
        self, code: str, close_code: int, reason: str, seq: int | None = None, log_detail: str = ""
    ) -> None:
        super().__init__(reason)
        self.code = code
        self.close_code = close_code
        self.reason = reason
        self.seq = seq
        self.log_detail = log_detail  # for the log line: instance, environment (never PHI)
