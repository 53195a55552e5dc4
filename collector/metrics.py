"""The collector's Prometheus metrics (`GET /metrics`, docs/operations.md "Metrics").

Ingest is observed at the protocol's boundary (collector/http_limits.py watches the
documented messages: welcome, ack, error), so the endpoint itself carries no metrics
code. One registry per application, not prometheus-client's global one: tests build several
apps in one process, and a global registry would refuse the second. Label values come
from fixed sets only (a refusal code, a connection kind, the route a batch came by):
never from the payload, an instance name or an address, so a scrape carries no PHI and a
hostile client cannot grow the label space.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

# Every refusal code of docs/protocol.md, and the HTTP limits' own; anything else counts
# as "other" (a code added without a label here is still counted).
REFUSAL_CODES = (
    "malformed_json",
    "unknown_type",
    "protocol",
    "invalid_batch",
    "origin_not_allowed",
    "unauthorised",
    "disabled",
    "too_large",
    "rate_limited",
    "internal",
    "too_many_connections",
    "idle_timeout",
    "body_timeout",
    # Codes other items of issue 11 add (storage, sessions bound to their user, drain).
    "storage_full",
    "session_mismatch",
    "seq_out_of_range",
    "shutting_down",
    "other",
)
CONNECTION_KINDS = ("websocket", "http")
VIA = ("socket", "beacon")
# Batches per group commit: one at idle, hundreds when thousands of sessions write.
GROUP_SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# A group's syncfs plus the index's fsync: 1-10 ms on an SSD; a slow or failing disk, seconds.
FSYNC_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)


class _AuditHead(Collector):
    """Audit appends, read from the chain's head when scraped: every writer (console, CLI,
    ingest) appends to the same chain, and the head's seq only ever grows."""

    def __init__(self, head: Callable[[], int | None]) -> None:
        self._head = head

    def collect(self) -> Iterable[Metric]:
        try:
            value = self._head()
        except Exception:  # a scrape must never fail because the database is busy
            value = None
        if value is not None:
            yield CounterMetricFamily(
                "phi_replay_audit_appends",
                "Audit records appended to the chain (its head's sequence number).",
                value=value,
            )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.open_connections = Gauge(
            "phi_replay_open_connections",
            "Open WebSockets and HTTP requests in progress.",
            ["kind"],
            registry=r,
        )
        self.connections = Counter(
            "phi_replay_connections", "WebSockets and HTTP requests let in.", ["kind"], registry=r
        )
        self.sessions = Counter(
            "phi_replay_sessions",
            "Sessions opened or resumed: welcomes on the socket, beacons stored.",
            ["via"],
            registry=r,
        )
        self.batches = Counter(
            "phi_replay_batches_received", "Batch frames received on the socket.", registry=r
        )
        self.bytes_in = Counter(
            "phi_replay_received_bytes",
            "Bytes received: socket frames, beacon bodies.",
            ["via"],
            registry=r,
        )
        self.acks = Counter("phi_replay_acks", "Acks sent: batches made durable.", registry=r)
        self.refusals = Counter(
            "phi_replay_refusals", "Refusals, by protocol error code.", ["code"], registry=r
        )
        self.group_size = Histogram(
            "phi_replay_group_commit_batches",
            "Batches made durable by one group commit.",
            buckets=GROUP_SIZES,
            registry=r,
        )
        self.fsync = Histogram(
            "phi_replay_fsync_seconds",
            "Time one group commit took to be durable: syncfs of the segments, then the"
            " index transaction (synchronous=FULL, its own fsync).",
            buckets=FSYNC_SECONDS,
            registry=r,
        )
        self.store_errors = Counter(
            "phi_replay_store_errors",
            "Group commits that failed (none of their batches acked).",
            registry=r,
        )
        for kind in CONNECTION_KINDS:
            self.open_connections.labels(kind)
            self.connections.labels(kind)
        for via in VIA:
            self.sessions.labels(via)
            self.bytes_in.labels(via)
        for code in REFUSAL_CODES:
            self.refusals.labels(code)

    # -- sources read when scraped --------------------------------------------------------

    def watch_disk(self, data_dir: Path) -> None:
        gauge = Gauge(
            "phi_replay_disk_free_bytes",
            "Free bytes on the data directory's volume (for the collector's user).",
            registry=self.registry,
        )
        gauge.set_function(lambda: float(shutil.disk_usage(data_dir).free))

    def watch_audit(self, head: Callable[[], int | None]) -> None:
        self.registry.register(_AuditHead(head))

    # -- events ---------------------------------------------------------------------------

    def opened(self, kind: str) -> None:
        self.connections.labels(kind).inc()
        self.open_connections.labels(kind).inc()

    def closed(self, kind: str) -> None:
        self.open_connections.labels(kind).dec()

    def refused(self, code: str) -> None:
        self.refusals.labels(code if code in REFUSAL_CODES else "other").inc()

    def session(self, via: str) -> None:
        self.sessions.labels(via).inc()

    def received(self, via: str, size: int) -> None:
        self.bytes_in.labels(via).inc(size)

    def batch(self) -> None:
        self.batches.inc()

    def ack(self) -> None:
        self.acks.inc()

    def commit(self, batches: int, fsync_seconds: float | None) -> None:
        """From the store's writer thread: one group commit, or (None) a failed one."""
        if fsync_seconds is None:
            self.store_errors.inc()
            return
        self.group_size.observe(batches)
        self.fsync.observe(fsync_seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
