"""The per-connection token bucket: bursts allowed, then the sustained rate."""

from __future__ import annotations

from collector.limits import TokenBucket


def test_a_burst_then_the_sustained_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2 per second
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 60  # a long pause refills only up to the burst
    assert sum(bucket.take() for _ in range(10)) == 3
