"""A duplicated browser tab copies sessionStorage, and so the recorder's session and tab
ids. The collector lets one page at a time write a session (`session_in_use`); the copy
must then record a session of its own, and the original must carry on in its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from collector.testing import RunningServer, export_events, running_collector
from e2e.static_site import serving

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward</title>
<script src="{{COLLECTOR}}/sdk/phi-replay.min.js"></script></head>
<body><main><h1>Ward list</h1></main>
<script>
window.recording = PhiReplay.start({endpoint: "{{COLLECTOR}}", appKey: "dev", user: "qa.dup",
    environment: "dev"});
</script></body></html>"""
STORAGE_KEY = "phi-replay:session"


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningServer]:
    with running_collector(tmp_path / "var") as server:
        yield server


@pytest.fixture
def site(collector: RunningServer, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "ward.html").write_text(PAGE)
    with serving(root, {"/": "ward.html"}, {"COLLECTOR": collector.http_url}) as url:
        yield url


def _markers(collector: RunningServer, session_id: str) -> list[str]:
    events = [e["event"] for e in export_events(collector.data_dir, collector.keyring, session_id)]
    assert [e["type"] for e in events[:2]] == [4, 2], "the session starts with Meta + snapshot"
    return [e["data"]["tag"] for e in events if e["type"] == 5]


def test_a_duplicated_tab_records_its_own_session_and_the_original_keeps_its_own(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    context = browser.new_context()
    try:
        original = context.new_page()
        original.goto(f"{site}/ward")
        original.evaluate("() => window.recording")
        original.evaluate("() => PhiReplay.addEvent('in-original', {})")
        original.evaluate("() => PhiReplay.flush()")
        copied = original.evaluate(f"() => sessionStorage.getItem('{STORAGE_KEY}')")
        first = json.loads(copied)

        duplicate = context.new_page()  # sessionStorage as the browser's "Duplicate" copies it
        duplicate.add_init_script(f"sessionStorage.setItem('{STORAGE_KEY}', {json.dumps(copied)})")
        duplicate.goto(f"{site}/ward")
        duplicate.evaluate("() => window.recording")
        duplicate.evaluate("() => PhiReplay.addEvent('in-duplicate', {})")
        duplicate.evaluate("() => PhiReplay.flush()")
        original.evaluate("() => PhiReplay.addEvent('in-original-later', {})")
        original.evaluate("() => PhiReplay.flush()")

        second = json.loads(duplicate.evaluate(f"() => sessionStorage.getItem('{STORAGE_KEY}')"))
        assert second["sessionId"] != first["sessionId"]
        assert second["tabId"] != first["tabId"], "the copy is a tab of its own"
        still = json.loads(original.evaluate(f"() => sessionStorage.getItem('{STORAGE_KEY}')"))
        assert still["sessionId"] == first["sessionId"]
    finally:
        context.close()

    assert _markers(collector, first["sessionId"]) == ["in-original", "in-original-later"]
    assert _markers(collector, second["sessionId"]) == ["in-duplicate"]


def test_a_reload_continues_its_session_in_the_same_tab(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """The reloaded page is another page: the collector hands the session over once the
    old page's socket is gone, rather than refusing it as a duplicate."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site}/ward")
        page.evaluate("() => window.recording")
        page.evaluate("() => PhiReplay.addEvent('before-reload', {})")
        page.evaluate("() => PhiReplay.flush()")
        before = json.loads(page.evaluate(f"() => sessionStorage.getItem('{STORAGE_KEY}')"))
        for _ in range(3):
            page.reload()
            page.evaluate("() => window.recording")
        page.evaluate("() => PhiReplay.addEvent('after-reload', {})")
        page.evaluate("() => PhiReplay.flush()")
        after = json.loads(page.evaluate(f"() => sessionStorage.getItem('{STORAGE_KEY}')"))
    finally:
        context.close()
    assert after["sessionId"] == before["sessionId"]
    assert _markers(collector, before["sessionId"]) == ["before-reload", "after-reload"]
