"""Origin allow-list patterns: `https://trials.example.org`, `http://127.0.0.1:*`.

A pattern is scheme, host and an optional port, where the port may be `*` (any port,
digits only). Hosts are compared exactly; there are no wildcard hosts, because a
wildcard host is how an allow-list quietly admits an attacker's domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ORIGIN = re.compile(r"^(https?)://([a-z0-9.-]+|\[[0-9a-f:]+\])(?::(\d{1,5}|\*))?$")
_DEFAULT_PORTS = {"http": "80", "https": "443"}


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str
    port: str  # digits, or "*" for any port

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        match = _ORIGIN.match(text.strip().lower())
        if match is None:
            raise ValueError("expected an origin like https://host or http://host:*")
        scheme, host, port = match.groups()
        return cls(scheme, host, port or _DEFAULT_PORTS[scheme])

    def matches(self, origin: str) -> bool:
        match = _ORIGIN.match(origin.strip().lower())
        if match is None:
            return False
        scheme, host, port = match.groups()
        if port == "*":
            return False  # a real Origin header never carries a wildcard
        port = port or _DEFAULT_PORTS[scheme]
        return (
            scheme == self.scheme and host == self.host and (self.port == "*" or port == self.port)
        )

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def origin_allowed(origin: str | None, patterns: tuple[OriginPattern, ...]) -> bool:
    return origin is not None and any(p.matches(origin) for p in patterns)
