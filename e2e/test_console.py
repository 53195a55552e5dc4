"""The newcomer's path through the support console, in Chromium: make a session in the
sample app, sign in with the demo's printed login, find the session, replay it (masked,
in a sandboxed iframe), and see one's own view in "who viewed" and in the audit log."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page

from collector.demo_app import data
from collector.testing import RunningDemo
from e2e.conftest import ARTIFACTS
from e2e.test_phi_never_leaves import TYPED, use_the_app


def demo_password(demo: RunningDemo, user: str) -> str:
    found = re.search(rf"^\s+{user}\s+password (\S+)$", demo.log.read_text(), re.M)
    assert found is not None, f"the demo printed no {user} login"
    return found.group(1)


def sign_in(page: Page, demo: RunningDemo, user: str) -> None:
    page.goto(demo.collector_url + "/console")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", demo_password(demo, user))
    page.click("button[type=submit]")
    page.wait_for_selector('[data-role="sessions"]')


def test_find_replay_and_see_ones_own_view_in_the_audit_log(
    browser: Browser, page: Page, demo: RunningDemo
) -> None:
    use_the_app(page, demo)  # as the clinician, in the sample app
    staff = browser.new_context(viewport={"width": 1280, "height": 900})
    console = staff.new_page()
    violations: list[str] = []
    console.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    outside: list[str] = []
    console.on(
        "request",
        lambda r: None if r.url.startswith(demo.collector_url) else outside.append(r.url),
    )
    try:
        sign_in(console, demo, "superadmin")
        ARTIFACTS.mkdir(exist_ok=True)
        console.screenshot(path=str(ARTIFACTS / "console-sessions.png"), full_page=True)
        rows = console.locator('[data-role="sessions"] tbody a[data-session]')
        assert rows.count() >= 1
        assert "/patients" in console.inner_text('[data-role="sessions"]')  # pages visited
        rows.first.click()
        console.wait_for_selector(".phi-player iframe")
        frame = console.frame_locator(".phi-player iframe")
        frame.locator("body").wait_for()
        console.wait_for_function(
            "() => document.querySelector('.phi-player iframe')"
            "?.contentDocument?.body?.innerText.includes('*')"
        )
        sandbox = console.get_attribute(".phi-player iframe", "sandbox") or ""
        assert "allow-scripts" not in sandbox
        replayed = console.evaluate(
            "() => document.querySelector('.phi-player iframe').contentDocument"
            ".documentElement.outerHTML"
        )
        for canary in [*data.canaries(), *TYPED.values()]:
            assert canary not in replayed
        console.screenshot(path=str(ARTIFACTS / "console-replay.png"), full_page=True)
        console.reload()
        viewers = console.inner_text('[data-role="viewers"]')
        assert "superadmin" in viewers
        assert "session.view" in viewers
        console.click("nav >> text=Audit log")
        log = console.inner_text('[data-role="audit"]')
        assert re.search(r"superadmin\s+session\.view", log)
        assert re.search(r"superadmin\s+login", log)
        assert not violations
        assert not outside
    finally:
        staff.close()


def test_support_cannot_open_the_audit_log(browser: Browser, demo: RunningDemo) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, demo, "support")
        assert page.locator("nav >> text=Audit log").count() == 0
        response = page.goto(demo.collector_url + "/console/audit")
        assert response is not None
        assert response.status == 403
    finally:
        context.close()
