"""Side-effecting console routes take only the console's own requests
(collector/console/csrf.py): what a recorded page in the replay iframe, another site or
a bare script would send is refused with a 403 that says why, and nothing is audited."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from collector.control import AuditQuery
from tests.test_console import NAVIGATION, TRIALS_SESSION, Console, sign_in, throttled_console
from tests.test_console import console as console  # the fixture, for this module too

EXPORT = f"/console/sessions/{TRIALS_SESSION}/export"
EVENTS = f"/console/api/sessions/{TRIALS_SESSION}/events"


@pytest.fixture
def admin(console: Console) -> TestClient:
    client = sign_in(console, "superadmin")
    client.headers.clear()  # each test says what its "browser" sends
    return client


def fetch_metadata(site: str, mode: str, dest: str) -> dict[str, str]:
    return {"Sec-Fetch-Site": site, "Sec-Fetch-Mode": mode, "Sec-Fetch-Dest": dest}


def audited(console: Console, action: str) -> int:
    return console.store.control.audit_records(AuditQuery(action=action, target=TRIALS_SESSION))[1]


@pytest.mark.parametrize(
    ("what", "headers"),
    [
        ("an <img> in the replay", fetch_metadata("same-origin", "no-cors", "image")),
        ("a stylesheet link", fetch_metadata("same-origin", "no-cors", "style")),
        ("a framed export", fetch_metadata("same-origin", "navigate", "iframe")),
        ("a cross-site link", fetch_metadata("cross-site", "navigate", "document")),
        ("a sibling subdomain", fetch_metadata("same-site", "navigate", "document")),
        ("an unmarked fetch", fetch_metadata("same-origin", "cors", "empty")),
        ("a script without the header", {}),
    ],
)
def test_an_export_not_asked_for_by_the_console_is_refused_and_not_audited(
    console: Console, admin: TestClient, what: str, headers: dict[str, str]
) -> None:
    before = audited(console, "session.export"), audited(console, "session.view")
    export = admin.get(EXPORT, headers=headers)
    events = admin.get(EVENTS, headers=headers)
    assert (export.status_code, events.status_code) == (403, 403), what
    assert "Refused: expected " in export.text, what
    assert "the console" in export.text
    assert (audited(console, "session.export"), audited(console, "session.view")) == before


def test_a_cross_site_post_is_refused_with_a_clear_403(console: Console, admin: TestClient) -> None:
    page = admin.get("/console/users", headers=NAVIGATION)
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "username": "forged.user", "role": "support"}
    refused = admin.post(
        "/console/users", data=form, headers=fetch_metadata("cross-site", "navigate", "document")
    )
    assert refused.status_code == 403
    assert refused.text.startswith(
        "Refused: expected a request from the console's own pages, got one from 'cross-site'."
    )
    assert console.store.control.get_user("forged.user") is None
    # The same form, posted from the console's own page, is taken.
    taken = admin.post("/console/users", data=form, headers=NAVIGATION)
    assert taken.status_code == 200
    assert console.store.control.get_user("forged.user") is not None


def test_the_consoles_own_requests_pass(console: Console, admin: TestClient) -> None:
    before = audited(console, "session.export"), audited(console, "session.view")
    # The page's player fetches the events, marked; the export link is a download.
    marked = {**fetch_metadata("same-origin", "cors", "empty"), "X-Phi-Console": "1"}
    assert admin.get(EVENTS, headers=marked).status_code == 200
    assert (
        admin.get(EXPORT, headers=fetch_metadata("same-origin", "navigate", "empty")).status_code
        == 200
    )
    # Typed into the address bar; and a script that marks its requests.
    assert (
        admin.get(EXPORT, headers=fetch_metadata("none", "navigate", "document")).status_code == 200
    )
    assert admin.get(EVENTS, headers={"X-Phi-Console": "1"}).status_code == 200
    after = audited(console, "session.export"), audited(console, "session.view")
    assert after == (before[0] + 2, before[1] + 2)


def test_an_unknown_header_value_is_not_repeated(admin: TestClient) -> None:
    refused = admin.get(EXPORT, headers=fetch_metadata("same-origin", "no-cors", "x<script>"))
    assert refused.status_code == 403
    assert "x<script>" not in refused.text
    assert "another kind" in refused.text


def test_pages_that_write_nothing_open_from_anywhere(admin: TestClient) -> None:
    # A link to a session (shared in a ticket) opens; its player then asks, marked.
    cross = fetch_metadata("cross-site", "navigate", "document")
    assert admin.get("/login", headers=cross, follow_redirects=False).status_code == 303
    assert admin.get(f"/console/sessions/{TRIALS_SESSION}", headers=cross).status_code == 200
    # A link to an audited page from elsewhere: refused, with one click to go on.
    listed = admin.get("/console/sessions?user=a%22b", headers=cross)
    assert listed.status_code == 403
    assert '<a href="/console/sessions?user=a%22b">Continue in the console</a>' in listed.text
    assert admin.get("/console/sessions?user=a%22b", headers=NAVIGATION).status_code == 200


def test_refusals_are_logged_escaped_and_not_one_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The path is the client's text: a newline in it must not forge a log line (outside
    review: `%0a… ERROR phi_replay.audit: audit chain BROKEN`), nor may a flood of
    refusals become a flood of lines."""
    forged = "/console/sessions/x%0a2026-12-04 ERROR phi_replay.audit: BROKEN%1b[2J/export"
    cross = fetch_metadata("cross-site", "navigate", "document")
    app, _ = throttled_console(tmp_path)  # its own middleware: nothing logged before
    with caplog.at_level("WARNING", logger="phi_replay.console"), TestClient(app) as client:
        for _ in range(50):
            assert client.get(forged, headers=cross).status_code == 403
    lines = [r.getMessage() for r in caplog.records if r.name == "phi_replay.console"]
    assert len(lines) == 1
    assert "\n" not in lines[0]
    assert "\x1b" not in lines[0]
    assert "\\x0a2026-12-04 ERROR" in lines[0]
