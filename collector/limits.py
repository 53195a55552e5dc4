"""Rate limiting: a token bucket over batches per connection, and buckets per client
address (beacons, console sign-ins); `address_key` says whom an address counts as.

A recorder sends about one batch a second, with bursts on page load; a client sending far
more is broken or hostile, and must not starve the other sessions of the event loop.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network, ip_address


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


def address_key(host: str) -> str:
    """Whom an address counts as: itself, an IPv4-mapped IPv6 address as its IPv4 one, and
    an IPv6 client by its /64, which one host usually holds whole (so that it cannot take
    a fresh bucket or connection budget per address)."""
    try:
        address = ip_address(host.strip())
    except ValueError:
        return host
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Network((address, 64), strict=False))
    return str(address)


class AddressBuckets:
    """One token bucket per client address (by `address_key`): beacons are one request
    each, sign-ins come from no connection, so there is nothing else to hang a bucket on.
    Memory is bounded: a forgotten address comes back with a full bucket, which costs an
    attacker holding more than `max_addresses` addresses nothing they did not have
    already. Thread-safe: the console checks sign-ins in the thread pool."""

    def __init__(
        self,
        rate: float,
        burst: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_addresses = max_addresses
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._refusing: set[str] = set()  # addresses whose last take was refused

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.clock)
            while len(self._buckets) >= self.max_addresses:
                forgotten, _ = self._buckets.popitem(last=False)
                self._refusing.discard(forgotten)
        self._buckets[key] = bucket
        return bucket

    def take(self, address: str, cost: float = 1.0) -> bool:
        key = address_key(address)
        with self._lock:
            allowed = self._bucket(key).take(cost)
            if allowed:
                self._refusing.discard(key)
            else:
                self._refusing.add(key)
            return allowed

    def refusing(self, address: str) -> bool:
        """Whether the address's last take was refused: the first refusal of a run is
        worth an audit record, the rest of a flood is not."""
        with self._lock:
            return address_key(address) in self._refusing

    def give_back(self, address: str, cost: float = 1.0) -> None:
        with self._lock:
            bucket = self._bucket(address_key(address))
            bucket.take(0.0)  # brings the count up to now
            bucket.tokens = min(self.burst, bucket.tokens + cost)

    def retry_after(self, address: str, cost: float = 1.0) -> float:
        """Seconds until the address may take `cost` again (0 if it may now)."""
        with self._lock:
            bucket = self._bucket(address_key(address))
            bucket.take(0.0)
            missing = cost - bucket.tokens
            return 0.0 if missing <= 0 else missing / self.rate if self.rate > 0 else float("inf")


class MemoryBudget:
    """Bytes of not-yet-checked client input the collector holds at once, across every
    connection: frames still arriving and request bodies being read. A client may stop
    half-way through a frame or a body and hold what it sent; per-connection limits
    alone multiply by the number of connections (200 per address, any number of
    addresses). Past the budget, the input that would exceed it is refused as `busy`
    (retry later) and its bytes are dropped at once. Only the event loop's thread uses it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held = max(0, self.held - size)
