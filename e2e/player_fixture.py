"""What the replay player's e2e test needs: a small clinical-looking app recorded with our
recorder, and a stand-in for the support console that serves the player under the
console's Content-Security-Policy.

Both sites are loopback servers on free ports (the app and the console are different
origins, as in production). Every value on the app's pages is obviously synthetic.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser

from collector.console import CSP as CONSOLE_CSP  # the console page's policy, exactly
from collector.testing import RunningServer, export_events

DIST = Path(__file__).parents[1] / "sdk-js/dist"


PATIENT = "Testpatient CANARY-PLAYER-0042"
NOTE = "CANARY-PLAYER-NOTE-7"
CANARIES = [PATIENT, "CANARY-PLAYER", "MRN-TEST-CANARY", "1904-04-04", NOTE]
# Text the app unmasks (data-replay-unmask), readable in the replay.
LABELS = ["Trial Site Portal", "Patients", "Patient chart", "Save note"]
RECORDED_USER = "qa.player"


@dataclass(frozen=True)
class Reply:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: Site

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.requests.append(path)
        reply = self.server.routes.get(path) or Reply(b"not found", "text/plain", 404)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines are checked by the tests, not printed


class Site(ThreadingHTTPServer):
    """Exact paths to fixed replies; every path asked for is kept in `requests`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Reply] = {}
        self.requests: list[str] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serving() -> Iterator[Site]:
    site = Site()
    thread = threading.Thread(target=site.serve_forever, name="e2e-player-site", daemon=True)
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)


# --- the recorded app -------------------------------------------------------------------

_APP_CSS = """
@font-face { font-family: "Trial Sans"; src: url(/static/trial.woff2) format("woff2"); }
body { margin: 0; font: 15px/1.5 "Trial Sans", system-ui, sans-serif; color: #1d2733;
       background: #f5f7fa url(/static/paper.svg); }
.banner { display: flex; gap: 24px; align-items: center; padding: 12px 24px; color: #fff;
          background-color: #0f4c81; background-repeat: repeat-x; }
.banner a { color: #fff; }
main { max-width: 880px; margin: 24px auto; padding: 24px; background: #fff;
       border: 1px solid #d8dee6; border-radius: 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid #e3e8ee; }
dl { display: grid; grid-template-columns: 160px 1fr; gap: 6px 12px; }
dt { color: #5b6776; }
textarea { width: 100%; height: 64px; }
button { margin-top: 8px; padding: 6px 14px; background: #0f4c81; color: #fff; border: 0;
         border-radius: 4px; }
"""

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<link rel="stylesheet" href="http://localhost:{port}/static/remote.css">
<script src="{collector}/sdk/phi-replay.min.js"></script>
<script>window.recording = PhiReplay.start({options});</script>
</head><body>
<header class="banner" style="background-image: url('/static/stripes.svg')">
  <strong data-replay-unmask>Trial Site Portal</strong>
  <nav data-replay-unmask><a href="/patients">Patients</a></nav>
  <span class="muted">Signed in as CANARY-PLAYER-STAFF</span>
</header>
"""

_LIST = """<main>
<h1 data-replay-unmask>Patients</h1>
<table id="patients">
<thead data-replay-unmask><tr><th>Name</th><th>MRN</th><th>Date of birth</th></tr></thead>
<tbody>
<tr><td><a href="/patients/1042">{patient}</a></td><td>MRN-TEST-CANARY-0042</td>
    <td>1904-04-04</td></tr>
<tr><td><a href="/patients/1043">Testpatient CANARY-PLAYER-0043</a></td>
    <td>MRN-TEST-CANARY-0043</td><td>1905-05-05</td></tr>
<tr><td><a href="/patients/1044">Testpatient CANARY-PLAYER-0044</a></td>
    <td>MRN-TEST-CANARY-0044</td><td>1906-06-06</td></tr>
</tbody></table>
</main></body></html>
"""

_CHART = """<main>
<h1 data-replay-unmask>Patient chart</h1>
<dl><dt data-replay-unmask>Name</dt><dd>{patient}</dd>
    <dt data-replay-unmask>MRN</dt><dd>MRN-TEST-CANARY-0042</dd>
    <dt data-replay-unmask>Date of birth</dt><dd>1904-04-04</dd></dl>
