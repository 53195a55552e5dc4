"""The support console's replay player (sdk-js/dist/player.js) in Chromium.

A short visit to a small clinical-looking app (patient list, then one patient's chart,
a note typed and saved) is recorded with our recorder and exported from the collector.
A stand-in for the console serves the player page under the console's exact CSP, from
another origin than the app's, as in production. The replay must show the recorded pages
with their text masked, in an iframe where no script runs, fetch nothing from anywhere
but the console, and raise no CSP violation; its controls must work.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Request

from collector.testing import RunningServer, running_collector
from e2e.conftest import ARTIFACTS
from e2e.player_fixture import (
    CANARIES,
    LABELS,
    RECORDED_USER,
    Site,
    app_routes,
    console_routes,
    json_reply,
    record_a_visit,
    serving,
    session_summary,
)

# The replay iframe, described: what a support engineer sees and what could fetch.
DESCRIBE_REPLAY = """() => {
    const frame = document.querySelector('.phi-player iframe');
    const doc = frame.contentDocument;
    const stage = document.querySelector('[data-role="stage"]').getBoundingClientRect();
    const box = frame.getBoundingClientRect();
    const fetching = [...doc.querySelectorAll(
        '[src], [srcset], [poster], [background], object[data], link[href], base[href]')];
    const css = [...doc.querySelectorAll('style')].map((s) => s.textContent)
        .concat([...doc.querySelectorAll('[style]')].map((e) => e.getAttribute('style')));
    return {
        sandbox: frame.getAttribute('sandbox'),
        html: doc.documentElement.outerHTML,
        text: doc.body ? doc.body.innerText : '',
        h1: doc.querySelector('h1')?.textContent ?? null,
        rows: doc.querySelectorAll('main table tbody tr').length,
        notes: [...doc.querySelectorAll('main ul li')].map((li) => li.textContent),
        fetching: fetching.map((el) => el.outerHTML),
        css,
        stage: [stage.left, stage.top, stage.right, stage.bottom],
        frame: [box.left, box.top, box.right, box.bottom],
    };
}"""

# Mounts a player with window.PhiReplayPlayer.mount on a new element; `window.handle`.
MOUNT = """(data) => {
    const el = document.createElement('div');
    document.body.append(el);
    window.handle = window.PhiReplayPlayer.mount(el, data);
    el.id = 'mounted';
    return {duration: window.handle.duration(), markers: window.handle.markers()};
}"""

IDLE_MS = 120_000  # a user away for two minutes, spliced into a copy of the recording


@dataclass(frozen=True)
class Recorded:
    session_id: str
    events: list[dict[str, Any]]
    app: Site
    app_requests: int  # requests the app had served when recording ended

    def clicks(self) -> list[dict[str, Any]]:
        return [e for e in self.events if _is_click(e)]

    def pages(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == 4]

    def body(self, events: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        events = self.events if events is None else events
        return {"session": session_summary(events, self.session_id), "events": events}


def _is_click(event: dict[str, Any]) -> bool:
    data = event["data"]
    return bool(event["type"] == 3 and data.get("source") == 2 and data.get("type") == 2)


@dataclass
class Watch:
    """Everything a page asks for, and what it complains about."""

    requests: list[str]
    complaints: list[str]

    @classmethod
    def attach(cls, page: Page) -> Watch:
        watch = cls([], [])
        page.on("request", watch._request)
        page.on("console", watch._console)
        page.on("pageerror", lambda error: watch.complaints.append(f"pageerror: {error}"))
        return watch

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in {"error", "warning"}:
            self.complaints.append(f"{message.type}: {message.text}")

    def elsewhere(self, origin: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(origin + "/") and u != "data:,"]


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_collector(tmp_path_factory.mktemp("player") / "var") as server:
        yield server


@pytest.fixture(scope="module")
def recorded(browser: Browser, collector: RunningServer) -> Iterator[Recorded]:
    with serving() as app:
        app.routes.update(app_routes(app.port, collector))
        session_id, events = record_a_visit(browser, collector, app)
        yield Recorded(session_id, events, app, len(app.requests))


@pytest.fixture(scope="module")
def console(recorded: Recorded) -> Iterator[Site]:
    no_snapshot = [e for e in recorded.events if e["type"] != 2]
    replies = {
        "visit": json_reply(recorded.body()),
        "missing": json_reply({"detail": "not found"}, status=404),
        "empty": json_reply({"session": recorded.body()["session"], "events": []}),
        "no-snapshot": json_reply(recorded.body(no_snapshot)),
    }
    with serving() as site:
        site.routes.update(console_routes(replies))
        yield site


def open_replay(page: Page, console: Site, name: str = "visit") -> None:
    page.goto(f"{console.url}/console/sessions/{name}")
    page.wait_for_function(
        "() => document.querySelector('.phi-player iframe')?.contentDocument?.querySelector('h1')"
    )


def position(timeline: Locator) -> float:
    return float(timeline.get_attribute("aria-valuenow") or "nan")


def test_console_page_replays_the_visit_masked_script_free_and_offline(
    page: Page, console: Site, recorded: Recorded
) -> None:
    app_origin = recorded.app.url
    stored = json.dumps(recorded.events)
    # The recording names resources a replay would fetch: the test below is not vacuous.
    assert f'url(\\"{app_origin}/static/:id.svg\\")' in stored
    # (The stylesheet on another origin keeps its scheme; its host is a pseudonym.)
    assert re.search(r"http://p[0-9a-z]+\.invalid/static/:id\.css", stored)
    assert f"localhost:{recorded.app.port}" not in stored

    watch = Watch.attach(page)
    open_replay(page, console)
    start = page.evaluate(DESCRIBE_REPLAY)

    # Sandboxed: rrweb's iframe may not run scripts.
    assert start["sandbox"] is not None
    assert "allow-scripts" not in start["sandbox"].split()
    # The patient list, as recorded, with every value masked and the labels readable.
    assert start["h1"] == "Patients"
    assert start["rows"] == 3
    assert [c for c in CANARIES if c.lower() in start["html"].lower()] == []
    assert "Testpatient" not in start["html"]
    assert "********" in start["text"]
    assert "Trial Site Portal" in start["text"]
    # Nothing in the rebuilt page can fetch: no resource attribute, no URL in any CSS.
    assert start["fetching"] == []
    assert [css for css in start["css"] if re.search(r"url\(\s*['\"]?http", css)] == []
    # The replayed page is scaled to fit the stage.
    (left, top, right, bottom), (s_left, s_top, s_right, s_bottom) = start["frame"], start["stage"]
    assert min(left - s_left, top - s_top, s_right - right, s_bottom - bottom) >= -1
    assert max((right - left) / (s_right - s_left), (bottom - top) / (s_bottom - s_top)) > 0.98

    player = page.locator(".phi-player")
    assert player.locator('[data-role="user"]').inner_text() == RECORDED_USER
    assert player.locator('[data-role="route"]').inner_text() == "/patients"
    assert re.fullmatch(r"0:00 / 0:\d\d", player.locator('[data-role="time"]').inner_text())
    assert re.fullmatch(r"\d\d:\d\d:\d\d UTC", player.locator('[data-role="clock"]').inner_text())
    timeline = player.locator('[data-role="timeline"]')
    assert timeline.locator('[data-marker="click"]').count() == len(recorded.clicks()) >= 3
    assert timeline.locator('[data-marker="navigation"]').count() == len(recorded.pages()) == 2

    # The end of the visit: the chart, the saved note masked.
    timeline.focus()
    page.keyboard.press("End")
    end = page.evaluate(DESCRIBE_REPLAY)
    assert end["h1"] == "Patient chart"
    assert len(end["notes"]) == 1
    assert set(end["notes"][0]) == {"*"}
    assert [label for label in LABELS if label not in end["text"]] == []
    assert [c for c in CANARIES if c.lower() in end["html"].lower()] == []
    assert end["fetching"] == []
    assert player.locator('[data-role="route"]').inner_text() == "/patients/:id"

    # What support staff see, 70% into the visit, at 2x.
    page.keyboard.press("Home")
    player.locator('[data-action="speed"]').select_option("2")
    duration = float(timeline.get_attribute("aria-valuemax") or "0")
    box = timeline.bounding_box()
    assert box is not None
    timeline.click(position={"x": box["width"] * 0.7, "y": box["height"] / 2})
    page.wait_for_timeout(150)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "player-replay.png"))

    # Only the console was asked for anything; the app heard nothing; no CSP complaint.
    assert watch.elsewhere(console.url) == []
    assert recorded.app.requests[recorded.app_requests :] == []
    assert watch.complaints == []
    assert abs(position(timeline) - 0.7 * duration) < 0.05 * duration

    # Negative control: the same watch does catch a fetch attempted inside the replay.
    page.evaluate(
        """(url) => {
            const doc = document.querySelector('.phi-player iframe').contentDocument;
            const img = doc.createElement('img');
            img.src = url;
            doc.body.append(img);
        }""",
        app_origin + "/static/stripes.svg",
    )
    page.wait_for_timeout(300)
    assert any("Content Security Policy" in c for c in watch.complaints)


def test_play_pause_speed_and_seeking_by_pointer_and_keyboard(
    page: Page, console: Site, recorded: Recorded
) -> None:
    open_replay(page, console)
    player = page.locator(".phi-player")
    play = player.locator('[data-action="play"]')
    timeline = player.locator('[data-role="timeline"]')
    duration = float(timeline.get_attribute("aria-valuemax") or "0")
    assert duration == recorded.events[-1]["timestamp"] - recorded.events[0]["timestamp"]
    assert duration > 2000, "the visit lasts long enough to watch time advance"
    assert position(timeline) == 0

    # Play at 1x advances; pause holds.
    assert play.inner_text() == "Play"
    play.click()
    started = time.monotonic()
    assert play.inner_text() == "Pause"
    page.wait_for_timeout(500)
    played = position(timeline)
    wall_ms = (time.monotonic() - started) * 1000
    assert 0.5 * wall_ms <= played <= 1.5 * wall_ms + 100, f"{played:.0f} ms in {wall_ms:.0f} ms"
    play.click()
    assert play.inner_text() == "Play"
    held = position(timeline)
    page.wait_for_timeout(300)
    assert position(timeline) == held

    # 4x: time runs much faster than the wall clock.
    player.locator('[data-action="speed"]').select_option("4")
    timeline.focus()
    page.keyboard.press("Home")
    assert position(timeline) == 0
    play.click()
    started = time.monotonic()
    page.wait_for_timeout(300)
    fast = position(timeline)
    wall_ms = (time.monotonic() - started) * 1000
    play.click()
    assert fast > 2 * wall_ms, f"{fast:.0f} ms of replay in {wall_ms:.0f} ms at 4x"

    # Keyboard: Home, Shift+Right steps 1 s, Left clamps at 0, End.
    timeline.focus()
    page.keyboard.press("Home")
    page.keyboard.press("Shift+ArrowRight")
    assert position(timeline) == 1000
    page.keyboard.press("ArrowLeft")
    assert position(timeline) == 0
    assert player.locator('[data-role="route"]').inner_text() == "/patients"
    page.keyboard.press("End")
    assert position(timeline) == duration
    assert player.locator('[data-role="route"]').inner_text() == "/patients/:id"

    # Pointer: a click jumps there; a drag ends where the pointer is let go.
    box = timeline.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    timeline.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    assert abs(position(timeline) - 0.25 * duration) < 0.05 * duration
    page.mouse.move(box["x"] + box["width"] * 0.1, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=4)
    page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=4)
    page.mouse.up()
    assert abs(position(timeline) - 0.9 * duration) < 0.05 * duration
    assert play.inner_text() == "Play", "seeking while paused stays paused"


def test_mount_api_marks_gaps_and_skips_inactivity(
    page: Page, console: Site, recorded: Recorded
) -> None:
    # The user stays away two minutes before opening the chart, and the recorder lost
    # events meanwhile (its gap marker precedes the next page, as in sdk-js recorder.ts).
    events = copy.deepcopy(recorded.events)
    chart = next(i for i, e in enumerate(events) if e["type"] == 4 and i > 0)
    idle_from = events[chart - 1]["timestamp"] - events[0]["timestamp"]
    for event in events[chart:]:
        event["timestamp"] += IDLE_MS
    gap = {"type": 5, "data": {"tag": "phi-replay.gap", "payload": {"reason": "buffer-full"}}}
    events.insert(chart, {**gap, "timestamp": events[chart]["timestamp"] - 1})
    gap_at = events[chart]["timestamp"] - events[0]["timestamp"]

    open_replay(page, console)
    mounted = page.evaluate(MOUNT, recorded.body(events))
    recorded_ms = recorded.events[-1]["timestamp"] - recorded.events[0]["timestamp"]
    assert mounted["duration"] == recorded_ms + IDLE_MS
    kinds = [m["kind"] for m in mounted["markers"]]
    assert kinds.count("click") == len(recorded.clicks())
    assert kinds.count("navigation") == 2
    gaps = [m for m in mounted["markers"] if m["kind"] == "gap"]
    assert [g["time"] for g in gaps] == [idle_from, gap_at]
    assert gaps[0]["label"] == "No events for 2 min"
    assert "buffer was full" in gaps[1]["label"]
    el = page.locator("#mounted")
    assert el.locator('[data-marker="gap"]').count() == 2
    assert el.locator('[data-role="inactive"]').count() >= 1

    # Across the idle stretch: skipping runs faster than the fastest speed; not skipping
    # plays it in real time.
    def advance(skip: bool) -> tuple[float, bool]:
        page.evaluate(
            "([skip, at]) => { handle.setSkipInactive(skip); handle.seek(at); handle.play(); }",
            [skip, idle_from - 200],
        )
        started = time.monotonic()
        page.wait_for_timeout(800)
        skipping = el.locator('[data-role="status"]').is_visible()
        now = float(page.evaluate("() => handle.currentTime()"))
        wall_ms = (time.monotonic() - started) * 1000
        page.evaluate("() => handle.pause()")
        return (now - (idle_from - 200)) / wall_ms, skipping

    rate, shown = advance(skip=True)
    assert rate > 8, f"skipping ran only {rate:.1f}x"
    assert shown, "the player says it is skipping"
    assert el.locator('[data-action="skip"]').is_checked()
    rate, shown = advance(skip=False)
    assert rate < 3, f"not skipping ran at {rate:.1f}x"
    assert not shown
    assert not el.locator('[data-action="skip"]').is_checked()
    # Playing from inside the stretch (which rrweb alone would play in real time) skips it.
    page.evaluate(
        "(at) => { handle.setSkipInactive(true); handle.seek(at); handle.play(); }",
        idle_from + IDLE_MS // 2,
    )
    page.wait_for_timeout(200)
    assert float(page.evaluate("() => handle.currentTime()")) > idle_from + IDLE_MS - 1500
    page.evaluate("() => handle.pause()")

    # seek() clamps to the recording; setSpeed() accepts only the offered speeds.
    assert page.evaluate("() => { handle.seek(1234); return handle.currentTime(); }") == 1234
    assert page.evaluate("() => { handle.seek(-5); return handle.currentTime(); }") == 0
    end = page.evaluate("() => { handle.seek(1e12); return handle.currentTime(); }")
    assert end == mounted["duration"]
    speed = "() => { try { handle.setSpeed(3); } catch (e) { return e.name; } }"
    assert page.evaluate(speed) == "RangeError"
    page.evaluate("() => handle.setSpeed(8)")
    assert el.locator('[data-action="speed"]').input_value() == "8"
    page.evaluate("() => handle.setSpeed(1)")

    # Straight from the end back to the start: rrweb announces the end it was shown a
    # moment later, and playback from the start must not stop for it.
    page.evaluate("() => { handle.seek(1e12); handle.seek(0); handle.play(); }")
    page.wait_for_timeout(700)
    assert page.evaluate("() => [handle.isPlaying(), handle.currentTime() > 400]") == [True, True]
    assert el.locator('[data-action="play"]').inner_text() == "Pause"
    page.evaluate("() => handle.pause()")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "Could not load the recording (HTTP 404)"),
        ("empty", "This session has no recorded events."),
        ("no-snapshot", "This session has no full page snapshot"),
    ],
)
def test_a_clear_message_instead_of_a_blank_player(
    page: Page, console: Site, name: str, message: str
) -> None:
    page.goto(f"{console.url}/console/sessions/{name}")
    shown = page.locator('.phi-player [data-role="message"][role="alert"]')
    shown.wait_for()
    assert message in shown.inner_text()
    assert page.locator(".phi-player iframe").count() == 0
