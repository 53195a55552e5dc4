"""`POST /v1/beacon`: a page's tail on hide, with the socket's checks, dedupe and durability."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from collector import ingest as ingest_module
from collector.config import Settings
from collector.crypto import Keyring
from collector.embedded import EmbeddedStore
from collector.ingest import OFFLOAD_AT, CheckedBeacon, Ingest, start_workers, worker_count
from collector.instances import InstanceRegistry
from collector.testing import RunningServer, export_events, running_collector
from tests.wsclient import (
    ALLOWED_ORIGIN,
    batch,
    custom,
    new_id,
    receive,
    start_session,
    tab_of,
)


def beacon_body(session_id: str, *batches: str, app_key: str = "dev") -> bytes:
    hello = {
        "v": 1,
        "app_key": app_key,
        "session_id": session_id,
        "tab_id": tab_of(session_id),
        "user": "test.user",
        "environment": "dev",
    }
    return json.dumps({"hello": hello, "batches": [json.loads(b) for b in batches]}).encode()


def post(server: RunningServer, body: bytes, origin: str = ALLOWED_ORIGIN) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.http_url + "/v1/beacon",
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": origin},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_beacon_tail_is_stored_once_even_when_the_socket_resends_it(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    ws, _ = start_session(collector.ws_url, session)
    ws.send(batch(1))
    assert receive(ws)["type"] == "ack"
    ws.close()
    status, _ = post(collector, beacon_body(session, batch(2, custom(2)), batch(3, custom(3))))
    assert status == 204
    ws, next_seq = start_session(collector.ws_url, session)
    assert next_seq == 4, "the beacon's batches are durable before it answers"
    ws.send(batch(3, custom(3)))  # the page survived and the socket resends
    assert receive(ws) == {"type": "ack", "seq": 3}
    ws.close()
    seqs = [e["seq"] for e in export_events(collector.data_dir, collector.keyring, session)]
    assert seqs == [1, 2, 3]


@pytest.mark.parametrize(
    ("body", "origin", "status", "code"),
    [
        (b"{not json", ALLOWED_ORIGIN, 400, "malformed_json"),
        (b'{"hello": {}}', ALLOWED_ORIGIN, 400, "protocol"),
        (None, "https://attacker.example", 403, "origin_not_allowed"),
        ("bad-key", ALLOWED_ORIGIN, 401, "unauthorised"),
        ("invalid", ALLOWED_ORIGIN, 400, "invalid_batch"),
        ("huge", ALLOWED_ORIGIN, 413, "too_large"),
        ("deep", ALLOWED_ORIGIN, 400, "malformed_json"),
        ("bad-key-and-invalid", ALLOWED_ORIGIN, 401, "unauthorised"),
    ],
)
def test_a_refused_beacon_says_why_and_stores_nothing(
    collector: RunningServer, body: bytes | str | None, origin: str, status: int, code: str
) -> None:
    session = new_id("sess")
    good = batch(1, custom(1))
    if body is None:
        body = beacon_body(session, good)
    elif body == "bad-key":
        body = beacon_body(session, good, app_key="nope")
    elif body == "invalid":
        bad = json.dumps({"type": "batch", "seq": 2, "events": [{"type": 99}]})
        body = beacon_body(session, good, bad)
    elif body == "huge":
        body = beacon_body(session, batch(1, custom(1, blob="x" * (100 * 1024))))  # > 64 KiB
    elif body == "deep":
        body = b'{"hello": ' + b"[" * 30_000 + b"]" * 30_000 + b', "batches": []}'
    elif body == "bad-key-and-invalid":  # the key is checked first, as before validation
        bad = json.dumps({"type": "batch", "seq": 2, "events": [{"type": 99}]})
        body = beacon_body(session, bad, app_key="nope")
    assert isinstance(body, bytes)
    got_status, reply = post(collector, body, origin)
    assert (got_status, reply["code"]) == (status, code)
    assert reply["reason"]
    listed = [
        s
        for s in export_events(collector.data_dir, collector.keyring)
        if s["session_id"] == session
    ]
    assert listed == [], "nothing of a refused beacon is stored"


def test_a_deeply_nested_beacon_logs_no_error(collector: RunningServer) -> None:
    hello = json.loads(beacon_body(new_id("sess"), batch(1)))["hello"]
    nested = "[" * 30_000 + "]" * 30_000  # within the beacon limit (64 KiB)
    deep = f'{{"hello": {json.dumps(hello)}, "batches": [{nested}]}}'
    status, reply = post(collector, deep.encode())
    assert (status, reply["code"]) == (400, "malformed_json")
    assert "nested too deeply" in reply["reason"]
    assert "beacon failed" not in collector.log.read_text(errors="replace")


def test_beacons_over_the_per_address_rate_are_refused_and_store_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text("beacons_per_second = 0.01\nbeacon_burst = 3\n")
    with running_collector(tmp_path / "var", "--config", config) as server:
        sessions = [new_id("sess") for _ in range(4)]
        answers = [post(server, beacon_body(s, batch(1, custom(1))))[0] for s in sessions[:3]]
        assert answers == [204, 204, 204]
        status, reply = post(server, beacon_body(sessions[3], batch(1, custom(1))))
        assert (status, reply["code"]) == (429, "rate_limited")
        assert "beacons per second from this address" in reply["reason"]
        stored = {e["session_id"] for e in export_events(server.data_dir, server.keyring)}
        assert stored == set(sessions[:3])


@pytest.mark.skipif(worker_count() < 1, reason="one core, or no prctl: no validation workers")
@pytest.mark.anyio
async def test_a_large_beacon_is_validated_in_a_worker_not_on_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = start_workers(1)
    assert workers is not None
    settings = Settings(data_dir=tmp_path / "var", dev=True).with_dev_instance()
    store = EmbeddedStore(settings.data_dir)
    keyring = Keyring.load_or_create(settings.keyring_path)
    ingest = Ingest(settings, store, keyring, InstanceRegistry(store.control, settings), workers)
    try:
        session = new_id("sess")
        big = beacon_body(session, batch(1, custom(1, note="y" * OFFLOAD_AT)))
        bad = beacon_body(session, json.dumps({"type": "batch", "seq": 2, "events": [{}]}))

        def on_the_loop(body: bytes) -> CheckedBeacon:
            raise AssertionError("a large beacon was validated on the event loop")

        monkeypatch.setattr(ingest_module, "check_beacon", on_the_loop)  # the workers forked
        checked = await ingest._check_beacon(big)
        assert [c.seq for c in checked.batches] == [1]
        refused = await ingest._check_beacon(bad + b" " * OFFLOAD_AT)
        assert refused.refused is not None
        assert refused.refused[0] == "invalid_batch"
    finally:
        ingest.stop_workers()
        await store.aclose()
