"""Per-instance configuration obeyed by a real recorder in Chromium: a disabled
environment and a closed enable window store nothing; the collector's excluded routes
and mask rules apply on top of the application's own rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page

from collector.testing import RunningServer, cli, export_events, running_collector
from e2e.browser import FrameLog
from e2e.static_site import serving

TODAY = datetime.now(UTC).date()
CLOSED_FROM, CLOSED_TO = TODAY - timedelta(days=60), TODAY - timedelta(days=30)
CONFIG = f"""
[[instances]]
name = "trials"
app_keys = ["k-trials-e2e-0001"]
allowed_origins = ["http://127.0.0.1:*"]
mask = ["#chart"]
exclude_routes = ["/volunteers/**"]

[instances.environments.prod]
enabled = true
opt_in = {{ by = "qa.lead", at = {TODAY}, ticket = "CHG-E2E-0042" }}

[instances.environments.uat]
enabled = false

[instances.environments.train]
enabled = true
windows = [{{ from = {CLOSED_FROM}, to = {CLOSED_TO} }}]
"""
OPEN_TEXT = "Ward seven handover"  # the application unmasks it
CHART = "CANARY-CHART-0042 potassium 5.9"  # inside the unmasked region; the collector masks it
VOLUNTEER = "CANARY-VOLUNTEER-0043"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ward</title>
<script src="{{COLLECTOR}}/sdk/phi-replay.min.js"></script></head>
<body><main id="open"><h1>{{OPEN}}</h1><p id="chart">{{CHART}}</p></main>
<script>
const env = new URLSearchParams(location.search).get("env");
window.recording = PhiReplay.start({endpoint: "{{COLLECTOR}}", appKey: "k-trials-e2e-0001",
    user: "qa.config." + env, environment: env, rules: {unmask: ["#open"]}});
window.toVolunteers = () => {
  history.pushState({}, "", "/volunteers/17");
  document.getElementById("open").innerHTML = "<h1>Volunteer {{VOLUNTEER}}</h1>";
};
</script></body></html>"""


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("config-e2e")
    config = root / "phi-replay.toml"
    config.write_text(CONFIG)
    with running_collector(root / "var", "--config", config) as server:
        yield server


@pytest.fixture(scope="module")
def site(collector: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("config-site")
    (root / "ward.html").write_text(PAGE)
    values = {
        "COLLECTOR": collector.http_url,
        "OPEN": OPEN_TEXT,
        "CHART": CHART,
        "VOLUNTEER": VOLUNTEER,
    }
    with serving(root, {"/": "ward.html"}, values) as url:
        yield url


def stored_users(collector: RunningServer) -> set[str]:
    out = cli(
        "sessions", "--json", "--data-dir", collector.data_dir, "--keyring", collector.keyring
    )
    return {json.loads(line)["user"] for line in out.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("env", ["uat", "train"])
def test_a_disabled_environment_or_closed_window_stores_nothing(
    page: Page, collector: RunningServer, site: str, env: str
) -> None:
    frames = FrameLog().attach(page)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(f"{site}/ward?env={env}")
    page.evaluate("() => window.recording")  # resolves: not recording is not an error
    page.evaluate("() => window.toVolunteers()")
    page.wait_for_timeout(1500)
    assert [json.loads(f)["type"] for f in frames.sent] == ["hello"]
    assert f"qa.config.{env}" not in stored_users(collector)
    assert not [line for line in console if line.startswith(("warning", "error"))]


def test_the_collectors_mask_and_excluded_routes_hold_for_a_real_recorder(
    page: Page, collector: RunningServer, site: str
) -> None:
    frames = FrameLog().attach(page)
    page.goto(f"{site}/ward?env=prod")
    page.evaluate("() => window.recording")
    page.evaluate("() => PhiReplay.flush()")
    page.evaluate("() => window.toVolunteers()")
    page.wait_for_timeout(600)  # the route poll notices the new path
    page.evaluate("() => PhiReplay.flush()")
    sent = "\n".join(frames.sent)
    assert OPEN_TEXT in sent  # the application's unmask still holds
    assert "CANARY-CHART" not in sent  # the collector's mask wins inside it
    assert VOLUNTEER not in sent  # nothing captured on the collector's excluded route
    session = next(
        json.loads(f)["session_id"] for f in frames.sent if json.loads(f)["type"] == "hello"
    )
    stored = json.dumps(export_events(collector.data_dir, collector.keyring, session))
    assert OPEN_TEXT in stored
    assert "CANARY-CHART" not in stored
    assert VOLUNTEER not in stored
    assert "/volunteers" not in stored
