"""QA's proof: synthetic PHI typed and shown in the sample app never leaves the browser.

Every WebSocket frame the page sends is collected and searched for canaries. The same
check is shown able to fail by a negative control that sends a canary on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

from collector.demo_app import data
from collector.testing import RunningDemo, export_events
from e2e.browser import FrameLog, send_on_purpose
from e2e.conftest import ARTIFACTS

TYPED = {
    "#ssn": "900-00-4242",
    "#diagnosis": "CANARY-DX-Hypertension-7731",
    "#notes": "CANARY-NOTE-5150 reports dizziness after the second dose",
}
CANARIES = [*data.canaries(), *TYPED.values(), *data.MEDICATIONS]
LABELS = ["Social Security number", "Diagnosis", "Medication", "Save visit", "Date of birth"]


def wait_recording(page: Page) -> None:
    page.evaluate("() => window.demoRecording")  # rejects if the recorder could not start


def flush(page: Page) -> None:
    page.evaluate("() => PhiReplay.flush()")


def use_the_app(page: Page, demo: RunningDemo) -> None:
    page.goto(demo.app_url + "/")
    wait_recording(page)
    flush(page)
    page.click("nav >> text=Patients")
    wait_recording(page)
    page.click(f"text={data.PATIENTS[0].name}")
    wait_recording(page)
    for selector, value in TYPED.items():
        page.click(selector)
        page.keyboard.type(value, delay=5)
    page.select_option("#medication", label=data.MEDICATIONS[3])
    page.click("text=Save visit")
    page.wait_for_selector("#history tr")
    flush(page)


def test_no_phi_in_any_frame_stored_session_is_readable_and_files_are_sealed(
    page: Page, demo: RunningDemo
) -> None:
    frames = FrameLog().attach(page)
    use_the_app(page, demo)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sample-app-visit-form.png"))

    batches = [json.loads(f) for f in frames.sent if '"type":"batch"' in f]
    assert len(batches) >= 3, "the recorder sent batches from each page"
    assert frames.leaks(CANARIES) == {}

    # What the collector stored: a full snapshot per page, labels readable, no canary.
    stored = export_events(demo.data_dir, demo.keyring)
    assert len({e["session_id"] for e in stored}) == 1, "one session for the tab"
    snapshots = [e["event"] for e in stored if e["event"]["type"] == 2]
    assert len(snapshots) >= 3
    replayed = json.dumps(snapshots)
    for label in LABELS:
        assert label in replayed, f"unmasked label {label!r} should be readable"
    exported = "\n".join(json.dumps(e) for e in stored).lower()
    assert [c for c in CANARIES if c.lower() in exported] == []
    inputs = [
        e["event"] for e in stored if e["event"]["type"] == 3 and e["event"]["data"]["source"] == 5
    ]
    assert inputs, "input on masked fields is recorded (as masked values)"

    # At rest: neither canaries nor labels readable in any file of the data directory.
    files = [p for p in Path(demo.data_dir).rglob("*") if p.is_file()]
    assert files
    for path in files:
        raw = path.read_bytes().lower()
        for needle in [*CANARIES, *LABELS]:
            assert needle.lower().encode() not in raw, f"{needle!r} in clear in {path.name}"


def test_negative_control_a_canary_sent_on_purpose_is_caught(page: Page, demo: RunningDemo) -> None:
    """The page itself sends a canary to the collector: the same checks must see it."""
    frames = FrameLog().attach(page)
    page.goto(demo.app_url + "/")
    wait_recording(page)
    canary = "CANARY-NEGATIVE-CONTROL-900-00-1111"
    ingest = demo.collector_url.replace("http", "ws") + "/v1/ingest"
    reply = send_on_purpose(page, ingest, "negative-control-1", canary)
    assert reply == {"type": "ack", "seq": 1}
    assert frames.leaks([canary, *CANARIES]) == {canary: 1}
    stored = export_events(demo.data_dir, demo.keyring, "negative-control-1")
    assert canary in json.dumps(stored)
