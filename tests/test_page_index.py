"""Page paths as the collector keeps and shows them: templated by the collector itself
(collector/paths.py), with its own instance's routes, whatever the recorder sent. The
session index, `phi-replay sessions`, `export` and the console never hold a path as it
arrived, and excluded routes still match the path as it arrived."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from collector.control import Control, User
from collector.crypto import hash_password
from collector.ingest import OFFLOAD_AT, worker_count
from collector.testing import RunningServer, cli, export_events, running_collector
from tests.test_beacon import beacon_body, post
from tests.test_ingest import _wait_for_workers
from tests.wsclient import batch, custom, hello, meta, new_id, open_socket, receive

# A script marks its console requests as the console's own (collector/console/csrf.py).
SCRIPT = {"X-Phi-Console": "1"}

CANARY = "CANARY-JANE-ROE"
PAGE = "http://127.0.0.1:5999"
TRIALS_KEY = "k-trials-0001"
CONFIG = """
[[instances]]
name = "trials"
app_keys = ["k-trials-0001"]
allowed_origins = ["http://127.0.0.1:*"]
routes = ["/wards/:ward/beds", "/studies/:study/arms/:arm", "/studies/:study/consent"]
exclude_routes = ["/volunteer-portal/**", "/studies/:id/consent"]
"""
SUPPORT_PASSWORD = "correct-horse-battery-0042"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A collector with the --dev instance (the sample app's routes) and `trials`."""
    root = tmp_path_factory.mktemp("pages")
    config = root / "phi-replay.toml"
    config.write_text(CONFIG)
    with running_collector(root / "var", "--config", config) as running:
        yield running


def record(server: RunningServer, *frames: str, app_key: str = "dev") -> str:
    """A new session that sends `frames` (each acked); its id."""
    session = new_id("s-page")
    ws = open_socket(server.ws_url)
    ws.send(hello(session, app_key=app_key))
    assert receive(ws)["type"] == "welcome"
    for frame in frames:
        ws.send(frame)
        assert receive(ws)["type"] == "ack"
    ws.close()
    return session


def sessions_json(server: RunningServer) -> dict[str, dict[str, Any]]:
    out = cli("sessions", "--json", "--data-dir", server.data_dir, "--keyring", server.keyring)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {row["session_id"]: row for row in rows}


def pages(server: RunningServer, session: str) -> list[str]:
    return list(sessions_json(server)[session]["pages"])


def clear_files(data_dir: Path) -> dict[str, bytes]:
    """Every file the collector wrote, by name: the index and its WAL, the segments."""
    return {
        str(p.relative_to(data_dir)): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()
    }


def test_a_page_path_is_indexed_as_the_collector_templates_it(server: RunningServer) -> None:
    href = f"{PAGE}/patients/{CANARY}/visits?x=1"
    session = record(server, batch(1, meta(1000, href), custom(1001, note="hello")))

    assert pages(server, session) == ["/patients/:id/visits"]
    table = cli("sessions", "--data-dir", server.data_dir, "--keyring", server.keyring).stdout
    row = next(line for line in table.splitlines() if line.startswith(session))
    assert row.endswith("/patients/:id/visits")
    assert CANARY not in table
    index = {name: data for name, data in clear_files(server.data_dir).items() if "sqlite" in name}
    assert "index.sqlite3" in index
    assert [name for name, data in index.items() if CANARY.encode() in data] == []
    # Nor anywhere else in the data directory (segments are sealed), nor in the log.
    assert [n for n, data in clear_files(server.data_dir).items() if CANARY.encode() in data] == []
    assert CANARY not in server.log.read_text(errors="replace")


def test_export_shows_the_page_url_templated_by_the_collector(server: RunningServer) -> None:
    href = f"https://user:{CANARY}@127.0.0.1:5999/patients/{CANARY}/visits?ssn={CANARY}#x"
    session = record(server, batch(1, meta(1000, href)))
    stored = export_events(server.data_dir, server.keyring, session)
    assert [e["event"]["data"]["href"] for e in stored] == [
        "https://127.0.0.1:5999/patients/:id/visits"
    ]
    assert CANARY not in json.dumps(stored)


def test_declared_routes_of_the_instance_keep_their_literals(server: RunningServer) -> None:
    frames = (
        batch(1, meta(1000, f"{PAGE}/wards/{CANARY}/beds")),
        batch(2, meta(2000, f"{PAGE}/studies/PRX-7/arms/{CANARY}")),
    )
    trials = record(server, *frames, app_key=TRIALS_KEY)
    dev = record(server, *frames)  # the same pages, by an instance without those routes
    assert pages(server, trials) == ["/studies/:id/arms/:id", "/wards/:id/beds"]
    assert pages(server, dev) == ["/:id/:id/:id", "/studies/:id/:id/:id"]


