"""The leak suite: no canary placed in any of ~95 channels of a page leaves the browser.

`leak_page/index.html` puts one synthetic canary in each way PHI can sit in a web page
(see `e2e/leak_vectors.py`); the driver below adds the ones a user or a script creates
(typing, selecting, script-set values, mutations, a password field turned into text,
SPA navigation into the excluded `/volunteers/**` route and out, console, errors,
fetch, `PhiReplay.addEvent`). The page is recorded once, in Chromium, against a dev
collector, with the clinical app's masking rules. Then:

- no canary is in any WebSocket frame the page sent, nor in the stored session; a
  failure lists each leaking vector with where its canary was found;
- the recording is still useful: unmasked labels are readable, every element the
  page shows is in the snapshot, clicks, mouse moves, scrolls, resizes and inputs are
  recorded, and nothing is recorded while on the excluded route.

A negative control sends a canary on purpose and shows the report naming its vector.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page
from playwright.sync_api import Error as PlaywrightError

from collector.testing import RunningServer, export_events, running_collector
from e2e.browser import FrameLog, send_on_purpose
from e2e.conftest import ARTIFACTS
from e2e.dom import (
    BLOCKED,
    CLINICAL_RULES,
    LIVE_ELEMENTS,
    LIVE_STYLES,
    REPLAY,
    RRWEB_UMD,
    STYLE_PROPERTIES,
    style_mismatches,
)
from e2e.leak_vectors import (
    DIRECT_VECTORS,
    TRANSIENT,
    VECTORS,
    find_leaks,
    frame_parts,
    leak_message,
    stored_parts,
)
from e2e.static_site import serving

PAGE_DIR = Path(__file__).parent / "leak_page"
RULES = CLINICAL_RULES

CHART_PATH = "/clinic/patients/CANARY-57-PAGEPATH/chart?mrn=CANARY-55-PAGEQUERY#CANARY-56-PAGEHASH"
REFERRER_PATH = "/start?from=CANARY-54-REFERRER"
VOLUNTEER_PATH = "/volunteers/CANARY-87-VOLPATH/profile"
# Text in unmask regions (nav, button, label, h1-h3, th, [data-replay-unmask]).
LABELS = ["Trial chart", "Patients", "Volunteers", "Save visit", "Visit notes", "Medication"]
LABELS += ["Study arm", "Consent", "Password"]
UNMASKED_TYPED = "left knee"  # typed into an unmask-region field: must stay readable
# Masked checkable fields the user or a script checks: their state must not leave.
MASKED_CHECKABLES = ["radio-a", "cb-masked", "script-checked"]


def js(script: str) -> str:
    """A driver step in the page; canaries live here, not in the page's own scripts."""
    return f"() => {{ {script} }}"


