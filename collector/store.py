"""The `Store` protocol: what ingest, the CLI and (later) the console need from storage.

Backends store opaque sealed records; they never see plaintext or keys. The embedded
backend (`collector.embedded`) is the default; every backend must pass
`tests/test_store_contract.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from collector.control import Control
from collector.crypto import WrappedKey


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    instance: str
    user: str
    environment: str
    tab_id: str
    started_at: float  # collector clock, seconds since the epoch
    wrapped_key: WrappedKey
    first_ts: int | None = None  # earliest event timestamp (ms, recorder clock)
    last_ts: int | None = None
    event_count: int = 0
    batch_count: int = 0
    next_seq: int = 1  # one past the highest durable seq

    @property
    def duration_ms(self) -> int:
        if self.first_ts is None or self.last_ts is None:
            return 0
        return max(0, self.last_ts - self.first_ts)


MAX_PAGES_PER_SESSION = 100  # the index shows where a session went, not every URL


@dataclass(frozen=True)
class SealedBatch:
    seq: int
    event_count: int
    first_ts: int
    last_ts: int
    sealed: bytes  # nonce + AES-GCM ciphertext + tag of the brotli'd events
    pages: tuple[str, ...] = ()  # its Meta events' paths as the collector templated them


@dataclass(frozen=True)
class SessionQuery:
    """A page of the console's session list. `instances` limits the scope (None: all)."""

    instance: str | None = None
    environment: str | None = None
    user: str | None = None
    started_from: float | None = None  # epoch seconds, inclusive
    started_to: float | None = None  # exclusive
    instances: frozenset[str] | None = None
    sort: str = "started"  # one of SORT_KEYS
    descending: bool = True
    limit: int = 50
    offset: int = 0


SORT_KEYS = ("started", "duration", "events", "user", "instance", "environment")


@dataclass(frozen=True)
class SessionSummary:
    session: SessionRecord
    pages: tuple[str, ...]


class Store(Protocol):
    control: Control  # accounts, console logins and the audit trail (collector.control)

    async def open_session(self, new: SessionRecord) -> SessionRecord:
        """Create the session if it is new; return the stored record (with `next_seq`)."""
        ...

    async def append(self, session_id: str, batch: SealedBatch) -> bool:
        """Make the batch durable. False if `(session, seq)` was already stored."""
        ...

    def get_session(self, session_id: str) -> SessionRecord:
        """Raise UnknownSession when absent."""
        ...

    def list_sessions(self) -> list[SessionRecord]: ...

    def query_sessions(self, query: SessionQuery) -> tuple[list[SessionSummary], int]:
        """One page of sessions, filtered and sorted, and how many match in all."""
        ...

    def read_batches(self, session_id: str) -> Iterator[SealedBatch]:
        """Stored batches in seq order; CorruptRecord if one fails its checks."""
        ...

    async def purge(self, cutoffs: Mapping[str, float], default_cutoff: float) -> list[str]:
        """Delete sessions started before their instance's cutoff (epoch seconds):
        records, index rows and the wrapped data key. Returns the purged ids."""
        ...

    async def rewrap(self, rewrap: Callable[[SessionRecord], WrappedKey | None]) -> int:
        """Replace each session's wrapped key with `rewrap(session)` when not None."""
        ...

    async def epochs_in_use(self) -> set[tuple[str, str]]:
        """Each (instance, retention day as ISO date) some stored session's data key is
        wrapped under: the retention ratchet keeps exactly these day keys."""
        ...

    def health(self) -> list[str]:
        """What keeps the store from taking new data now, one sentence each (no payload,
        no session id); empty when ready. For `/readyz`."""
        ...

    async def aclose(self) -> None: ...
