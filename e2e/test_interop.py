"""Interop: what phi-replay stores replays in rrweb 2.2.2's own Replayer.

The recorder emits rrweb's event format so that recordings stay playable by the
ecosystem's maintained player. This records a visit to the sample clinical app (patient
list, visit form filled in and saved), exports the stored session, and rebuilds it with
`new rrweb.Replayer(events)` in Chromium. The rebuilt page must show the unmasked labels
and hold the same elements, tag for tag, as the live page did at the end of the visit
(minus what the recorder drops: script, noscript, and the insides of blocked elements);
and the replayer must not warn about the events (unknown node ids, bad mutations). With
class names and ids pseudonymised, every rebuilt element must still have the computed
styles it had live (screenshots of both are kept in e2e/artifacts/).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page

from collector.demo_app import data
from collector.testing import RunningDemo, export_events
from e2e.conftest import ARTIFACTS
from e2e.dom import (
    BLOCKED,
    LIVE_ELEMENTS,
    LIVE_STYLES,
    REPLAY,
    RRWEB_UMD,
    STYLE_PROPERTIES,
    style_mismatches,
)
from e2e.static_site import serving

PAGE_DIR = Path(__file__).parent / "leak_page"
# Unmasked text on the visit form (nav, h1, h2, label, th, button).
LABELS = ["Trial Site Portal", "Patients", "Visit form", "Social Security number", "Diagnosis"]
LABELS += ["Notes", "Medication", "Save visit", "Visits this session"]


@pytest.fixture
def replay_page(page: Page) -> Iterator[str]:
    """A blank page on a loopback server, to host the replayer."""
    with serving(PAGE_DIR, {"/replay": "replay.html"}) as url:
        yield url + "/replay"


def visit_the_app(page: Page, demo: RunningDemo) -> None:
    page.goto(demo.app_url + "/")
    page.evaluate("() => window.demoRecording")
    page.click("nav >> text=Patients")
    page.evaluate("() => window.demoRecording")
    page.click(f"text={data.PATIENTS[0].name}")
    page.evaluate("() => window.demoRecording")
    page.mouse.move(200, 200, steps=5)
    page.click("#diagnosis")
    page.keyboard.type("CANARY-DX-interop", delay=2)
    page.select_option("#medication", label=data.MEDICATIONS[1])
    page.click("text=Save visit")
    page.wait_for_selector("#history tr")
    page.evaluate("() => PhiReplay.flush()")


def test_stored_session_replays_in_rrweb_with_labels_and_every_element(
    page: Page, demo: RunningDemo, replay_page: str
) -> None:
    visit_the_app(page, demo)
    live = page.evaluate(LIVE_ELEMENTS, BLOCKED)
    live_styles = page.evaluate(LIVE_STYLES, [BLOCKED, STYLE_PROPERTIES])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-visit-form.png"), full_page=True)
    stored = export_events(demo.data_dir, demo.keyring)
    assert len({e["session_id"] for e in stored}) == 1
    events: list[dict[str, Any]] = [e["event"] for e in stored]
    events.sort(key=lambda e: int(e["timestamp"]))
    assert [e["type"] for e in events[:2]] == [4, 2], "a recording starts with Meta, FullSnapshot"

    console: list[str] = []
    page.on("console", lambda message: _keep_loud(message, console))
    page.goto(replay_page)
    page.add_script_tag(path=str(RRWEB_UMD))
    assert page.evaluate("() => typeof rrweb.Replayer") == "function"
    rebuilt = page.evaluate(REPLAY, [events, STYLE_PROPERTIES])
    # What support staff would see at the end of the visit, beside the live page above.
    page.screenshot(path=str(ARTIFACTS / "rrweb-replay-of-visit-form.png"), full_page=True)

    assert rebuilt["warnings"] == [], "rrweb's replayer warned about the events"
    assert [label for label in LABELS if label not in rebuilt["text"]] == []
    assert "CANARY-DX-interop" not in rebuilt["text"]
    recorded, expected = Counter(rebuilt["tags"]), Counter(live["tags"])
    assert (expected - recorded, recorded - expected) == (Counter(), Counter()), (
        "(missing, extra) elements in the rebuilt page"
    )
    assert console == []
    # Classes and ids travel as pseudonyms, the stylesheets with them: every element
    # still gets the styles it had (colours, fonts, borders, spacing, display).
    assert style_mismatches(live_styles, rebuilt["styles"]) == []


def _keep_loud(message: ConsoleMessage, into: list[str]) -> None:
    """Errors and warnings of the replay page (a 404 would mean the replay fetched a URL)."""
    if message.type in {"error", "warning"}:
        into.append(f"{message.type}: {message.text} ({message.location.get('url')})")