SCRIPT_VALUES = js("""
    document.getElementById('script-value').value = 'CANARY-35-SCRIPTVALUE';
    document.getElementById('script-checked').checked = true;
    document.getElementById('script-select').selectedIndex = 1;
    document.getElementById('script-value-unmask').value = '900-00-0038';
""")
MUTATIONS = js("""
    const p = document.createElement('p');
    p.id = 'added-text';
    p.textContent = 'CANARY-77-ADDEDTEXT';
    document.getElementById('mutations').append(p);
    document.getElementById('mut-target').setAttribute('title', 'CANARY-78-SETATTRIBUTE');
    document.getElementById('mut-text').firstChild.data = 'CANARY-79-TEXTDATA';
    document.getElementById('status').textContent = 'Saved for 900-00-0080';
    document.getElementById('mut-link').setAttribute('href', '/find?q=CANARY-81-HREFMUTATION');
    document.getElementById('mut-style').style.backgroundImage =
        'url(/assets/x.png?CANARY-82-STYLEMUTATION)';
    const sheet = document.getElementById('sheet').sheet;
    sheet.insertRule('.late::before { content: "CANARY-83-INSERTRULE" }', 0);
    document.title += ' CANARY-84-TITLESET';
    const root = document.getElementById('late-shadow-host').attachShadow({mode: 'open'});
    root.innerHTML = '<span id="late-shadow-text">CANARY-85-LATESHADOW</span>';
    document.getElementById('block-div').append(' CANARY-86-BLOCKMUTATION');
    const later = document.getElementById('set-attrs');
    later.setAttribute('class', 'CANARY-113-SETCLASS');
    later.id = 'CANARY-114-SETID';
    sheet.insertRule('tr[data-patient="CANARY-301-ATTRSEL"] { color: red }', 0);
    sheet.insertRule('.esc2 { background: \\\\75rl(/x.png?CANARY-308-ESCINSERT) }', 0);
""")
NOT_CAPTURED = {
    "console.log": js("console.log('CANARY-90-CONSOLE');"),
    "throw": js("setTimeout(() => { throw new Error('CANARY-91-THROWN'); });"),
    "reject": js("Promise.reject(new Error('CANARY-92-REJECTION'));"),
    "fetch": js("return fetch('/api/search?q=CANARY-93-FETCH').then((r) => r.status);"),
    "PhiReplay.addEvent untrusted": js("PhiReplay.addEvent('note', {text: 'CANARY-94-ADDEVENT'});"),
    "PhiReplay.addEvent safe key": js(
        "PhiReplay.addEvent('triage', {step: 'opened-chart', note: 'CANARY-95-ADDEVENTUNSAFE'},"
        " {safe: ['step']});"
    ),
}
ENTER_VOLUNTEERS = js(f"""
    window.enteredAt = Date.now();
    history.pushState({{}}, '', '{VOLUNTEER_PATH}');
    document.getElementById('app').hidden = true;
    const view = document.createElement('section');
    view.id = 'volunteer-view';
    view.innerHTML = '<h1>Volunteer CANARY-88-VOLHEADING</h1>' +
        '<div data-replay-unmask><input id="vol-input" type="text"></div>';
    document.body.append(view);
""")
LEAVE_VOLUNTEERS = js(f"""
    // One task: the volunteer view's toast, then the navigation that leaves the route.
    document.getElementById('toast').textContent = 'Saved CANARY-603-VOLTOAST';
    window.leftAt = Date.now();
    history.pushState({{}}, '', '{CHART_PATH}');
    document.getElementById('volunteer-view').remove();
    document.getElementById('app').hidden = false;
    return [window.enteredAt, window.leftAt];
""")
# A router that renders the excluded view first and pushes its URL after, in one task.
RENDER_THEN_ENTER = js("""
    const view = document.createElement('section');
    view.id = 'volunteer-view-2';
    view.setAttribute('data-replay-unmask', '');
    view.innerHTML = '<h1>Volunteer CANARY-604-RENDERFIRST</h1>';
    document.body.append(view);
    window.enteredAt = Date.now();
    history.pushState({}, '', '/volunteers/roster');
""")
LEAVE_SECOND = js(f"""
    window.leftAt = Date.now();
    history.pushState({{}}, '', '{CHART_PATH}');
    document.getElementById('volunteer-view-2').remove();
    return [window.enteredAt, window.leftAt];
""")
# A router that kept History.prototype.pushState: the recorder's hook never runs.
UNHOOKED_ENTER = js("""
    const push = History.prototype.pushState;
    window.enteredAt = Date.now();
    push.call(history, {}, '', '/volunteers/shifts');
    const view = document.createElement('section');
    view.id = 'volunteer-view-3';
    view.setAttribute('data-replay-unmask', '');
    view.innerHTML = '<h1 id="vol3-heading">Volunteer CANARY-605-UNHOOKED</h1>';
    document.body.append(view);
""")
UNHOOKED_LEAVE = js(f"""
    document.getElementById('vol3-heading').textContent = 'CANARY-606-UNHOOKEDLAST';
    window.leftAt = Date.now();
    History.prototype.pushState.call(history, {{}}, '', '{CHART_PATH}');
    return [window.enteredAt, window.leftAt];
""")
REMOVE_THIRD = js("document.getElementById('volunteer-view-3').remove();")
STICKY_FLIP = js("""
    const el = document.getElementById('sticky-flip');
    el.type = 'password';
    el.value = 'CANARY-503-FLIPTASK';
    el.type = 'text';
""")
SPA_SLUG = js(f"""
    history.pushState({{}}, '', '/clinic/patients/CANARY-ROE-SPASLUG/chart');
    setTimeout(() => history.replaceState({{}}, '', '{CHART_PATH}'), 50);
""")
# Everything the page holds at the end, to prove the canaries were really there.
PAGE_TRUTH = js("""
    const parts = [document.documentElement.outerHTML, document.title, document.referrer,
                   location.href];
    const walk = (root) => root.querySelectorAll('*').forEach((el) => {
        if (typeof el.value === 'string') parts.push(el.value);
        if (el.shadowRoot) { parts.push(el.shadowRoot.innerHTML); walk(el.shadowRoot); }
    });
    walk(document);
    const rules = (sheet) => {
        for (const rule of sheet.cssRules) {
            parts.push(rule.cssText);
            if (rule.styleSheet) rules(rule.styleSheet);
        }
    };
    for (const sheet of document.styleSheets) rules(sheet);
    return parts.join('\\n');
""")


