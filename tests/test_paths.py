"""The collector's URL path rule (collector/paths.py): the recorder's, case for case, and
nothing a recorder sends can make it keep a segment that is not a declared literal or a
vocabulary word."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.assets import REPO_ROOT, url_vocabulary
from collector.paths import (
    ID,
    MAX_PAGE_CHARS,
    NO_ROUTES,
    compile_routes,
    path_of,
    template_href,
    template_path,
    templated_pages,
)

SHARED = json.loads((REPO_ROOT / "masking-rules" / "tests" / "paths.json").read_text())
WORDS, EXTENSIONS = url_vocabulary()
CANARY = "CANARY-JANE-ROE"


@pytest.mark.parametrize(
    "case", SHARED["cases"], ids=lambda c: f"{c['path']!r} with {len(c['routes'])} route(s)"
)
def test_agrees_with_every_shared_case(case: dict[str, Any]) -> None:
    assert template_path(case["path"], compile_routes(tuple(case["routes"]))) == case["expected"]


def test_the_shared_cases_are_many_and_the_vocabulary_is_lower_case() -> None:
    assert len(SHARED["cases"]) >= 40
    # Both implementations compare lower-cased segments: an upper-case word never matches.
    assert all(w == w.lower() for w in WORDS | EXTENSIONS)
    assert {"patients", "visits"} <= WORDS
    assert "png" in EXTENSIONS


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/patients/{CANARY}/visits", "/patients/:id/visits"),
        (f"/patients/{CANARY.lower()}", "/patients/:id"),
        ("/patients/%4A%61%6E%65", "/patients/:id"),  # "Jane", escaped
        ("/patients/J\u00e4ne-Ro\u00eb", "/patients/:id"),
        ("/patients/\U0001f600", "/patients/:id"),
        ("/patients/%00", "/patients/:id"),
        ("/patients/jane%00.png", "/patients/:id.png"),
        ("/patients/..", "/patients/:id"),
        ("/patients/%2e%2e/%2e%2e/admin", "/patients/:id/:id/admin"),
        ("/patients/:id", "/patients/:id"),
        ("/patients/:jane", "/patients/:id"),
        ("/:id/:id.png", "/:id/:id.png"),
        ("/patients/*", "/patients/:id"),
        ("/patients/%ZZ", "/patients/:id"),
        ("/patients/%C0%AF", "/patients/:id"),  # an over-long "/" is not UTF-8
        ("/patients/a\\b", "/patients/:id"),
        ("/patients/jane doe/visits", "/patients/:id/visits"),
        ("", "/"),
        (CANARY, "/"),
    ],
)
def test_hostile_segments_become_ids(path: str, expected: str) -> None:
    assert template_path(path, NO_ROUTES) == expected


def test_a_very_long_path_with_many_segments_is_templated_quickly() -> None:
    many = "/patients" + f"/{CANARY}" * 5000 + "/visits/"
    started = time.perf_counter()
    out = template_path(many, compile_routes(("/patients/:id/visits",)))
    assert time.perf_counter() - started < 0.5
    assert out == "/patients" + "/:id" * 5000 + "/visits/"
    long_segment = "/patients/" + "x" * 100_000 + ".png"
    assert template_path(long_segment, NO_ROUTES) == "/patients/:id.png"


def test_declared_literals_pass_only_where_declared_words_are() -> None:
    routes = compile_routes(("/studies/:study/arms/:arm", "/wards/*/beds"))
    assert template_path("/studies/PRX-7/arms/placebo", routes) == "/studies/:id/arms/:id"
    assert template_path("/wards/North/Beds", routes) == "/wards/:id/beds"
    # A literal of any route stays on its own, too (as in the recorder).
    assert template_path("/beds/12", routes) == "/beds/:id"
    assert template_path("/beds/12", NO_ROUTES) == "/:id/:id"


def test_routes_are_compiled_once() -> None:
    routes = ("/patients/:id/visits", "/wards/*")
    assert compile_routes(routes) is compile_routes(tuple(routes))


# Segments a page could have, and some a hostile client would send.
segment = st.one_of(
    st.sampled_from(sorted(WORDS))
    .flatmap(lambda w: st.sampled_from([w, w.upper(), w.title()]))
    .map(str),
    st.sampled_from(["", ":id", "*", "..", ".", "%", "%00", "%2F", "%E2%80%A8", "a.png", "x.CSS"]),
    st.text(max_size=12),
)
route_part = st.one_of(
    st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True), st.sampled_from([":p", "*"])
)
routes_strategy = st.lists(
    st.lists(route_part, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts)),
    max_size=4,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(segment, max_size=8), routes_strategy, st.booleans())
def test_output_holds_only_literals_words_extensions_and_ids(
    segments: list[str], routes: list[str], trailing: bool
) -> None:
    table = compile_routes(tuple(routes))
    path = "/" + "/".join(segments) + ("/" if trailing else "")
    out = template_path(path, table)
    known = WORDS | table.literals | {ID, ""}
    for part in out.split("/")[1:]:
        stem, dot, ext = part.rpartition(".")
        assert part in known or (dot and stem in known and ext in EXTENSIONS), (path, out)
    # Templating what was templated changes nothing: the index can be templated again.
    assert template_path(out, table) == out


def test_path_of_takes_the_path_of_whatever_arrives() -> None:
    assert path_of(f"http://127.0.0.1:5999/patients/{CANARY}?x=1#y") == f"/patients/{CANARY}"
    assert path_of("http://127.0.0.1:5999") == "/"
    assert path_of("patients/x") == "/patients/x"
    assert path_of("http://[::1/patients") is None  # urlsplit refuses it: no page
    assert path_of(42) is None
    assert path_of(None) is None


@pytest.mark.parametrize(
    ("href", "expected"),
    [
        (
            f"http://127.0.0.1:5999/patients/{CANARY}/visits?ssn={CANARY}#{CANARY}",
            "http://127.0.0.1:5999/patients/:id/visits",
        ),
        (f"https://{CANARY}:pw@clinic.example.org/x", "https://clinic.example.org/:id"),
        ("HTTPS://clinic.example.org", "https://clinic.example.org/"),
        (f"javascript:alert('{CANARY}')", ""),
        (f"data:text/plain,{CANARY}", ""),
        (f"/patients/{CANARY}", ""),
        ("http://[::1/patients", ""),
        (None, ""),
    ],
)
def test_a_page_url_keeps_origin_and_templated_path_only(href: object, expected: str) -> None:
    assert template_href(href, NO_ROUTES) == expected


def test_indexed_pages_are_templated_bounded_and_unique() -> None:
    paths = [f"/patients/{CANARY}", "/patients/CANARY-JOHN-DOE", "/" + "x/" * 400]
    pages = templated_pages(paths, NO_ROUTES)
    assert pages == ("/patients/:id", ("/:id" * 400)[:MAX_PAGE_CHARS])
    assert MAX_PAGE_CHARS == 300
    assert CANARY not in "".join(pages)
