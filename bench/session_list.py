"""Session list benchmark: the console's query on 100,000 stored sessions.

    .venv/bin/python -m bench.session_list [--sessions 100000] [--runs 5]

Fills a fresh data directory's index with synthetic sessions (3 instances, 5,000 users,
two pages each), then times `EmbeddedStore.query_sessions` for the list's common views
against a peer measured in the same run: SQLite answering the bare page query
(`SELECT ... ORDER BY started_at DESC LIMIT 50`) with no count, filter or pages.
Prints the median of `--runs` per view and the ratio to the peer.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from collector.embedded import EmbeddedStore
from collector.store import SessionQuery

T0 = 1.7e9


def fill(data_dir: Path, n: int) -> None:
    EmbeddedStore(data_dir).close()
    rng = random.Random(42)  # noqa: S311 (synthetic data, reproducible)
    db = sqlite3.connect(data_dir / "index.sqlite3")
    with db:
        db.executemany(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    f"s-{i:08d}",
                    rng.choice(("trials", "training", "registry")),
                    f"user{i % 5000:04d}",
                    rng.choice(("prod", "uat")),
                    "tab-00000000",
                    T0 + i * 10,
                    "dek",
                    "kek",
                    b"\0" * 60,
                    1000,
                    1000 + rng.randint(0, 10**7),
                    rng.randint(1, 5000),
                    10,
                    10,
                )
                for i in range(n)
            ),
        )
        db.executemany(
            "INSERT INTO session_pages VALUES (?, ?)",
            ((f"s-{i:08d}", p) for i in range(n) for p in ("/", "/patients/:id")),
        )
    db.close()


def median_ms(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="phi-bench-list-") as tmp:
        data_dir = Path(tmp) / "var"
        fill(data_dir, args.sessions)
        store = EmbeddedStore(data_dir, writer=False)
        peer_db = sqlite3.connect(data_dir / "index.sqlite3")
        try:
            peer = median_ms(
                lambda: peer_db.execute(
                    "SELECT * FROM sessions ORDER BY started_at DESC LIMIT 50"
                ).fetchall(),
                args.runs,
            )
            views = {
                "newest first": SessionQuery(),
                "page 1,000": SessionQuery(offset=50_000),
                "one instance": SessionQuery(instance="trials"),
                "one user": SessionQuery(user="user0042"),
                "customer scope, by events": SessionQuery(
                    instances=frozenset({"trials"}), sort="events"
                ),
                "longest first": SessionQuery(sort="duration"),
                "one day": SessionQuery(started_from=T0 + 400_000, started_to=T0 + 486_400),
            }
            print(f"{args.sessions:,} sessions; peer (bare LIMIT 50 query): {peer:.2f} ms")
            print(f"{'view':28} {'ms':>8} {'x peer':>8}")
            for name, query in views.items():
                ms = median_ms(lambda q=query: store.query_sessions(q), args.runs)  # type: ignore[misc]
                print(f"{name:28} {ms:8.1f} {ms / peer:8.1f}")
        finally:
            peer_db.close()
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
