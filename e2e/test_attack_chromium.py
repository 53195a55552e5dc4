"""Outside attacks on the privacy model, in a real Chromium against a real collector.

Companion of `sdk-js/test/attack.test.ts` for what jsdom does not do like a browser:
real typing into a password field that is then cloned, a closed shadow root, the
customizable `<select>`'s `<selectedcontent>`, `-webkit-user-modify`, `designMode`,
declarative shadow DOM, constructable stylesheets, and the Navigation API. Each test
names one vector and its canary; a failing test is a leak (all were closed after the
outside test that wrote them; they stay as regression tests), and its message says where
the canary was found (WebSocket frames the page sent, or the session the collector
stored). Vectors marked HELD are attacks that did not work: they document a class.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from collector.testing import RunningServer, export_events, running_collector
from e2e.browser import FrameLog
from e2e.leak_vectors import find_leaks, frame_parts, leak_message, stored_parts
from e2e.static_site import serving

PAGE_DIR = Path(__file__).parent / "attack_pages"
RULES: dict[str, Any] = {"unmask": ["[data-replay-unmask]"], "exclude_routes": ["/volunteers/**"]}


@dataclass
class Capture:
    frames: list[str]
    stored: list[dict[str, Any]]
    truth: str

    def check(self, vectors: dict[str, str]) -> None:
        """No canary in the frames, the stored session, or a stored snapshot's shown text."""
        problems = []
        sent = find_leaks(vectors, frame_parts(self.frames))
        if sent:
            problems.append(leak_message(sent, "WebSocket frames") + snippets(vectors, self.frames))
        stored = find_leaks(vectors, stored_parts(self.stored))
        if stored:
            problems.append(leak_message(stored, "the stored session"))
        shown = find_leaks(vectors, self.shown())
        if shown:
            problems.append(
                leak_message(shown, "the text a replay of a stored full snapshot shows")
            )
        assert problems == [], "\n".join(problems)

    def shown(self) -> list[tuple[str, str]]:
        """The text of each stored full snapshot in document order (split text nodes joined)."""

        def text(node: dict[str, Any]) -> str:
            if node.get("type") == 3 and not node.get("isStyle"):
                return str(node.get("textContent", ""))
            return "".join(text(child) for child in node.get("childNodes", []))

        return [
            (f"seq {e.get('seq')}: FullSnapshot text", text(e["event"]["data"]["node"]))
            for e in self.stored
            if e["event"].get("type") == 2
        ]


def snippets(vectors: dict[str, str], frames: list[str]) -> str:
    """Where each canary sits in the first frame that holds it, for the failure message."""
    out = []
    for vector, canary in vectors.items():
        for frame in frames:
            at = frame.lower().find(canary.lower())
            if at >= 0:
                out.append(f"\n  {vector}: ...{frame[max(0, at - 200) : at + len(canary) + 40]}...")
                break
    return "".join(out)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_collector(tmp_path_factory.mktemp("attack") / "var") as server:
        yield server


@pytest.fixture(scope="module")
def site(collector: RunningServer) -> Iterator[str]:
    start: dict[str, object] = {
        "endpoint": collector.http_url,
        "appKey": "dev",
        "user": "qa.attack",
    }
    start |= {"environment": "e2e", "rules": RULES}
    values = {"COLLECTOR": collector.http_url, "START_OPTIONS": json.dumps(start)}
    routes = {"/static": "static.html", "/patients": "gate.html", "/volunteers/": "gate.html"}
    with serving(PAGE_DIR, routes, values) as url:
        yield url


def sessions_of(frames: list[str]) -> set[str]:
    out = set()
    for frame in frames:
        try:
            message = json.loads(frame)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "hello":
            out.add(message["session_id"])
    return out


