"""What an operator and an application developer see in a real Chromium when the
collector refuses a page: over TLS a refusal is an event, not a traceback (HTTP/1.1, not
hypercorn's HTTP/2); a disallowed Origin and a disabled environment are named on both
sides, never as a bare close code 1006."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from collector.testing import RunningServer, cli, free_port, running_collector, running_process
from e2e.static_site import serving
from tests.test_tls import self_signed

TLS_CONFIG = """
[[instances]]
name = "tls"
app_keys = ["k-tls-e2e-0001"]
allowed_origins = ["https://127.0.0.1:*"]
"""

# Not --dev: the dev instance admits every loopback Origin. Pages come from one static
# server on 127.0.0.1, so http://localhost:PORT is allowed and http://127.0.0.1:PORT not.
CONFIG = """
[[instances]]
name = "trials"
app_keys = ["k-trials-e2e-0002"]
allowed_origins = ["http://localhost:*"]

[instances.environments.uat]
enabled = false
"""
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App</title>
<script src="{{COLLECTOR}}/sdk/phi-replay.min.js"></script></head><body><p>x</p>
<script>
const environment = new URLSearchParams(location.search).get("env");
window.started = PhiReplay.start({endpoint: "{{COLLECTOR}}", appKey: "k-trials-e2e-0002",
  user: "qa.operator", environment}).then(() => "started", (e) => e.message);
</script></body></html>"""

# Opens a socket with the given app key and sends a burst of batches right after the hello,
# as a recorder with queued events does; resolves with what came back and the close.
REFUSED_SOCKET = """([url, key]) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  const got = [];
  ws.onopen = () => {
    ws.send(JSON.stringify({type: 'hello', v: 1, app_key: key, session_id: 'sess-e2e-tls-01',
                            tab_id: 'tab-e2e-tls-01', user: '', environment: 'default'}));
    let seq = 0;
    const timer = setInterval(() => {
      if (ws.readyState !== 1 || seq > 200) { clearInterval(timer); return; }
      ws.send(JSON.stringify({type: 'batch', seq: ++seq,
                              events: [{type: 5, data: {tag: 'x', payload: {}}, timestamp: 1}]}));
    }, 1);
  };
  ws.onmessage = (event) => got.push(JSON.parse(event.data).code);
  ws.onclose = (event) => resolve({code: event.code, got});
})"""


@pytest.fixture
def tls_collector(tmp_path: Path) -> Iterator[RunningServer]:
    cert, key = self_signed(tmp_path)
    config = tmp_path / "tls.toml"
    config.write_text(TLS_CONFIG)
    trust = ssl.create_default_context(cafile=cert)
    tls = ("--certfile", cert, "--keyfile", key)
    with running_collector(tmp_path / "var", "--config", config, *tls, ssl_context=trust) as s:
        yield s


def test_refusals_over_tls_are_events_not_tracebacks(
    browser: Browser, tls_collector: RunningServer
) -> None:
    context = browser.new_context(ignore_https_errors=True)  # the test's self-signed cert
    try:
        page = context.new_page()
        page.goto(f"https://127.0.0.1:{tls_collector.port}/")
        # HTTP/2 over TLS is what made hypercorn log `KeyError: 3` and drop the connection.
        protocol = page.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
        assert protocol == "http/1.1"
        url = f"wss://127.0.0.1:{tls_collector.port}/v1/ingest"
        for _ in range(6):
            result = page.evaluate(REFUSED_SOCKET, [url, "k-wrong-key-0000"])
            assert result == {"code": 4001, "got": ["unauthorised"]}
        page.wait_for_timeout(500)
    finally:
        context.close()
    log = tls_collector.log.read_text()
    assert log.count("code=unauthorised") == 6
    for noise in ("ERROR", "Traceback", "KeyError", "ExceptionGroup"):
        assert noise not in log


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("operator-e2e")
    config, data_dir, ring = root / "phi-replay.toml", root / "var", root / "keyring.json"
    config.write_text(CONFIG)
    cli("keys", "init", "--keyring", ring)
    port = free_port()
    argv: list[str | Path] = [sys.executable, "-m", "collector", "serve", "--config", config]
    argv += ["--data-dir", data_dir, "--keyring", ring, "--port", str(port), "--insecure-http"]
    log = root / "serve.log"
    with running_process(argv, f"http://127.0.0.1:{port}/healthz", log) as proc:
        yield RunningServer(proc, port, data_dir, ring, log)


@pytest.fixture(scope="module")
def site(collector: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("operator-site")
    (root / "app.html").write_text(PAGE)
    with serving(root, {"/": "app.html"}, {"COLLECTOR": collector.http_url}) as url:
        yield int(url.rsplit(":", 1)[1].split("/")[0])


def app_page(page: Page, url: str) -> list[str]:
    """Open the recorder's page at `url`; returns its console lines as they come."""
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(url)
    return console


def test_a_disallowed_origin_is_named_to_the_page_and_in_the_log(
    page: Page, collector: RunningServer, site: int
) -> None:
    app_page(page, f"http://127.0.0.1:{site}/ward?env=default")
    message = page.evaluate("() => window.started")
    assert message == (
        f"phi-replay: the collector refused this page (origin_not_allowed: origin"
        f" http://127.0.0.1:{site} is not allowed for any instance; add it to"
        f" allowed_origins)"
    )
    log = collector.log.read_text()
    assert f"code=origin_not_allowed origin=http://127.0.0.1:{site} instance=-" in log


def test_a_disabled_environment_names_the_instance_and_environment(
    page: Page, collector: RunningServer, site: int
) -> None:
    console = app_page(page, f"http://localhost:{site}/ward?env=uat")
    assert page.evaluate("() => window.started") == "started"  # a decision, not an error
    page.wait_for_timeout(300)
    assert (
        "debug: phi-replay: recording is disabled here: instance trials, environment uat:"
        " recording is not enabled for this environment"
    ) in console
    assert not [line for line in console if line.startswith(("warning", "error"))]
    log = collector.log.read_text()
    assert "code=disabled instance=trials environment=uat" in log
