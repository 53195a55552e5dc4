"""Page hide: when the socket cannot deliver, the tail still arrives by sendBeacon.

The page's WebSocket is made to swallow frames after recording starts (a connection that
died without closing), the user does something, then leaves the page. The recorder's
`pagehide` beacon must carry the unacknowledged tail to `/v1/beacon`, where it is stored.
"""

from __future__ import annotations

import time

from playwright.sync_api import Page

from collector.testing import RunningDemo, export_events

SWALLOW_SOCKET_FRAMES = "() => { WebSocket.prototype.send = function () {}; }"


def test_the_tail_arrives_by_beacon_when_the_socket_is_dead(page: Page, demo: RunningDemo) -> None:
    page.goto(demo.app_url + "/patients")
    page.evaluate("() => window.demoRecording")
    page.evaluate("() => PhiReplay.flush()")
    page.evaluate(SWALLOW_SOCKET_FRAMES)
    page.evaluate(
        "() => PhiReplay.addEvent('support-marker', {step: 'before-leaving'}, {safe: ['step']})"
    )
    page.wait_for_timeout(1500)  # the batch is cut and "sent" into the dead socket
    page.goto("about:blank")  # pagehide: the recorder beacons its unacknowledged tail
    # (Playwright does not report beacons as page requests; the collector's log does.)
    deadline = time.monotonic() + 10
    while "beacon session=" not in demo.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "beacon session=" in demo.log.read_text(), "the collector received a beacon"

    stored = [e["event"] for e in export_events(demo.data_dir, demo.keyring)]
    markers = [e for e in stored if e["type"] == 5 and e["data"]["tag"] == "support-marker"]
    assert markers, "the event made while the socket was dead arrived by beacon"
    assert markers[0]["data"]["payload"] == {"step": "before-leaving"}