def captured(page: Page, frames: FrameLog, collector: RunningServer) -> Capture:
    page.evaluate("() => PhiReplay.flush().catch(() => undefined)")  # stopped: nothing to flush
    page.wait_for_timeout(200)
    truth = page.evaluate(
        """() => document.documentElement.outerHTML +
            [...document.querySelectorAll('input,select,textarea')]
                .map((e) => e.value).join('\\n')"""
    )
    stored = [
        e
        for session in sessions_of(frames.sent)
        for e in export_events(collector.data_dir, collector.keyring, session)
    ]
    return Capture(list(frames.sent), stored, truth)


# --- one recording of the static attack page --------------------------------------------

STATIC: dict[str, str] = {
    "ATK-101 lang attribute": "ATK-CANARY-101",
    "ATK-102 host name of a link": "canary-atk-102",
    "ATK-103 view-transition-name in a style attribute": "canary-atk-103",
    "ATK-104 @keyframes name in <style>": "canary-atk-104",
    "ATK-105 :lang() argument in <style>": "canary-atk-105",
    "ATK-106 custom element tag name": "canary-atk-106",
    "ATK-116 animation-name added by insertRule": "canary-atk-116",
    "ATK-118 addEvent tag with an MRN": "MRN70000616",
    "ATK-109 SVG points (an SSN)": "219-09-9999",
    "ATK-120 SSN with non-breaking hyphens (unmask)": "078\u201105\u20111120",
    "ATK-121 SSN in full-width digits (unmask)": (
        "\uff10\uff17\uff18-\uff10\uff15-\uff11\uff11\uff12\uff11"
    ),
    "ATK-122 date glued to _ (a file name, unmask)": "1943-09-07",
    "ATK-123 SSN split over five text nodes (unmask)": "219-09-9998",
    "ATK-107 typed password, cloned and shown as text": "CANARY-ATK-107",
    "ATK-108 password typed in a closed shadow root, moved out as text": "CANARY-ATK-108",
    "ATK-110 select value from an option under mask": "CANARY-ATK-110",
    "ATK-111 slotted text inside a shadow mask wrapper (declarative shadow DOM)": "CANARY-ATK-111",
    "ATK-112 <selectedcontent> of a cc-exp select": "CANARY-ATK-112",
    "ATK-113 typed into a -webkit-user-modify region": "CANARY-ATK-113",
    "ATK-117 typed into the page in designMode": "CANARY-ATK-117",
    "HELD-114 typed after contentEditable = true (property)": "CANARY-HELD-114",
    "HELD-115 constructable stylesheet (replaceSync, adoptedStyleSheets)": "canary-held-115",
}

DRIVE_STATIC = [
    "document.getElementById('split').append('219', '-', '09', '-', '9998')",
    "document.getElementById('sheet').sheet.insertRule('p { animation-name: canary-atk-116 }', 0)",
    # A tag shaped like PHI is refused (it throws, like any invalid tag).
    "try { PhiReplay.addEvent('opened:MRN70000616', {}) } catch (e) { window.refused = e.message }",
    """const s = new CSSStyleSheet();
       s.replaceSync('@keyframes canary-held-115 { from { opacity: 0 } }');
       document.adoptedStyleSheets = [s];
       document.getElementById('unmask').style.animationName = 'x'""",
]