@dataclass(repr=False)
class Recording:
    """One recorded visit to the canary page, and what the test saw of it."""

    site: str
    frames: list[str]
    stored: list[dict[str, Any]]
    truth: str
    live_tags: list[str]
    live_ids: list[str]
    live_styles: list[dict[str, Any]]
    # What each live element id became on the wire: the page's own look-up.
    pseudonyms: dict[str, str]
    excluded_windows: list[tuple[int, int]]
    index: bytes
    failed_steps: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<Recording of {self.site}: {len(self.frames)} frames, {len(self.stored)} events>"

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e["event"] for e in self.stored]

    def incremental(self, source: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == 3 and e["data"].get("source") == source]


class Driver:
    """Runs named steps; a failing step is recorded and the rest still run."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.failed: dict[str, str] = {}

    def step(self, name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except PlaywrightError as exc:
            self.failed[name] = exc.message.splitlines()[0][:200]

    def type_into(self, selector: str, text: str) -> None:
        self.step(f"type into {selector}", lambda: self._type(selector, text))

    def _type(self, selector: str, text: str) -> None:
        self.page.click(selector)
        self.page.keyboard.type(text, delay=2)

    def run(self, script: str) -> Any:
        return self.page.evaluate(script)


def drive(page: Page, site: str) -> tuple[list[tuple[int, int]], dict[str, str]]:
    """Use the page as a user and its scripts would; returns the excluded-route windows."""
    d = Driver(page)
    page.goto(site + REFERRER_PATH)
    page.click("#go")
    page.wait_for_url("**/clinic/**")
    page.evaluate("() => window.leakRecording")  # rejects if the recorder did not start
    page.evaluate("() => PhiReplay.flush()")

    for x, y in [(40, 40), (600, 300), (200, 500), (900, 120)]:
        page.mouse.move(x, y, steps=6)
    d.type_into("#typed-masked", "CANARY-17-TYPED")
    d.type_into("#typed-unmask-ssn", "999-18-1818")
    d.type_into("#typed-unmask-free", UNMASKED_TYPED)

    def clear_textarea() -> None:
        page.click("#textarea-cleared")
        page.keyboard.press("Control+A")
        page.keyboard.press("Backspace")

    d.step("clear textarea", clear_textarea)
    d.step("select option", lambda: page.select_option("#select-masked", "CANARY-23-OPTIONVALUE"))
    d.step("click radio", lambda: page.click("#radio-a"))
    d.step("check checkbox", lambda: page.click("#cb-masked"))
    d.type_into("#editable", "CANARY-27-EDITABLE")
    d.type_into("#pw", "CANARY-28-PASSWORD")
    file = FilePayload(name="CANARY-30-FILENAME.txt", mimeType="text/plain", buffer=b"synthetic")
    d.step("choose file", lambda: page.set_input_files("#file", file))
    d.type_into("#cc", "CANARY-31-CCNUMBER")
    d.type_into("#curpw", "CANARY-32-CURRENTPASSWORD")
    d.type_into("#pw-to-text", "CANARY-33-PWTYPECHANGE")
    d.step("password to text", lambda: d.run(js("document.activeElement.type = 'text';")))
    d.step("type after change", lambda: page.keyboard.type("CANARY-34-AFTERCHANGE", delay=2))
    d.type_into("#shadow-input", "CANARY-76-SHADOWTYPED")
    d.step("commit shadow input", lambda: page.keyboard.press("Tab"))
    d.type_into("#typed-unmask-date", "11.12.1947")
    d.step("commit date", lambda: page.keyboard.press("Tab"))

    # Fields that stop looking sensitive, inside the unmask region.
    page.click("#sticky-pw")
    d.step("sticky: to password", lambda: d.run(js("document.activeElement.type = 'password';")))
    d.step("sticky: type", lambda: page.keyboard.type("CANARY-501-STICKYPW", delay=2))
    d.step("sticky: show again", lambda: d.run(js("document.activeElement.type = 'text';")))
    d.step("sticky: commit", lambda: page.keyboard.press("Tab"))
    page.click("#sticky-cc")
    d.step("sticky: cc on", lambda: d.run(js("document.activeElement.autocomplete = 'cc-number';")))
    d.step("sticky: type cc", lambda: page.keyboard.type("CANARY-502-STICKYCC", delay=2))
    cc_off = js("document.activeElement.removeAttribute('autocomplete');")
    d.step("sticky: cc off", lambda: d.run(cc_off))
    d.step("sticky: commit cc", lambda: page.keyboard.press("Tab"))
    d.step("sticky: flip in one task", lambda: d.run(STICKY_FLIP))
    d.step("click Save visit", lambda: page.click("#button-value"))

    d.step("script-set values", lambda: d.run(SCRIPT_VALUES))
    d.step("script mutations", lambda: d.run(MUTATIONS))
    for name, script in NOT_CAPTURED.items():
        d.step(name, partial(d.run, script))

    d.step("SPA slug path", lambda: d.run(SPA_SLUG))
    page.wait_for_timeout(150)
    d.step("scroll", lambda: page.mouse.wheel(0, 600))
    page.wait_for_timeout(150)
    d.step("scroll back", lambda: page.mouse.wheel(0, -600))
    d.step("resize", lambda: page.set_viewport_size({"width": 1100, "height": 700}))
    page.wait_for_timeout(400)  # the recorder sends a size once resizing has paused
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(150)
    d.step("flush before volunteers", lambda: d.run("() => PhiReplay.flush()"))

    # Excursions into the excluded route, the last one as most routers do it (URL first,
    # then the view), so that the last full snapshot shows the final page.
    windows = []
    d.run(UNHOOKED_ENTER)
    page.wait_for_timeout(300)
    windows.append(tuple(d.run(UNHOOKED_LEAVE)))
    page.wait_for_timeout(400)
    d.run(REMOVE_THIRD)  # the router swaps the view late: only the URL poll saw the change
    page.wait_for_timeout(1200)

    d.run(RENDER_THEN_ENTER)
    page.wait_for_timeout(300)
    windows.append(tuple(d.run(LEAVE_SECOND)))
    page.wait_for_timeout(700)

    d.run(ENTER_VOLUNTEERS)
    page.wait_for_timeout(700)
    d.type_into("#vol-input", "CANARY-89-VOLTYPED")
    page.mouse.move(300, 200, steps=4)
    page.wait_for_timeout(100)
    windows.append(tuple(d.run(LEAVE_VOLUNTEERS)))
    page.wait_for_timeout(700)  # the recorder notices (history hook or path poll), re-snapshots
    d.step("final flush", lambda: d.run("() => PhiReplay.flush()"))
    return [(int(a), int(b)) for a, b in windows], d.failed


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_collector(tmp_path_factory.mktemp("leak") / "var") as server:
        yield server


@pytest.fixture(scope="module")
def site(collector: RunningServer) -> Iterator[str]:
    start: dict[str, object] = {"endpoint": collector.http_url, "appKey": "dev"}
    start |= {"user": "qa.leak-suite", "environment": "e2e", "rules": RULES}
    values = {"COLLECTOR": collector.http_url, "CHART_PATH": CHART_PATH}
    values["START_OPTIONS"] = json.dumps(start).replace("</", "<\\/")
    routes = {"/clinic/": "index.html", "/volunteers/": "index.html", "/start": "start.html"}
    with serving(PAGE_DIR, routes, values) as url:
        yield url


@pytest.fixture(scope="module")
def recording(browser: Browser, collector: RunningServer, site: str) -> Recording:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        windows, failed = drive(page, site)
        truth = page.evaluate(PAGE_TRUTH)
        live = page.evaluate(LIVE_ELEMENTS, BLOCKED)
        pseudonyms = page.evaluate(PSEUDONYMS, live["ids"])
        live_styles = page.evaluate(LIVE_STYLES, [BLOCKED, STYLE_PROPERTIES])
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "leak-page-live.png"), full_page=True)
    finally:
        context.close()
    return Recording(
        site=site,
        frames=list(frames.sent),
        stored=export_events(collector.data_dir, collector.keyring),
        truth=truth,
        live_tags=live["tags"],
        live_ids=live["ids"],
        live_styles=live_styles,
        pseudonyms=pseudonyms,
        excluded_windows=windows,
        index=index_bytes(collector.data_dir),
        failed_steps=failed,
    )


PSEUDONYMS = "(ids) => Object.fromEntries(ids.map((id) => [id, PhiReplay.pseudonym(id) ?? '']))"


def index_bytes(data_dir: Path) -> bytes:
    """The session index as it lies on disk (SQLite and its WAL): held in clear."""
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("index.sqlite3*")))


# --- the promise: nothing leaves ------------------------------------------------------


def test_every_vector_is_really_on_the_page(recording: Recording) -> None:
    """Guards the proof itself: a canary missing from the page would prove nothing."""
    truth = recording.truth.lower()
    missing = [v for v, c in VECTORS.items() if v not in TRANSIENT and c.lower() not in truth]
    assert missing == []
    assert len(VECTORS) >= 40
    assert len({c.lower() for c in VECTORS.values()}) == len(VECTORS), "canaries are unique"


def test_no_canary_in_any_frame_sent(recording: Recording) -> None:
    assert any('"type":"batch"' in f for f in recording.frames), "the recorder sent batches"
    leaks = find_leaks(VECTORS, frame_parts(recording.frames))
    assert leaks == {}, leak_message(leaks, "WebSocket frames")


def test_no_canary_in_the_stored_session(recording: Recording) -> None:
    assert len({e["session_id"] for e in recording.stored}) == 1, "one session for the tab"
    leaks = find_leaks(VECTORS, stored_parts(recording.stored))
    assert leaks == {}, leak_message(leaks, "the stored session")


def test_masked_checked_state_does_not_leave(recording: Recording) -> None:
    """Checking a masked radio or checkbox (by click or script) is not recorded as checked."""
    ids = node_ids(recording.events, recording.pseudonyms, MASKED_CHECKABLES)
    assert set(ids) == set(MASKED_CHECKABLES), "the checkable fields are in the snapshot"
    shown = {
        name
        for node in snapshot_nodes(recording.events)
        for name, node_ids_ in ids.items()
        if node.get("id") in node_ids_ and node.get("attributes", {}).get("checked")
    }
    sent = {
        name
        for e in recording.incremental(5)
        for name, node_ids_ in ids.items()
        if e["data"]["id"] in node_ids_ and e["data"]["isChecked"]
    }
    assert (shown, sent) == (set(), set())


def test_masked_fields_send_no_keystrokes(recording: Recording) -> None:
    """Typing in a masked field yields at most one Input event (on change): the placeholder."""
    fields = ["typed-masked", "textarea-cleared", "pw"]
    ids = node_ids(recording.events, recording.pseudonyms, fields)
    sent = {
        name: [e["data"]["text"] for e in recording.incremental(5) if e["data"]["id"] in nodes]
        for name, nodes in ids.items()
    }
    assert sent == {name: ["*****"] for name in ids} or all(len(t) <= 1 for t in sent.values())
    assert all(set(text) <= {"*"} for texts in sent.values() for text in texts)


def test_no_canary_in_the_session_index(recording: Recording) -> None:
    """The index is not encrypted (user, pages visited): no canary may be in its bytes."""
    assert recording.index, "the index was read"
    text = recording.index.decode("utf-8", "replace")
    leaks = find_leaks(VECTORS, [("index.sqlite3", text)])
    assert leaks == {}, leak_message(leaks, "the session index")


@pytest.mark.parametrize("excursion", [0, 1, 2], ids=["unwrapped", "render-first", "url-first"])
def test_nothing_recorded_on_the_excluded_route(recording: Recording, excursion: int) -> None:
    """While on /volunteers/** nothing is captured; leaving it starts a fresh full snapshot."""
    entered, left = recording.excluded_windows[excursion]
    during = [e for e in recording.events if entered <= e["timestamp"] < left]
    assert during == []
    after = [e for e in recording.events if e["type"] == 2 and e["timestamp"] >= left]
    assert after, "a fresh full snapshot after leaving the excluded route"


def test_identifiers_leave_as_consistent_pseudonyms(recording: Recording) -> None:
    """No id, class, name, for or role leaves as written; label/for, href/#id still match."""
    identifier = re.compile(r"^p[0-9a-z_]+( p[0-9a-z_]+)*$")
    values = {
        (name, str(value))
        for node in snapshot_nodes(recording.events)
        for name, value in node.get("attributes", {}).items()
        if name in {"id", "class", "name", "for", "headers", "list", "role"}
    }
    assert values, "the snapshots hold identifier attributes"
    assert [(n, v) for n, v in values if not identifier.match(v)] == []
    ids = {v for n, v in values if n == "id"}
    wire = recording.pseudonyms
    assert wire["CANARY-104-FORATTR"] in ids
    assert ("for", wire["CANARY-104-FORATTR"]) in values
    hrefs = {
        str(n["attributes"].get("href"))
        for n in snapshot_nodes(recording.events)
        if n.get("tagName") in {"a", "use"}
    }
    assert "#" + wire["CANARY-107-ANCHOR"] in hrefs, "an in-page link still names its target"


def test_inputs_inside_open_shadow_roots_are_captured(recording: Recording) -> None:
    ids = node_ids(recording.events, recording.pseudonyms, ["shadow-input"])
    events = recording.incremental(5)
    sent = [e["data"]["text"] for e in events if e["data"]["id"] in ids["shadow-input"]]
    assert sent, "typed and committed inside the shadow root: an Input event"
    assert set(sent) == {"*****"}, "masked like any other field"


# --- the recording is still worth having ---------------------------------------------


def test_unmasked_labels_are_readable(recording: Recording) -> None:
    texts = "\n".join(text_nodes(last_snapshot(recording.events)))
    assert [label for label in LABELS if label not in texts] == []
    typed = [e["data"]["text"] for e in recording.incremental(5)]
    assert UNMASKED_TYPED in typed, "a value typed in an unmask region is readable"


def test_page_url_is_templated(recording: Recording) -> None:
    hrefs = {e["data"]["href"] for e in recording.events if e["type"] == 4}
    assert hrefs == {recording.site + "/clinic/patients/:id/chart"}


def test_snapshot_holds_every_element_of_the_page(recording: Recording) -> None:
    """The last full snapshot (taken after leaving /volunteers) matches the final live DOM.

    Same element ids, and the same number of elements of each tag: the live page minus
    script and noscript, with each blocked element counted once (its placeholder).
    """
    snapshot = last_snapshot(recording.events)
    elements = [n for n in walk(snapshot) if n.get("type") == 2]
    ids = {str(n["attributes"]["id"]) for n in elements if "id" in n.get("attributes", {})}
    wire = recording.pseudonyms
    assert [i for i in recording.live_ids if wire.get(i) not in ids] == [], "element ids missing"
    recorded = Counter(str(n["tagName"]).lower() for n in elements)
    live = Counter(recording.live_tags)
    assert (live - recorded, recorded - live) == (Counter(), Counter()), "(missing, extra) tags"


@pytest.mark.parametrize(
    ("source", "name"),
    [(1, "MouseMove"), (2, "MouseInteraction"), (3, "Scroll"), (4, "ViewportResize"), (5, "Input")],
)
def test_interaction_is_recorded(recording: Recording, source: int, name: str) -> None:
    assert recording.incremental(source), f"no {name} events (IncrementalSnapshot source {source})"


def test_clicks_are_recorded(recording: Recording) -> None:
    clicks = [e for e in recording.incremental(2) if e["data"]["type"] == 2]
    assert len(clicks) >= 5


def test_the_replay_looks_like_the_page(browser: Browser, recording: Recording) -> None:
    """rrweb's Replayer rebuilds the page with every element styled as it was live, although
    every class and id in the markup and the stylesheets is a pseudonym."""
    events = sorted(recording.events, key=lambda e: int(e["timestamp"]))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(recording.site + "/assets/replay.html")
        page.add_script_tag(path=str(RRWEB_UMD))
        rebuilt = page.evaluate(REPLAY, [events, STYLE_PROPERTIES])
        page.screenshot(path=str(ARTIFACTS / "leak-page-replay.png"), full_page=True)
    finally:
        context.close()
    assert rebuilt["warnings"] == [], "rrweb's replayer warned about the events"
    mismatches = style_mismatches(recording.live_styles, rebuilt["styles"])
    assert mismatches == [], "\n".join(mismatches)


def test_addevent_keeps_safe_keys_and_masks_the_rest(recording: Recording) -> None:
    custom = {e["data"]["tag"]: e["data"]["payload"] for e in recording.events if e["type"] == 5}
    assert {"note", "triage"} <= custom.keys()
    assert custom["triage"].get("step") == "opened-chart"


def test_every_driver_step_ran(recording: Recording) -> None:
    """A step the page refused (e.g. an API the recorder lacks) is named here."""
    assert recording.failed_steps == {}


# --- the check can fail ----------------------------------------------------------------


def test_negative_control_leak_is_named(
    browser: Browser, collector: RunningServer, site: str
) -> None:
    """A canary sent on purpose over the page's own socket is reported with its vector."""
    vectors = {**VECTORS, "negative-control (sent on purpose)": "CANARY-99-NEGATIVE"}
    context = browser.new_context()
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + "/assets/replay.html")
        reply = send_on_purpose(page, collector.ws_url, "negative-control-2", "CANARY-99-NEGATIVE")
    finally:
        context.close()
    assert reply == {"type": "ack", "seq": 1}
    expected = {
        "negative-control (sent on purpose)": "CANARY-99-NEGATIVE in frame 1 batch 1: Custom"
    }
    assert find_leaks(vectors, frame_parts(frames.sent)) == expected
    stored = export_events(collector.data_dir, collector.keyring, "negative-control-2")
    leaks = find_leaks(vectors, stored_parts(stored))
    assert list(leaks) == ["negative-control (sent on purpose)"]
    assert "negative-control (sent on purpose): CANARY-99-NEGATIVE in seq 1: Custom" in (
        leak_message(leaks, "the stored session")
    )


# --- a tab that loads straight onto the excluded route ---------------------------------

DIRECT_PATH = "/volunteers/CANARY-ROE-VOLDIRECTPATH/profile"
LEAVE_DIRECT = js(f"history.pushState({{}}, '', '{CHART_PATH}');")
# The router re-renders long after the URL changed (say, after a fetch).
SWAP_DIRECT = js("""
    document.getElementById('volunteer-direct').remove();
    const heading = document.createElement('h1');
    heading.id = 'after-direct';
    heading.textContent = 'Trial chart';
    document.getElementById('app').prepend(heading);
""")


@dataclass(repr=False)
class Direct:
    frames: list[str]
    stored: list[dict[str, Any]]


@pytest.fixture(scope="module")
def direct(browser: Browser, collector: RunningServer, site: str) -> Direct:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    frames = FrameLog().attach(page)
    try:
        page.goto(site + DIRECT_PATH)
        page.evaluate("() => window.leakRecording")
        page.wait_for_timeout(300)
        page.evaluate(LEAVE_DIRECT)
        page.wait_for_timeout(600)  # slower than the recorder's settle: it snapshots the old view
        page.evaluate(SWAP_DIRECT)
        page.wait_for_timeout(200)
        page.evaluate("() => PhiReplay.flush()")
    finally:
        context.close()
    hellos = [json.loads(f) for f in frames.sent if f.startswith('{"type":"hello"')]
    assert hellos, "the recorder said hello"
    session = str(hellos[0]["session_id"])
    return Direct(list(frames.sent), export_events(collector.data_dir, collector.keyring, session))


def test_a_tab_loaded_on_the_excluded_route_records_nothing_of_it(direct: Direct) -> None:
    vectors = {**VECTORS, **DIRECT_VECTORS}
    leaks = find_leaks(vectors, frame_parts(direct.frames))
    assert leaks == {}, leak_message(leaks, "WebSocket frames (tab loaded on the excluded route)")
    leaks = find_leaks(vectors, stored_parts(direct.stored))
    assert leaks == {}, leak_message(leaks, "the stored session (tab loaded on the excluded route)")


def test_after_leaving_what_the_router_renders_is_readable(direct: Direct) -> None:
    events = [e["event"] for e in direct.stored]
    assert any(e["type"] == 2 for e in events), "a full snapshot once the tab left the route"
    added = [
        n
        for e in events
        if e["type"] == 3 and e["data"].get("source") == 0
        for add in e["data"]["adds"]
        for n in walk(add["node"])
    ]
    assert "Trial chart" in [n.get("textContent") for n in added]


# --- reading serialized snapshots ------------------------------------------------------


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("childNodes", []):
        yield from walk(child)


def snapshot_nodes(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every serialized node in full snapshots and in mutation adds."""
    for e in events:
        if e["type"] == 2:
            yield from walk(e["data"]["node"])
        elif e["type"] == 3 and e["data"].get("source") == 0:
            for add in e["data"].get("adds", []):
                yield from walk(add["node"])


def last_snapshot(events: list[dict[str, Any]]) -> dict[str, Any]:
    snapshots = [e for e in events if e["type"] == 2]
    assert snapshots, "a full snapshot was stored"
    node: dict[str, Any] = snapshots[-1]["data"]["node"]
    return node


def text_nodes(node: dict[str, Any]) -> list[str]:
    return [str(n["textContent"]) for n in walk(node) if n.get("type") == 3]


def node_ids(
    events: list[dict[str, Any]], pseudonyms: dict[str, str], element_ids: list[str]
) -> dict[str, set[int]]:
    """The rrweb node ids each element (by its `id` on the page) had: one per full snapshot."""
    wanted = {pseudonyms[i]: i for i in element_ids}
    found: dict[str, set[int]] = {}
    for n in snapshot_nodes(events):
        element_id = n.get("attributes", {}).get("id")
        if element_id in wanted:
            found.setdefault(wanted[element_id], set()).add(int(n["id"]))
    return found