<label for="note" data-replay-unmask>Note</label>
<textarea id="note"></textarea>
<button id="save" type="button" data-replay-unmask>Save note</button>
<ul id="notes"></ul>
<script>
document.getElementById("save").addEventListener("click", () => {{
  const li = document.createElement("li");
  li.textContent = document.getElementById("note").value;
  document.getElementById("notes").append(li);
}});
</script>
</main></body></html>
"""

_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8">'
    b'<rect width="8" height="8" fill="#e8edf3"/></svg>'
)


def app_routes(port: int, collector: RunningServer) -> dict[str, Reply]:
    options = {"endpoint": collector.http_url, "appKey": "dev", "user": RECORDED_USER}
    options["environment"] = "e2e"
    head = {"port": str(port), "collector": collector.http_url, "options": json.dumps(options)}
    return {
        "/patients": Reply(
            (_HEAD.format(title="Patients", **head) + _LIST.format(patient=PATIENT)).encode()
        ),
        "/patients/1042": Reply(
            (_HEAD.format(title=PATIENT, **head) + _CHART.format(patient=PATIENT)).encode()
        ),
        "/static/app.css": Reply(_APP_CSS.encode(), "text/css"),
        "/static/remote.css": Reply(b".muted { opacity: 0.8; }", "text/css"),
        "/static/stripes.svg": Reply(_SVG, "image/svg+xml"),
        "/static/paper.svg": Reply(_SVG, "image/svg+xml"),
    }


def record_a_visit(
    browser: Browser, collector: RunningServer, app: Site
) -> tuple[str, list[dict[str, Any]]]:
    """List of patients, open one, type a note and save it (about three seconds); returns
    the session id and its stored events, sorted by time."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        page.goto(app.url + "/patients")
        page.evaluate("() => window.recording")
        page.mouse.move(300, 200, steps=4)
        page.wait_for_timeout(400)
        page.click(f"text={PATIENT}")
        page.wait_for_url("**/patients/1042")
        page.evaluate("() => window.recording")
        page.wait_for_timeout(400)
        page.click("#note")
        page.keyboard.type(NOTE, delay=15)
        page.wait_for_timeout(400)
        page.click("#save")
        page.wait_for_selector("#notes li")
        page.mouse.move(600, 400, steps=6)
        page.wait_for_timeout(600)
        page.mouse.move(620, 420, steps=2)
        page.evaluate("() => PhiReplay.flush()")
    finally:
        context.close()
    stored = export_events(collector.data_dir, collector.keyring)
    sessions = {row["session_id"] for row in stored}
    assert len(sessions) == 1, "one tab, one session"
    events = sorted((row["event"] for row in stored), key=lambda e: int(e["timestamp"]))
    return sessions.pop(), events


def session_summary(events: list[dict[str, Any]], session_id: str) -> dict[str, Any]:
    """What the console's events endpoint sends next to the events."""
    first, last = int(events[0]["timestamp"]), int(events[-1]["timestamp"])
    return {
        "session_id": session_id,
        "user": RECORDED_USER,
        "instance": "dev",
        "environment": "e2e",
        "started_at": datetime.fromtimestamp(first / 1000, UTC).isoformat(),
        "duration_ms": last - first,
    }


# --- the console stand-in ---------------------------------------------------------------

_CONSOLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Replay</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/static/player.css">
<style>body {{ margin: 0; padding: 16px 24px; background: #f3f5f8;
  font-family: system-ui, sans-serif; }} h1 {{ font-size: 18px; margin: 0 0 12px; }}</style>
</head><body>
<h1>Session replay</h1>
<div data-phi-replay-player data-events-url="/console/api/sessions/{name}/events"></div>
<script src="/console/static/player.js" defer></script>
</body></html>
"""


def console_routes(recordings: Mapping[str, Reply]) -> dict[str, Reply]:
    """A replay page per name in `recordings` (`/console/sessions/NAME`), served with the
    console's CSP, and `/console/api/sessions/NAME/events` answering with its reply."""
    for name in ("player.js", "player.css"):
        if not (DIST / name).is_file():
            raise RuntimeError(f"{DIST / name} is missing: run `npm --prefix sdk-js run build`")
    routes = {
        "/console/static/player.js": Reply((DIST / "player.js").read_bytes(), "text/javascript"),
        "/console/static/player.css": Reply((DIST / "player.css").read_bytes(), "text/css"),
    }
    csp = {"Content-Security-Policy": CONSOLE_CSP}
    for name, reply in recordings.items():
        page = _CONSOLE_PAGE.format(name=name).encode()
        routes[f"/console/sessions/{name}"] = Reply(page, headers=csp)
        routes[f"/console/api/sessions/{name}/events"] = reply
    return routes


def json_reply(value: object, status: int = 200) -> Reply:
    return Reply(json.dumps(value).encode(), "application/json", status)