@pytest.fixture(scope="module")
def static(browser: Browser, collector: RunningServer, site: str) -> Capture:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + "/static")
        page.evaluate("() => window.atk")
        page.evaluate("() => PhiReplay.flush()")
        for script in DRIVE_STATIC:
            page.evaluate(f"() => {{ {script} }}")
        # A typed password, then a "show password" clone of it.
        page.click("#pw")
        page.keyboard.type("CANARY-ATK-107", delay=2)
        page.evaluate("""() => { const c = document.getElementById('pw').cloneNode(true);
            c.type = 'text'; document.getElementById('clone-slot').append(c); }""")
        # A password typed in a closed shadow root, then moved out as a text field.
        page.evaluate("""() => {
            const root = document.getElementById('closed-host').attachShadow({mode: 'closed'});
            window.closedInput = document.createElement('input'); closedInput.type = 'password';
            root.append(closedInput); closedInput.focus(); }""")
        page.keyboard.type("CANARY-ATK-108", delay=2)
        page.evaluate("""() => { closedInput.type = 'text';
            document.getElementById('unmask').append(closedInput); }""")
        page.select_option("#masked-opt", index=1)
        page.select_option("#cc-month", index=1)
        page.click("#wum")
        page.keyboard.press("End")
        page.keyboard.type(" CANARY-ATK-113", delay=2)
        page.evaluate("() => { document.getElementById('ce').contentEditable = 'true'; }")
        page.click("#ce")
        page.keyboard.press("End")
        page.keyboard.type(" CANARY-HELD-114", delay=2)
        page.evaluate("() => { document.designMode = 'on'; }")
        page.click("#dm")
        page.keyboard.press("End")
        page.keyboard.type(" CANARY-ATK-117", delay=2)
        page.wait_for_timeout(300)
        page.evaluate(
            "() => { document.designMode = 'off'; PhiReplay.identify('qa.attack.second'); }"
        )
        page.wait_for_timeout(300)  # a new session: a fresh full snapshot of the page as it is
        capture = captured(page, frames, collector)
    finally:
        context.close()
    return capture


def test_static_vectors_are_on_the_page(static: Capture) -> None:
    """Guards the proof: every canary (but the CSSOM-only and addEvent ones) is in the live page."""
    elsewhere = {"ATK-116", "ATK-118", "HELD-115", "ATK-123"}
    missing = [
        v
        for v, c in STATIC.items()
        if v.split()[0] not in elsewhere and c.lower() not in static.truth.lower()
    ]
    assert missing == []


@pytest.mark.parametrize("vector", list(STATIC))
def test_static_attack(static: Capture, vector: str) -> None:
    static.check({vector: STATIC[vector]})


# --- the excluded-route gate, one fresh tab per excursion --------------------------------


LEAVE = (
    "history.pushState({}, '', '/patients'); document.getElementById('view').innerHTML = 'Patients'"
)


