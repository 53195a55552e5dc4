"""Real recorders in Chromium keep recording while the collector is `kill -9`ed.

Two tabs record a page that changes every 30 ms and adds a numbered Custom event
(`crash.tick`) each time. The collector is killed (SIGKILL) and restarted on the same
port and data directory a few times; the recorders reconnect, resend what was not
acked, and after the final `PhiReplay.flush()` the collector must hold every batch the
page sent, once, with the events of its last send, and every tick exactly once.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, WebSocket

from collector.rrweb import expand_event
from collector.testing import export_events, free_port
from e2e.static_site import serving
from tests.crash_soak import PluggedCollector

KILLS = 4

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward board</title>
<script src="{{COLLECTOR}}/sdk/phi-replay.min.js"></script></head>
<body><h1>Ward board</h1><ul id="board"></ul>
<script>
window.recording = PhiReplay.start({endpoint: "{{COLLECTOR}}", appKey: "dev",
    user: "qa.crash", environment: "dev"});
window.ticks = 0;
window.ticker = setInterval(() => {
    const board = document.getElementById("board");
    const item = document.createElement("li");
    item.textContent = "bed " + window.ticks;
    board.appendChild(item);
    if (board.children.length > 20) board.firstElementChild.remove();
    board.setAttribute("data-rows", String(board.children.length));
    PhiReplay.addEvent("crash.tick", {n: "tick-" + window.ticks}, {safe: ["n"]});
    window.ticks += 1;
}, 30);
</script></body></html>"""


@dataclass
class Wire:
    """Frames one page sent and received, over every socket it opened."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, page: Page) -> Wire:
        page.on("websocket", self._on_socket)
        return self

    def _on_socket(self, ws: WebSocket) -> None:
        ws.on("framesent", lambda payload: self.sent.append(json.loads(payload)))
        ws.on("framereceived", lambda payload: self.received.append(json.loads(payload)))

    def of_type(self, kind: str, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [f for f in frames if f.get("type") == kind]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[PluggedCollector]:
    plugged = PluggedCollector(tmp_path, free_port(), fault=None)
    try:
        yield plugged
    finally:
        plugged.kill()


@pytest.fixture
def ward_url(tmp_path: Path, collector: PluggedCollector) -> Iterator[str]:
    """The page, on a loopback server (Chromium lets it load the recorder from loopback)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ward.html").write_text(PAGE, encoding="utf-8")
    values = {"COLLECTOR": f"http://127.0.0.1:{collector.port}"}
    with serving(site, {"/ward": "ward.html"}, values) as url:
        yield url + "/ward"


def _open_tab(browser: Browser, url: str) -> tuple[Page, Wire]:
    context = browser.new_context(viewport={"width": 1024, "height": 700})
    page = context.new_page()
    wire = Wire().attach(page)
    page.goto(url)
    assert page.evaluate("() => window.recording.then(() => true)"), "the recorder started"
    return page, wire


def _welcomes(tabs: list[tuple[Page, Wire]]) -> list[int]:
    return [len(wire.of_type("welcome", wire.received)) for _, wire in tabs]


def _wait_for_welcomes(tabs: list[tuple[Page, Wire]], before: list[int]) -> None:
    """Until every tab's recorder was welcomed again since `before` (its welcome counts)."""
    deadline = time.monotonic() + 20.0
    while any(now <= then for now, then in zip(_welcomes(tabs), before, strict=True)):
        assert time.monotonic() < deadline, "a recorder did not reconnect"
        tabs[0][0].wait_for_timeout(50)  # lets Playwright deliver frame events


def test_recorders_lose_nothing_when_the_collector_is_killed(
    browser: Browser, collector: PluggedCollector, ward_url: str
) -> None:
    rng = random.Random(4)  # noqa: S311 (reproducible kill timing)
    collector.launch()
    collector.wait_until_serving()
    tabs = [_open_tab(browser, ward_url) for _ in range(2)]
    try:
        for _ in range(KILLS):
            tabs[0][0].wait_for_timeout(rng.uniform(800, 2500))  # recording, batches acked
            welcomed = _welcomes(tabs)
            collector.kill()
            tabs[0][0].wait_for_timeout(rng.uniform(100, 1200))  # recording, nobody listening
            collector.launch()
            collector.wait_until_serving()
            _wait_for_welcomes(tabs, welcomed)
        for page, _ in tabs:
            page.evaluate("() => clearInterval(window.ticker)")
            page.evaluate("() => PhiReplay.flush()")
        ticks = [int(page.evaluate("() => window.ticks")) for page, _ in tabs]
    finally:
        for page, _ in tabs:
            page.context.close()
    collector.stop()

    for (_, wire), made in zip(tabs, ticks, strict=True):
        hellos = wire.of_type("hello", wire.sent)
        assert len(hellos) >= KILLS + 1, "the recorder reconnected after every kill"
        session = hellos[0]["session_id"]
        assert {h["session_id"] for h in hellos} == {session}, "one session for the tab"

        last_send: dict[int, list[dict[str, Any]]] = {}
        for frame in wire.of_type("batch", wire.sent):
            earlier = last_send.setdefault(frame["seq"], frame["events"])
            assert earlier == frame["events"], f"seq {frame['seq']} was reused for other events"
        acked = {a["seq"] for a in wire.of_type("ack", wire.received)}

        stored: dict[int, list[dict[str, Any]]] = {}
        for row in export_events(collector.data_dir, collector.keyring, session):
            stored.setdefault(row["seq"], []).append(row["event"])
        assert acked <= set(stored), f"acked but not stored: {sorted(acked - set(stored))}"
        assert set(stored) == set(last_send), "every batch the page sent is stored"
        for seq, events in stored.items():
            sent = [expand_event(e) for e in last_send[seq]]  # export prints rrweb's shape
            assert events == sent, f"seq {seq} is stored as it was sent, once"

        tick_events = [
            e["data"]["payload"]["n"]
            for events in stored.values()
            for e in events
            if e["type"] == 5 and e["data"]["tag"] == "crash.tick"
        ]
        counts = Counter(tick_events)
        assert len(counts) == made, f"{made} ticks made, {len(counts)} distinct stored"
        assert max(counts.values()) == 1, "no tick stored twice"

    log = collector.log.read_text(errors="replace")
    assert "Traceback" not in log
    assert " ERROR " not in log
