"""Rate limits: the per-connection token bucket over batches, per-address buckets over beacons."""

from __future__ import annotations

from collector.limits import MAX_ADDRESSES, AddressBuckets, TokenBucket


def test_a_burst_then_the_sustained_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one token back at 2 per second
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 60  # a long pause refills only up to the burst
    assert sum(bucket.take() for _ in range(10)) == 3


def test_beacon_buckets_are_per_address_weigh_large_bodies_and_stay_bounded() -> None:
    now = [0.0]
    buckets = AddressBuckets(rate=1.0, burst=4, clock=lambda: now[0])
    assert [buckets.take("192.0.2.1") for _ in range(5)] == [True] * 4 + [False]
    assert buckets.take("192.0.2.2"), "another address has its own bucket"
    assert not buckets.take("192.0.2.2", 4), "a large body costs more than one token"
    for i in range(MAX_ADDRESSES + 10):  # a flood of addresses forgets the oldest, no more
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets._buckets) == MAX_ADDRESSES