def test_the_welcome_never_carries_the_instances_routes(server: RunningServer) -> None:
    ws = open_socket(server.ws_url)
    ws.send(hello(new_id("s-page"), app_key=TRIALS_KEY))
    welcome = receive(ws)
    ws.close()
    assert welcome["config"] == {"exclude_routes": ["/volunteer-portal/**", "/studies/:id/consent"]}


def test_exclusion_matches_the_path_as_it_arrived_and_as_templated(server: RunningServer) -> None:
    session = record(
        server,
        # "volunteer-portal" is no vocabulary word and no declared literal: only the path
        # as it arrived can match its glob.
        batch(1, meta(1000, f"{PAGE}/volunteer-portal/{CANARY}"), custom(1001, where=CANARY)),
        # "/studies/:id/consent" matches only the templated path.
        batch(2, meta(2000, f"{PAGE}/studies/{CANARY}/consent"), custom(2001, where=CANARY)),
        batch(3, meta(3000, f"{PAGE}/wards/w1/beds"), custom(3001, where="back")),
        app_key=TRIALS_KEY,
    )
    events = [row["event"] for row in export_events(server.data_dir, server.keyring, session)]
    assert CANARY not in json.dumps(events)
    tags = [e["data"]["tag"] for e in events if e["type"] == 5]
    assert tags == ["phi-replay.excluded", "phi-replay.excluded", "test"]
    assert pages(server, session) == ["/wards/:id/beds"]  # excluded pages are not indexed


def test_a_href_that_is_no_url_is_stored_but_names_no_page(server: RunningServer) -> None:
    session = record(server, batch(1, meta(1000, f"http://[{CANARY}/x"), custom(1001)))
    assert pages(server, session) == []
    assert " ERROR " not in server.log.read_text(errors="replace")
    stored = export_events(server.data_dir, server.keyring, session)
    assert stored[0]["event"]["data"]["href"] == ""


def test_a_very_long_path_is_indexed_templated_and_bounded(server: RunningServer) -> None:
    href = PAGE + "/patients" + f"/{CANARY}" * 120  # within the 2,048 characters of a href
    session = record(server, batch(1, meta(1000, href)))
    (page,) = pages(server, session)
    assert page == ("/patients" + "/:id" * 120)[:300]


def test_a_beacons_pages_are_templated_too(server: RunningServer) -> None:
    session = new_id("s-page")
    body = beacon_body(session, batch(1, meta(1000, f"{PAGE}/patients/{CANARY}/visits")))
    status, _ = post(server, body)
    assert status == 204
    assert pages(server, session) == ["/patients/:id/visits"]


@pytest.mark.skipif(worker_count() < 1, reason="one core, or no prctl: no validation workers")
def test_a_large_frame_validated_by_a_worker_is_templated_too(server: RunningServer) -> None:
    _wait_for_workers(server)
    frame = batch(1, meta(1000, f"{PAGE}/patients/{CANARY}"), custom(1001, note="x" * OFFLOAD_AT))
    assert len(frame) >= OFFLOAD_AT
    session = record(server, frame)
    assert pages(server, session) == ["/patients/:id"]


def test_the_console_shows_only_templated_paths(server: RunningServer) -> None:
    session = record(server, batch(1, meta(1000, f"{PAGE}/patients/{CANARY}/visits?x=1")))
    with Control.open(server.data_dir) as control:
        if control.get_user("page.support") is None:
            control.add_user(User("page.support", "support", None, hash_password(SUPPORT_PASSWORD)))
    with httpx.Client(base_url=server.http_url, follow_redirects=True, headers=SCRIPT) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        listed = client.post(
            "/login",
            data={"csrf": csrf.group(1), "username": "page.support", "password": SUPPORT_PASSWORD},
        )
        assert listed.status_code == 200
        assert 'data-role="sessions"' in listed.text
        assert "<code>/patients/:id/visits</code>" in listed.text
        replay = client.get(f"/console/api/sessions/{session}/events")
        assert replay.status_code == 200
        (meta_event,) = [e for e in replay.json()["events"] if e["type"] == 4]
        assert meta_event["data"]["href"] == f"{PAGE}/patients/:id/visits"
        download = client.get(f"/console/sessions/{session}/export")
        assert download.status_code == 200
        for response in (listed, replay, download):
            assert CANARY not in response.text
