"""A batch over the collector's size limit, from a real recorder in Chromium: the collector
names it in a `too_large` error, the recorder never sends it again, and the recording goes
on after a gap marker and a fresh full snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from collector.testing import RunningServer, export_events, running_collector
from e2e.browser import FrameLog
from e2e.static_site import serving

LIMIT = 64 * 1024  # the smallest limit the config allows
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward</title>
<script src="{{COLLECTOR}}/sdk/phi-replay.min.js"></script></head>
<body><main><h1>Ward list</h1><ul id="list"></ul></main>
<script>
window.recording = PhiReplay.start({endpoint: "{{COLLECTOR}}", appKey: "dev", user: "qa.big",
    environment: "dev"});
// A list rendered and thrown away again: one mutation batch far over the limit.
window.burst = () => {
  const list = document.getElementById("list");
  for (let i = 0; i < 6000; i++) list.appendChild(document.createElement("li")).textContent = "row";
  setTimeout(() => list.replaceChildren(), 0);
};
</script></body></html>"""


FLUSHED_WITHIN_10_S = """() => Promise.race([PhiReplay.flush().then(() => "flushed"),
    new Promise((resolve) => setTimeout(() => resolve("not flushed"), 10000))])"""


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[RunningServer]:
    config = tmp_path / "collector.toml"
    config.write_text(f"max_message_bytes = {LIMIT}\n")
    with running_collector(tmp_path / "var", "--config", config) as server:
        yield server


@pytest.fixture
def site(collector: RunningServer, tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "site"
    root.mkdir()
    (root / "ward.html").write_text(PAGE)
    with serving(root, {"/": "ward.html"}, {"COLLECTOR": collector.http_url}) as url:
        yield url


def test_a_batch_too_large_is_sent_once_and_the_recording_goes_on(
    page: Page, collector: RunningServer, site: str
) -> None:
    frames = FrameLog().attach(page)
    page.goto(f"{site}/ward")
    page.evaluate("() => window.recording")
    page.evaluate("() => PhiReplay.flush()")
    page.evaluate("() => window.burst()")
    page.wait_for_timeout(2500)  # the batch is cut, refused, and the socket reconnects
    page.evaluate("() => PhiReplay.addEvent('after-the-gap', {})")
    # Bounded: a recorder resending the refused batch forever would never flush.
    assert page.evaluate(FLUSHED_WITHIN_10_S) == "flushed"

    sent = [f for f in frames.sent if f.startswith('{"type":"batch"')]
    big = [json.loads(f)["seq"] for f in sent if len(f) > LIMIT]
    assert len(big) == 1, "the batch too large went out exactly once"
    session = next(json.loads(f)["session_id"] for f in frames.sent if '"hello"' in f)
    stored = export_events(collector.data_dir, collector.keyring, session)
    assert big[0] not in {e["seq"] for e in stored}
    events = [e["event"] for e in stored]
    gap = next(
        i for i, e in enumerate(events) if e["type"] == 5 and e["data"]["tag"] == "phi-replay.gap"
    )
    assert events[gap]["data"]["payload"] == {"reason": "too-large"}
    assert [e["type"] for e in events[gap + 1 : gap + 3]] == [4, 2], "then Meta and a full snapshot"
    assert events[-1]["data"]["tag"] == "after-the-gap"
