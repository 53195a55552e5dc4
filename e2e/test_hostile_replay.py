"""Hostile recordings replayed in the real console, in Chromium, by a signed-in superadmin.

Anyone with the public app key can send events, so a recording is hostile input. Each
recording of `e2e/hostile_recordings.py` tries to make the replay fetch something: a
console URL (a cookie-carrying request the console would audit as a view or export of
another instance's session that the viewer never made) or an outside server. Each is
stored in a real collector, opened on the console's session page, played to its end and
seeked across. Counted: every request the page and its frames make (Playwright sees the
replay iframe's too), every hit on the outside server, and the audit records written.
Allowed: the console page, its stylesheet, the player's script and stylesheet, the one
events request, and the one `session.view` it writes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request

from collector.control import AuditQuery, Control, User
from collector.crypto import DataKey, Keyring, hash_password
from collector.embedded import EmbeddedStore
from collector.records import seal_batch
from collector.store import SessionRecord
from collector.testing import RunningServer, free_port, running_collector
from e2e.hostile_recordings import CORPUS, Targets
from e2e.player_fixture import Site, serving

PASSWORD = "correct-horse-battery-0042"
ADMIN = "admin.hostile"
VICTIM = "s-victim-0001"
# The console's own requests for one replay page (paths).
OWN = {
    "/console/static/console.css",
    "/console/static/player.css",
    "/console/static/player.js",
}


def session_id(name: str) -> str:
    return f"s-hostile-{name}"


def seed(data_dir: Path, keyring: Keyring, targets: Targets) -> None:
    async def run() -> None:
        store = EmbeddedStore(data_dir)
        try:
            recordings = {session_id(n): ("attacker", b(targets)) for n, b in CORPUS.items()}
            victim = [{"type": 4, "timestamp": 1, "data": {"href": "http://clinic.test/"}}]
            recordings[VICTIM] = ("clinic", victim)
            for sid, (instance, events) in recordings.items():
                dek = DataKey.generate()
                wrapped = keyring.wrap(dek, instance, sid)
                new = SessionRecord(sid, instance, "qa.hostile", "prod", "tab-1", 0.0, wrapped)
                session = await store.open_session(new)
                await store.append(sid, seal_batch(session, dek, 1, events))
        finally:
            await store.aclose()

    # Playwright's sync API holds this thread's event loop: the store gets its own thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()
    control = Control.open(data_dir)
    control.add_user(User(ADMIN, "superadmin", None, hash_password(PASSWORD)))
    control.close()


@dataclass
class Console:
    server: RunningServer
    outside: Site
    context: BrowserContext
    control: Control
    requests: list[Request] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.http_url


@pytest.fixture(scope="module")
def console(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("hostile")
    data_dir = root / "var"
    keyring_path = root / "keyring.json"
    port = free_port()
    with serving() as outside:
        targets = Targets(f"http://127.0.0.1:{port}", VICTIM, outside.url)
        seed(data_dir, Keyring.create(keyring_path), targets)
        with running_collector(data_dir, keyring=keyring_path, port=port) as server:
            context = browser.new_context(viewport={"width": 1000, "height": 800})
            control = Control.open(data_dir)
            watched = Console(server, outside, context, control)
            context.on("request", lambda request: watched.requests.append(request))
            try:
                sign_in(context.new_page(), server.http_url)
                yield watched
            finally:
                context.close()
                control.close()


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector('[data-role="sessions"]')
    page.close()


def audit_after(control: Control, seq: int) -> list[tuple[str, str, str]]:
    records, _ = control.audit_records(AuditQuery(limit=10_000))
    return sorted((r.action, r.target, r.actor) for r in records if r.seq > seq)


def last_seq(control: Control) -> int:
    records, _ = control.audit_records(AuditQuery(limit=1))
    return records[0].seq if records else 0


def replay_to_the_end(page: Page) -> None:
    """Play the whole recording (events applied live), then seek across it (rrweb applies
    the events again, synchronously), and give late loads a moment."""
    page.wait_for_function(
        "() => document.querySelector('.phi-player iframe')?.contentDocument?.body"
        " && document.querySelector('[data-role=\"timeline\"]')"
    )
    player = page.locator(".phi-player")
    player.locator('[data-action="speed"]').select_option("4")
    player.locator('[data-action="play"]').click()
    page.wait_for_function(
        "() => document.querySelector('[data-action=\"play\"]').textContent === 'Play'",
        timeout=10_000,
    )
    timeline = player.locator('[data-role="timeline"]')
    timeline.focus()
    for key in ("Home", "End", "Home", "End"):
        page.keyboard.press(key)
    page.wait_for_timeout(400)


def unexpected(requests: list[Request], console: str, session: str) -> list[str]:
    own = OWN | {f"/console/sessions/{session}", f"/console/api/sessions/{session}/events"}
    found = []
    for request in requests:
        url = request.url
        if url.startswith(console) and url[len(console) :] in own:
            continue
        if re.match(r"(data|about|blob):", url):
            continue  # nothing leaves the browser
        found.append(f"{request.resource_type} {url}")
    return found


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_hostile_recording_replays_without_a_single_request(console: Console, name: str) -> None:
    sid = session_id(name)
    seq = last_seq(console.control)
    console.requests.clear()
    hits_before = len(console.outside.requests)
    page = console.context.new_page()
    try:
        page.goto(f"{console.url}/console/sessions/{sid}")
        replay_to_the_end(page)
    finally:
        page.close()
    # (On failure, the audit records written meanwhile show what the console was made to do.)
    audit = audit_after(console.control, seq)
    assert unexpected(console.requests, console.url, sid) == [], audit
    assert console.outside.requests[hits_before:] == []
    assert audit == [("session.view", sid, ADMIN)]


def test_the_corpus_is_large_and_every_recording_aims_at_the_console_or_outside() -> None:
    targets = Targets("http://127.0.0.1:1", VICTIM, "http://127.0.0.1:2")
    assert len(CORPUS) >= 30
    for name, build in CORPUS.items():
        text = repr(build(targets))
        # (or at the console page itself, through a fragment-only URL)
        assert VICTIM in text or "127.0.0.1:2" in text or "#x" in text, name


def test_the_replay_document_forbids_every_fetch_even_past_the_inert_pass(
    console: Console,
) -> None:
    """The second layer alone: nodes put into the replay document directly (as if the
    inert pass had missed them) fetch nothing, because the document's own policy has no
    'self' and no other source."""
    sid = session_id("img-src")
    page = console.context.new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    try:
        page.goto(f"{console.url}/console/sessions/{sid}")
        replay_to_the_end(page)
        seq = last_seq(console.control)
        console.requests.clear()
        hits_before = len(console.outside.requests)
        page.evaluate(
            """([victim, outside]) => {
                const doc = document.querySelector('.phi-player iframe').contentDocument;
                const img = doc.createElement('img');
                img.src = victim;
                const link = doc.createElement('link');
                link.rel = 'stylesheet';
                link.href = outside + '/direct.css';
                const style = doc.createElement('style');
                style.textContent = `body { background: url(${outside}/direct.png) }`;
                const frame = doc.createElement('iframe');
                frame.src = victim;
                doc.head.append(link, style);
                doc.body.append(img, frame);
            }""",
            [f"{console.url}/console/sessions/{VICTIM}/export", console.outside.url],
        )
        page.wait_for_timeout(500)
        # Chromium reports the attempts, each failed by the policy before it left.
        attempts = [r for r in console.requests if unexpected([r], console.url, sid)]
        failures = {r.url.rsplit("/", 1)[-1]: r.failure for r in attempts}
    finally:
        page.close()
    refused = "csp"  # Playwright's word for net::ERR_BLOCKED_BY_CSP
    assert failures == {"direct.css": refused, "direct.png": refused, "export": refused}
    assert console.outside.requests[hits_before:] == []
    assert audit_after(console.control, seq) == []
    assert violations, "the policy refused them (and said so)"


def test_the_replay_iframe_is_sandboxed_without_scripts(console: Console) -> None:
    page = console.context.new_page()
    try:
        page.goto(f"{console.url}/console/sessions/{session_id('img-src')}")
        replay_to_the_end(page)
        sandbox: Any = page.get_attribute(".phi-player iframe", "sandbox")
    finally:
        page.close()
    assert sandbox is not None
    assert sandbox.split() == ["allow-same-origin"]


def test_the_consoles_own_download_and_sign_out_still_work(
    browser: Browser, console: Console
) -> None:
    """The origin check lets the console's own requests through: the export link (a
    download, which Chromium sends with no destination) and the sign-out form."""
    sid = session_id("img-src")
    page = console.context.new_page()
    try:
        page.goto(f"{console.url}/console/sessions/{sid}")
        replay_to_the_end(page)  # its session.view is written
        seq = last_seq(console.control)
        with page.expect_download() as download:
            page.click("text=Download events")
        assert download.value.failure() is None
        assert audit_after(console.control, seq) == [("session.export", sid, ADMIN)]
    finally:
        page.close()
    context = browser.new_context()
    try:
        signing = context.new_page()
        sign_in(signing, console.url)
        page = context.new_page()
        page.goto(f"{console.url}/console/sessions")
        page.click("text=Sign out")
        page.wait_for_url("**/login?m=out")
        assert "Signed out." in page.inner_text("body")
    finally:
        context.close()
