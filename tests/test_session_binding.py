"""A session belongs to the user, tab and page that write it (docs/protocol.md, "Sessions").

Anyone holding the public app key and a session id (ids show in logs and console URLs)
must not be able to append to that session under its user's name, nor stop its real
recorder from writing; two pages holding one session (a duplicated tab) must not
interleave their events in it.
"""

from __future__ import annotations

import json
from typing import Any

from websockets.sync.client import ClientConnection

from collector.protocol import MAX_SEQ_AHEAD
from collector.testing import RunningServer, cli, export_events
from tests.test_beacon import beacon_body, post
from tests.wsclient import batch, custom, hello, new_id, open_socket, receive, refused


def _start(server: RunningServer, session: str, **fields: str) -> tuple[ClientConnection, Any]:
    ws = open_socket(server.ws_url)
    ws.send(hello(session, **fields))
    return ws, receive(ws)


def test_a_resume_as_another_user_or_tab_is_refused_and_appends_nothing(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    ws, welcome = _start(collector, session)
    assert welcome["type"] == "welcome"
    ws.send(batch(1, custom(1000, note="real")))
    assert receive(ws) == {"type": "ack", "seq": 1}
    ws.close()

    for fields, named in (({"user": "mallory.test"}, "user"), ({"tab_id": "tab-forged01"}, "tab")):
        ws = open_socket(collector.ws_url)
        ws.send(hello(session, **fields))
        error, close_code, reason = refused(ws)
        assert (error["code"], close_code) == ("session_mismatch", 4009)
        assert f"another {named}" in reason
        assert "mallory" not in reason
        assert "forged" not in reason

    forged = json.loads(beacon_body(session, batch(2, custom(2000, note="forged"))))
    forged["hello"]["user"] = "mallory.test"
    status, answer = post(collector, json.dumps(forged).encode())
    assert (status, answer["code"]) == (409, "session_mismatch")

    stored = export_events(collector.data_dir, collector.keyring, session)
    assert [e["event"]["data"]["payload"]["note"] for e in stored] == ["real"]
    listed = [s for s in _sessions(collector) if s["session_id"] == session]
    assert [s["user"] for s in listed] == ["test.user"]


def _sessions(server: RunningServer) -> list[dict[str, Any]]:
    args = ("--data-dir", server.data_dir, "--keyring", server.keyring, "--json")
    out = cli("sessions", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_a_seq_far_ahead_is_refused_and_the_recorder_keeps_writing(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    ws, _ = _start(collector, session)
    ws.send(batch(1))
    assert receive(ws) == {"type": "ack", "seq": 1}
    ws.send(batch(2**53, custom(5)))
    error, close_code, reason = refused(ws)
    assert (error["code"], error["seq"], close_code) == ("seq_out_of_range", 2**53, 1008)
    assert str(MAX_SEQ_AHEAD) in reason

    status, answer = post(collector, beacon_body(session, batch(2**52, custom(5))))
    assert (status, answer["code"], answer["seq"]) == (400, "seq_out_of_range", 2**52)

    ws, welcome = _start(collector, session)
    assert welcome["next_seq"] == 2, "the refused seqs did not move next_seq"
    ws.send(batch(2 + MAX_SEQ_AHEAD, custom(6)))  # the farthest allowed
    assert receive(ws) == {"type": "ack", "seq": 2 + MAX_SEQ_AHEAD}
    ws.send(batch(2))  # a gap is not an error
    assert receive(ws) == {"type": "ack", "seq": 2}
    ws.close()
    seqs = [e["seq"] for e in export_events(collector.data_dir, collector.keyring, session)]
    assert seqs == [1, 2, 2 + MAX_SEQ_AHEAD]


def test_a_second_page_is_refused_while_the_first_still_records_the_session(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    first, _ = _start(collector, session, page_id="page-first001")
    second = open_socket(collector.ws_url)
    second.send(hello(session, page_id="page-second01"))  # a duplicated tab: same storage
    error, close_code, reason = refused(second)
    assert (error["code"], close_code) == ("session_in_use", 4009)
    assert "new session" in reason
    first.send(batch(1))
    assert receive(first) == {"type": "ack", "seq": 1}
    first.close()


def test_the_same_page_reconnecting_takes_over_and_a_reload_follows_the_closed_page(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    lost, _ = _start(collector, session, page_id="page-same0001")  # the network lost it
    again, welcome = _start(collector, session, page_id="page-same0001")
    assert welcome["type"] == "welcome", "the same page takes over while its old socket lingers"
    again.send(batch(1))
    assert receive(again) == {"type": "ack", "seq": 1}
    legacy, welcome = _start(collector, session)  # no page_id: a recorder from before it
    assert welcome["type"] == "welcome", "an older recorder is not locked out"
    legacy.close()
    again.close()
    lost.close()

    reloaded, welcome = _start(collector, session, page_id="page-reload01")
    assert welcome == {"type": "welcome", "session_id": session, "next_seq": 2}
    reloaded.close()
