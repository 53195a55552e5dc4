"""Excluded-route globs, matched as the recorder matches them (sdk-js/src/rules.ts).

`*` matches within one path segment, `**` across segments; `/a/**` also matches `/a`.
Matching ignores case and a trailing slash. Ingest matches the path of each Meta event's
URL both as it arrived and as the collector templates it (collector/ingest.py,
RouteState).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

GLOB = re.compile(r"^/[^\s?#]*$")


def glob_to_regex(glob: str) -> re.Pattern[str]:
    source = ".*".join(
        "[^/]*".join(re.escape(piece) for piece in part.split("*")) for part in glob.split("**")
    )
    source = re.sub(r"/\.\*$", "(?:/.*)?", source)
    source = re.sub(r"/$", "", source)
    return re.compile(f"^{source}/?$", re.IGNORECASE)


class ExcludedRoutes:
    def __init__(self, globs: Iterable[str]) -> None:
        self.globs = tuple(globs)
        self._patterns = [glob_to_regex(g) for g in self.globs]

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def excluded(self, path: str) -> bool:
        # Also each segment as a server may read it: percent-decoded, without path
        # parameters (;jsessionid=...).
        read = "/".join(unquote(segment.split(";")[0]) for segment in path.split("/"))
        candidates = {path, unquote(path), read}
        return any(p.match(re.sub(r"/{2,}", "/", c)) for c in candidates for p in self._patterns)
