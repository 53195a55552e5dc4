"""Rate limiting: a token bucket over batches per connection, and over beacons per address.

A recorder sends about one batch a second, with bursts on page load; a client sending far
more is broken or hostile, and must not starve the other sessions of the event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens added per second
    burst: float  # bucket size: how many may arrive at once
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.updated = self.clock()

    def take(self, cost: float = 1.0) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


MAX_ADDRESSES = 10_000  # buckets kept; the least recently seen address is forgotten first


class AddressBuckets:
    """One token bucket per client address (beacons are one request each, no connection
    to hang a bucket on). Memory is bounded: a forgotten address comes back with a full
    bucket, which costs an attacker holding more than MAX_ADDRESSES addresses nothing they
    did not have already."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str, cost: float = 1.0) -> bool:
        bucket = self._buckets.pop(address, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.clock)
            if len(self._buckets) >= MAX_ADDRESSES:
                self._buckets.popitem(last=False)
        self._buckets[address] = bucket
        return bucket.take(cost)
