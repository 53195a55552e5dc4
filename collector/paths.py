"""Page paths as the collector indexes them: the recorder's URL rule, applied again.

The recorder sends a page's URL with its path templated (sdk-js/src/mask/url.ts), but an
app key is public, so anything may arrive. Before a path reaches the session index, the
console or the CLI, the collector templates it itself, with the routes declared in the
instance's own configuration (never the application's, which it cannot see). The rule is
the recorder's, and masking-rules/tests/paths.json holds the cases both must agree on:

1. A path that matches a declared route (same number of segments, literals equal after
   percent-decoding and lower-casing, `:name` and `*` matching any non-empty segment)
   becomes that route, literals lower-cased and parameters `:id`; of several matches the
   one with most literals wins, then the first declared.
2. Otherwise each segment alone: empty stays empty, a vocabulary word or any route's
   literal stays (lower-cased), the last may be `stem.ext` with a known extension (the
   stem judged the same way, else `:id.ext`); anything else becomes `:id`.

What comes out is made only of declared literals, vocabulary words, known extensions,
`:id` and slashes, whatever went in.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from collector.assets import url_vocabulary

ID = ":id"  # what every other segment becomes
# A file name's extension, to be judged apart from its stem. As the recorder's
# /^(.+)\.([a-z0-9]{1,5})$/i on a lower-cased segment: JavaScript's `.` stops at these
# four line terminators, and its `$` only at the very end (fullmatch, below).
_EXTENSION = re.compile("([^\n\r\u2028\u2029]+)\\.([a-z0-9]{1,5})")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_ESCAPES = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# The recorder sends http(s) pages only; anything else keeps no origin.
_WEB_SCHEMES = ("http", "https")
MAX_PAGE_CHARS = 300  # per indexed path: the list shows where a session went, not every URL


@dataclass(frozen=True)
class RouteTable:
    """Declared routes, compiled for `template_path` (`compile_routes`)."""

    # Routes by segment count: each a tuple of lower-cased literals, None for a parameter.
    by_size: Mapping[int, tuple[tuple[str | None, ...], ...]]
    literals: frozenset[str]  # every literal of every route, lower-cased


@functools.lru_cache(maxsize=256)
def compile_routes(routes: tuple[str, ...]) -> RouteTable:
    """`routes` as validated (collector.rules.RouteTemplate): "/a/:param/b", "*" for any
    one segment. Cached: an instance's routes are compiled once, not per batch."""
    by_size: dict[int, list[tuple[str | None, ...]]] = {}
    literals: set[str] = set()
    for route in routes:
        parts = tuple(
            None if part == "*" or part.startswith(":") else part.lower()
            for part in route.split("/")
            if part
        )
        literals.update(p for p in parts if p is not None)
        by_size.setdefault(len(parts), []).append(parts)
    return RouteTable({n: tuple(r) for n, r in by_size.items()}, frozenset(literals))


NO_ROUTES = compile_routes(())


@functools.cache
def _vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    return url_vocabulary()


def _decode(segment: str) -> str | None:
    """decodeURIComponent, lower-cased; None where it would throw (a `%` that does not
    start an escape, escapes that are not UTF-8)."""
    if segment.count("%") != len(_ESCAPE.findall(segment)):
        return None
    try:
        # Decoding the whole segment's bytes fails exactly where decoding each run of
        # escapes alone would: a character's UTF-8 neither completes nor continues one.
        return unquote_to_bytes(segment).decode("utf-8").lower()
    except UnicodeEncodeError:  # a lone surrogate, which JavaScript passes through
        return _decode_runs(segment)
    except UnicodeDecodeError:
        return None


def _decode_runs(segment: str) -> str | None:
    out = []
    end = 0
    for run in _ESCAPES.finditer(segment):
        out.append(segment[end : run.start()])
        try:
            out.append(bytes.fromhex(run.group().replace("%", "")).decode("utf-8"))
        except UnicodeDecodeError:
            return None
        end = run.end()
    out.append(segment[end:])
    return "".join(out).lower()


def template_path(path: str, routes: RouteTable) -> str:
    """A pathname with every segment that is not a declared literal or a vocabulary word
    replaced by `:id`. With routes ("/patients/:id/visits",):
    `/patients/Jane-Roe/visits` → `/patients/:id/visits`; `/avatars/JaneRoe.png` →
    `/:id/:id.png` ("avatars" is no vocabulary word); `/static/app.css` unchanged.
    """
    # The segments after the leading slash; a trailing slash is kept aside, as are the
    # empty segments in between.
    raw = path.split("/")[1:]
    trailing = len(raw) > 1 and raw[-1] == ""
    # Inlined rather than a call per segment: a hostile 2 KB path of 1,000 one-letter
    # segments took 520 µs with a call per segment, 118 µs like this (measured).
    decoded = [_decode(s) if "%" in s else s.lower() for s in (raw[:-1] if trailing else raw)]
    out = _match_route(decoded, routes)
    if out is None:
        words, literals = _vocabulary()[0], routes.literals
        out = [
            s if s is not None and (s == "" or s in words or s in literals) else ID
            for s in decoded[:-1]
        ]
        if decoded:
            out.append(_judge_last(decoded[-1], routes))
    return "/" + "/".join(out) + ("/" if trailing else "")


def _match_route(segments: list[str | None], routes: RouteTable) -> list[str] | None:
    best: tuple[str | None, ...] | None = None
    best_literals = -1
    for route in routes.by_size.get(len(segments), ()):
        literals = 0
        for part, segment in zip(route, segments, strict=True):
            if part is None:
                if segment == "":
                    break
            elif segment != part:
                break
            else:
                literals += 1
        else:
            if literals > best_literals:
                best, best_literals = route, literals
    return None if best is None else [ID if part is None else part for part in best]


def _known(word: str, routes: RouteTable) -> bool:
    return word in _vocabulary()[0] or word in routes.literals


def _judge_last(segment: str | None, routes: RouteTable) -> str:
    """The last segment, which may also be a file name with a known extension."""
    if segment is None:
        return ID
    if segment == "" or _known(segment, routes):
        return segment
    file = _EXTENSION.fullmatch(segment)
    if file is not None and file.group(2) in _vocabulary()[1]:
        stem = file.group(1)
        return (stem if _known(stem, routes) else ID) + "." + file.group(2)
    return ID


def path_of(href: object) -> str | None:
    """The path of a page URL as it arrived (a Meta event's `href`), not yet templated:
    for matching excluded routes and for `template_path`. None if it is no URL at all."""
    if not isinstance(href, str):
        return None
    try:
        path = urlsplit(href).path
    except ValueError:  # e.g. an unclosed IPv6 bracket: no page we could name
        return None
    return path if path.startswith("/") else "/" + path


def template_href(href: object, routes: RouteTable) -> str:
    """A page URL as the collector shows it: origin (without user info) and templated
    path, no query or fragment; "" when it is not an http(s) URL."""
    path = path_of(href)
    if path is None:
        return ""
    parts = urlsplit(str(href))
    if parts.scheme.lower() not in _WEB_SCHEMES or not parts.netloc:
        return ""
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme.lower()}://{host}{template_path(path, routes)}"


def templated_pages(paths: Iterable[str], routes: RouteTable) -> tuple[str, ...]:
    """Paths as the index keeps them: templated, each at most MAX_PAGE_CHARS, once."""
    return tuple(dict.fromkeys(template_path(p, routes)[:MAX_PAGE_CHARS] for p in paths))
