"""`POST /v1/beacon`: a page's tail on hide, with the socket's checks, dedupe and durability."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from collector.testing import RunningServer, export_events
from tests.wsclient import ALLOWED_ORIGIN, batch, custom, new_id, receive, start_session


def beacon_body(session_id: str, *batches: str, app_key: str = "dev") -> bytes:
    hello = {
        "v": 1,
        "app_key": app_key,
        "session_id": session_id,
        "tab_id": "tab-beacon01",
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
        body = beacon_body(session, batch(1, custom(1, blob="x" * (5 * 1024 * 1024))))
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