def excursion(
    browser: Browser, collector: RunningServer, site: str, scripts: list[str | int]
) -> Capture:
    """Open /patients, run each script (an int waits that many ms), leave, capture."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + "/patients")
        page.evaluate("() => window.atk")
        page.evaluate("() => PhiReplay.flush()")
        for step in scripts:
            if isinstance(step, int):
                page.wait_for_timeout(step)
            else:
                page.evaluate(f"async () => {{ {step} }}")
        page.wait_for_timeout(700)  # settled after leaving: a fresh full snapshot
        capture = captured(page, frames, collector)
    finally:
        context.close()
    return capture


def test_gate_writes_into_layout_fields(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """ATK-160..163: on /volunteers/**, the excluded view writes into the shared header's fields."""
    capture = excursion(
        browser,
        collector,
        site,
        [
            "history.pushState({}, '', '/volunteers/7')",
            50,
            """document.getElementById('search').setAttribute('value', 'CANARY-ATK-160');
               document.getElementById('search2').setRangeText('CANARY-ATK-161');
               document.getElementById('note').textContent = 'CANARY-ATK-162';
               const o = document.createElement('option'); o.textContent = 'CANARY-ATK-163';
               document.getElementById('pick').append(o);
               document.getElementById('view').innerHTML = '<p>Volunteer roster</p>';""",
            100,
            LEAVE,
        ],
    )
    assert sum('"type":2' in f for f in capture.frames) >= 2, "a fresh full snapshot after leaving"
    capture.check(
        {
            "ATK-160 setAttribute('value') on the excluded route": "CANARY-ATK-160",
            "ATK-161 setRangeText() on the excluded route": "CANARY-ATK-161",
            "ATK-162 textarea textContent on the excluded route": "CANARY-ATK-162",
            "ATK-163 option added on the excluded route (its value)": "CANARY-ATK-163",
        }
    )


def test_gate_render_then_await_then_push(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """ATK-164: the router commits the excluded view, awaits, then pushes its URL."""
    capture = excursion(
        browser,
        collector,
        site,
        [
            """document.getElementById('view').innerHTML =
                 '<h2 data-replay-unmask>Volunteer CANARY-ATK-164</h2>';
               await Promise.resolve();
               history.pushState({}, '', '/volunteers/7');""",
            100,
            LEAVE,
        ],
    )
    capture.check({"ATK-164 render, await, then pushState": "CANARY-ATK-164"})


NAVIGATE_INTERCEPT = """
    navigation.addEventListener('navigate', (e) => e.intercept({ handler: async () => {
        const view = document.getElementById('view');
        if (new URL(e.destination.url).pathname.startsWith('/volunteers')) {
            view.innerHTML = '<h2 data-replay-unmask>Volunteer CANARY-ATK-165</h2>';
            if (window.signIn) PhiReplay.identify('volunteer.coordinator');
        } else view.innerHTML = '<p>Patients</p>';
    }}));
"""


def test_gate_navigation_api_and_identify(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """ATK-165: a Navigation API router enters /volunteers/** and signs the module's user in."""
    capture = excursion(
        browser,
        collector,
        site,
        [
            "window.signIn = true;" + NAVIGATE_INTERCEPT,
            "await navigation.navigate('/volunteers/7').finished",
            200,
            "await navigation.navigate('/patients').finished",
        ],
    )
    capture.check({"ATK-165 Navigation API entry + identify() in the same task": "CANARY-ATK-165"})


def test_gate_navigation_api_alone_held(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """HELD-166: the same Navigation API router without identify(): nothing of the view leaves."""
    capture = excursion(
        browser,
        collector,
        site,
        [
            NAVIGATE_INTERCEPT,
            "await navigation.navigate('/volunteers/7').finished",
            200,
            "await navigation.navigate('/patients').finished",
        ],
    )
    capture.check({"HELD-166 Navigation API entry": "CANARY-ATK-165"})


def test_gate_typed_after_document_open(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """ATK-167: after document.open() (which erases every listener, the recorder's too), a value
    typed into a layout field on the excluded route is no longer tainted."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + "/patients")
        page.evaluate("() => window.atk")
        page.evaluate("() => PhiReplay.flush()")
        page.evaluate(
            """() => { document.open(); document.write('<!doctype html><html><body>' +
                 '<header data-replay-unmask><h1>Clinic</h1><input id="q"></header>' +
                 '<main id="view"><p>Patients</p></main></body></html>'); document.close(); }"""
        )
        page.wait_for_timeout(300)
        page.evaluate("() => history.pushState({}, '', '/volunteers/7')")
        page.wait_for_timeout(100)
        page.click("#q")
        page.keyboard.type("CANARY-ATK-167", delay=2)
        page.keyboard.press("Tab")
        page.evaluate("() => history.pushState({}, '', '/patients')")
        page.wait_for_timeout(700)
        # document.open() erased the recorder's listeners: it stopped (fail closed).
        stopped = page.evaluate("() => PhiReplay.flush().then(() => false, () => true)")
        capture = captured(page, frames, collector)
    finally:
        context.close()
    assert stopped, "the recorder stopped when the page replaced its document"
    capture.check({"ATK-167 typed on the excluded route after document.open()": "CANARY-ATK-167"})


def test_gate_typed_in_layout_field_held(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """HELD-168: the same without document.open(): the typed value is tainted and stays masked."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + "/patients")
        page.evaluate("() => window.atk")
        page.evaluate("() => PhiReplay.flush()")
        page.evaluate("() => history.pushState({}, '', '/volunteers/7')")
        page.wait_for_timeout(100)
        page.click("#search")
        page.keyboard.type("CANARY-HELD-168", delay=2)
        page.keyboard.press("Tab")
        page.evaluate("() => history.pushState({}, '', '/patients')")
        page.wait_for_timeout(700)
        capture = captured(page, frames, collector)
    finally:
        context.close()
    capture.check({"HELD-168 typed into a layout field on the excluded route": "CANARY-HELD-168"})
