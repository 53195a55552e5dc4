"""The ingest WebSocket as a recorder (or a misbehaving client) sees it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from collector.ingest import OFFLOAD_AT, worker_count
from collector.testing import RunningServer, export_events, running_collector
from tests.wsclient import (
    ALLOWED_ORIGIN,
    batch,
    custom,
    hello,
    meta,
    new_id,
    open_socket,
    receive,
    refused,
    start_session,
)


def test_batches_are_acked_stored_once_and_resumed(collector: RunningServer) -> None:
    session = new_id("sess")
    ws, next_seq = start_session(collector.ws_url, session)
    assert next_seq == 1
    for seq in (1, 2):
        ws.send(batch(seq, meta(1000 * seq), custom(1000 * seq + 1, note="hello")))
        assert receive(ws) == {"type": "ack", "seq": seq}
    ws.send(batch(2, meta(99)))  # a resend after a lost ack
    assert receive(ws) == {"type": "ack", "seq": 2}
    ws.close()

    ws, next_seq = start_session(collector.ws_url, session)
    assert next_seq == 3, "a reconnecting recorder resumes after the last durable batch"
    ws.close()

    stored = export_events(collector.data_dir, collector.keyring, session)
    assert [(e["seq"], e["event"]["timestamp"]) for e in stored] == [
        (1, 1000),
        (1, 1001),
        (2, 2000),
        (2, 2001),
    ]


@pytest.mark.parametrize(
    ("frame", "code", "close_code", "reason_part"),
    [
        ("{not json", "malformed_json", 1007, "malformed JSON"),
        ("[1, 2]", "malformed_json", 1007, "expected a JSON object"),
        ('{"type": "telemetry"}', "unknown_type", 1008, "expected message type hello or batch"),
        ('{"seq": 1}', "unknown_type", 1008, "got no type"),
    ],
)
def test_bad_frames_get_an_error_then_a_close_with_a_reason(
    collector: RunningServer, frame: str, code: str, close_code: int, reason_part: str
) -> None:
    bystander, _ = start_session(collector.ws_url, new_id("sess"))
    ws, _ = start_session(collector.ws_url, new_id("sess"))
    ws.send(frame)
    error, got_close, reason = refused(ws)
    assert error["type"] == "error"
    assert error["code"] == code
    assert reason_part in error["reason"]
    assert got_close == close_code
    assert reason == error["reason"]
    # The collector keeps serving other sessions.
    bystander.send(batch(1))
    assert receive(bystander) == {"type": "ack", "seq": 1}
    bystander.close()


def test_a_wrong_app_key_is_unauthorised(collector: RunningServer) -> None:
    ws = open_socket(collector.ws_url)
    ws.send(hello(new_id("sess"), app_key="not-a-key"))
    error, close_code, reason = refused(ws)
    assert error["code"] == "unauthorised"
    assert close_code == 4001
    assert "app key" in reason
    assert "not-a-key" not in reason


def test_an_origin_outside_every_allow_list_is_told_so_and_nothing_is_read(
    collector: RunningServer,
) -> None:
    # Accepted only to say why: refused before accept, a browser shows nothing but 1006.
    ws = open_socket(collector.ws_url, origin="https://attacker.example")
    error, close_code, reason = refused(ws)
    assert (error["code"], close_code) == ("origin_not_allowed", 4003)
    assert "https://attacker.example is not allowed for any instance" in error["reason"]
    assert reason.startswith("origin https://attacker.example")


def test_an_invalid_batch_is_refused_with_its_seq_and_the_session_continues(
    collector: RunningServer,
) -> None:
    session = new_id("sess")
    ws, _ = start_session(collector.ws_url, session)
    ws.send(batch(1))
    assert receive(ws)["type"] == "ack"
    bad = {"type": 3, "data": {"source": 0, "texts": "CANARY-SSN-900-00-0007"}, "timestamp": 5}
    ws.send(batch(2, bad))
    error, close_code, _ = refused(ws)
    assert (error["code"], error["seq"], close_code) == ("invalid_batch", 2, 1008)
    assert "events.0" in error["reason"]
    assert "CANARY" not in error["reason"]

    ws, next_seq = start_session(collector.ws_url, session)
    assert next_seq == 2
    ws.send(batch(3))
    assert receive(ws) == {"type": "ack", "seq": 3}
    ws.close()
    seqs = [e["seq"] for e in export_events(collector.data_dir, collector.keyring, session)]
    assert seqs == [1, 3]


def test_refusal_reasons_never_echo_field_names_sent_by_the_page(
    collector: RunningServer,
) -> None:
    ws, _ = start_session(collector.ws_url, new_id("sess"))
    event = meta(1)
    event["data"]["CANARY-NAME-Ada"] = 1
    ws.send(batch(1, event))
    error, _, reason = refused(ws)
    assert error["code"] == "invalid_batch"
    assert "CANARY" not in error["reason"]
    assert "CANARY" not in reason


@pytest.mark.parametrize("megabytes", [5, 9, 40])
def test_every_frame_over_the_size_limit_is_refused_as_too_large_naming_its_seq(
    collector: RunningServer, megabytes: int
) -> None:
    """Whatever its size: hypercorn's own limit once answered a bare 1009, which left the
    recorder resending the frame forever."""
    bystander, _ = start_session(collector.ws_url, new_id("sess"))
    session = new_id("sess")
    ws, _ = start_session(collector.ws_url, session)
    ws.send(batch(1))
    assert receive(ws) == {"type": "ack", "seq": 1}
    ws.send(batch(2, custom(1, blob="CANARY-BLOB-" + "x" * (megabytes << 20))))
    error, close_code, reason = refused(ws)
    assert (error["code"], error["seq"], close_code) == ("too_large", 2, 1009)
    assert "over the limit of 4194304" in reason
    assert "CANARY" not in reason
    bystander.send(batch(1))
    assert receive(bystander) == {"type": "ack", "seq": 1}
    bystander.close()
    ws, next_seq = start_session(collector.ws_url, session)
    assert next_seq == 2
    ws.close()


def _peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def test_an_oversize_frame_is_not_held_in_memory_even_when_it_inflates(tmp_path: Path) -> None:
    """64 KiB of permessage-deflate inflate to ~64 MiB: the collector must neither keep an
    oversize frame nor inflate it whole. Peak RSS, not timing: what an operator sees."""
    with running_collector(tmp_path / "var") as server:
        before = _peak_rss_kib(server.proc.pid)
        for compression in ("deflate", None):
            session = new_id("sess")
            with connect(
                server.ws_url, origin=Origin(ALLOWED_ORIGIN), compression=compression, max_size=None
            ) as ws:
                ws.send(hello(session))
                assert receive(ws)["type"] == "welcome"
                ws.send(batch(1, custom(1, blob="x" * (100 << 20))))
                error, close_code, _ = refused(ws)
                assert (error["code"], error["seq"], close_code) == ("too_large", 1, 1009)
        grown_mib = (_peak_rss_kib(server.proc.pid) - before) / 1024
        assert grown_mib < 48, f"peak RSS grew by {grown_mib:.0f} MiB for 100 MiB frames"


def test_compressed_frames_just_under_the_limit_arrive_whole(collector: RunningServer) -> None:
    """The bound on inflating counts characters, as the limit does: 4 MiB of two-byte
    characters (8 MiB of UTF-8) is within it, and the stream goes on for the next frame."""
    session = new_id("sess")
    ws, _ = start_session(collector.ws_url, session)  # the client offers permessage-deflate
    assert ws.protocol.extensions, "the frames go compressed"
    notes = {f"n{i}": "é" * 1_000_000 for i in range(4)} | {"last": "CANARY-Ü" + "ü" * 190_000}
    frame = json.dumps(
        {"type": "batch", "seq": 1, "events": [custom(1, **notes)]}, ensure_ascii=False
    )
    assert 4 << 20 > len(frame) > (4 << 20) - 10_000
    ws.send(frame)
    assert receive(ws) == {"type": "ack", "seq": 1}
    ws.send(batch(2, custom(2, note="after")))
    assert receive(ws) == {"type": "ack", "seq": 2}
    ws.close()
    stored = export_events(collector.data_dir, collector.keyring, session)
    assert stored[0]["event"]["data"]["payload"] == notes
    assert stored[1]["event"]["data"]["payload"] == {"note": "after"}


@pytest.mark.parametrize("send", ["hello", "batch"])
def test_deeply_nested_json_is_malformed_not_an_internal_error(
    collector: RunningServer, send: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    ws = open_socket(collector.ws_url)
    if send == "hello":
        ws.send('{"type":"hello","v":1,"app_key":' + deep + "}")
    else:
        ws.send(hello(new_id("sess")))
        assert receive(ws)["type"] == "welcome"
        ws.send('{"type":"batch","seq":1,"events":' + deep + "}")
    error, close_code, reason = refused(ws)
    assert (error["code"], close_code) == ("malformed_json", 1007)
    assert "nested too deeply" in reason
    log = collector.log.read_text(errors="replace")
    assert "RecursionError" not in log
    assert "ingest failed" not in log


def test_batches_must_follow_a_hello(collector: RunningServer) -> None:
    ws = open_socket(collector.ws_url)
    ws.send(batch(1))
    error, close_code, reason = refused(ws)
    assert (error["code"], close_code) == ("protocol", 1008)
    assert "hello" in reason


def _wait_for_workers(collector: RunningServer) -> None:
    deadline = time.monotonic() + 20
    while "validation worker" not in collector.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the validation workers did not start"
        time.sleep(0.05)


@pytest.mark.skipif(worker_count() < 1, reason="one core, or no prctl: no validation workers")
def test_large_frames_validated_by_a_worker_are_stored_or_refused_alike(
    collector: RunningServer,
) -> None:
    _wait_for_workers(collector)
    session = new_id("sess")
    ws, _ = start_session(collector.ws_url, session)
    big = "x" * OFFLOAD_AT
    ws.send(batch(1, meta(1000), custom(1001, note=big)))
    assert receive(ws) == {"type": "ack", "seq": 1}
    bad = {"type": 3, "data": {"source": 0, "texts": "CANARY-SSN-900-00-0008"}, "timestamp": 5}
    ws.send(batch(2, custom(1002, note=big), bad))
    error, close_code, _ = refused(ws)
    assert (error["code"], error["seq"], close_code) == ("invalid_batch", 2, 1008)
    assert "events.1" in error["reason"]
    assert "CANARY" not in error["reason"]

    stored = export_events(collector.data_dir, collector.keyring, session)
    assert [(e["seq"], e["event"]["timestamp"]) for e in stored] == [(1, 1000), (1, 1001)]
    assert stored[1]["event"]["data"]["payload"]["note"] == big
