"""`/metrics` (Prometheus text), `/readyz` beside `/healthz`, and JSON log lines, against
a real collector (docs/operations.md "Metrics")."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed

from collector.logs import JsonFormatter
from collector.testing import RunningServer, free_port, running_collector, running_process
from tests.test_beacon import beacon_body, post
from tests.wsclient import (
    batch,
    custom,
    hello,
    new_id,
    open_socket,
    receive,
    refused,
    start_session,
)

CANARY_USER = "canary-metrics-user-7f3a"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def request(
    server: RunningServer, method: str, path: str, body: bytes = b"", **headers: str
) -> tuple[int, bytes]:
    """Status and body; header names with dashes go in `**{"X-Name": value}`."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


def scrape(server: RunningServer) -> tuple[Samples, str]:
    status, data = request(server, "GET", "/metrics")
    assert status == 200, data
    text = data.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, text


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_metrics_count_what_the_collector_did(collector: RunningServer) -> None:
    before, _ = scrape(collector)
    session = new_id("sess")
    frames = [hello(session, user=CANARY_USER), batch(1), batch(2), batch(3)]
    invalid = json.dumps({"type": "batch", "seq": 4, "events": [{"type": 99}]})
    ws = open_socket(collector.ws_url)
    try:
        ws.send(frames[0])
        assert receive(ws)["type"] == "welcome"
        for seq, frame in enumerate(frames[1:], start=1):
            ws.send(frame)
            assert receive(ws) == {"type": "ack", "seq": seq}
        during, _ = scrape(collector)
        ws.send(invalid)
        assert refused(ws)[0]["code"] == "invalid_batch"
    finally:
        ws.close()
    tail = beacon_body(new_id("sess"), batch(1))  # a page of its own (the user is bound)
    assert post(collector, tail) == (204, None)
    assert post(collector, beacon_body(new_id("sess"), batch(1), app_key="nope"))[0] == 401
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    login = b"username=canary-metrics-login&password=wrong"
    assert request(collector, "POST", "/login", login, **form)[0] == 401  # audited
    assert request(collector, "POST", "/login", b"x" * 20000)[0] == 413
    after, text = scrape(collector)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(during, "phi_replay_open_connections", kind="websocket") >= 1
    assert delta("phi_replay_sessions_total", via="socket") == 1
    assert delta("phi_replay_sessions_total", via="beacon") == 1
    assert delta("phi_replay_batches_received_total") == 4
    sent = sum(len(f) for f in frames) + len(invalid)
    assert delta("phi_replay_received_bytes_total", via="socket") == sent
    assert delta("phi_replay_received_bytes_total", via="beacon") >= len(tail)
    assert delta("phi_replay_acks_total") == 3
    assert delta("phi_replay_refusals_total", code="invalid_batch") == 1
    assert delta("phi_replay_refusals_total", code="unauthorised") == 1
    assert delta("phi_replay_refusals_total", code="too_large") == 1
    commits = delta("phi_replay_group_commit_batches_count")
    assert 2 <= commits <= 4  # the socket's 3 batches, then the beacon's
    assert delta("phi_replay_group_commit_batches_sum") == 4
    assert delta("phi_replay_fsync_seconds_count") == commits
    assert value(after, "phi_replay_store_errors_total") == 0
    assert value(after, "phi_replay_disk_free_bytes") > 0
    assert delta("phi_replay_audit_appends_total") >= 1
    # Labels come from fixed sets: nothing a recorder sent shows up in a scrape.
    assert session not in text
    assert CANARY_USER not in text


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("proxied")
    config = root / "collector.toml"
    config.write_text('trusted_proxies = ["127.0.0.1"]\n', encoding="utf-8")
    with running_collector(root / "var", "--config", config) as server:
        yield server


def test_metrics_are_served_only_to_allowed_addresses(proxied: RunningServer) -> None:
    """Allowed by default: loopback only. A proxy on the same host must not make the
    internet loopback: the client behind it is who asks."""
    assert request(proxied, "GET", "/metrics")[0] == 200
    status, body = request(proxied, "GET", "/metrics", b"", **{"X-Forwarded-For": "203.0.113.5"})
    assert status == 403
    assert body == b"metrics are served only to the addresses in metrics_allow\n"


def test_metrics_allow_is_configurable(tmp_path: Path) -> None:
    config = tmp_path / "collector.toml"
    config.write_text('metrics_allow = ["10.0.0.0/8"]\n', encoding="utf-8")
    with running_collector(tmp_path / "var", "--config", config) as server:
        assert request(server, "GET", "/metrics")[0] == 403


def test_readyz_is_separate_from_healthz(collector: RunningServer) -> None:
    status, body = request(collector, "GET", "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 40 MiB tmpfs of its own for the data directory."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root)")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    """Write zeros to `path` until the volume is full."""
    with path.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1024 * 1024))
                out.flush()
        except OSError:
            pass


def test_readyz_says_not_ready_while_the_data_volume_is_full(small_volume: Path) -> None:
    with running_collector(small_volume / "var") as server:
        assert request(server, "GET", "/readyz")[0] == 200
        filler = small_volume / "filler"
        fill(filler)
        ws = open_socket(server.ws_url)  # a session and a batch that cannot be stored now
        ws.send(hello(new_id("sess")))
        with contextlib.suppress(ConnectionClosed):
            ws.send(batch(1, custom(1, blob="z" * 200_000)))
            assert receive(ws)["type"] == "error"
        ws.close()
        status, body = request(server, "GET", "/readyz")
        assert status == 503
        reply = json.loads(body)
        assert reply["status"] == "not ready"
        assert str(small_volume / "var") in reply["reason"]  # names the volume's directory
        assert request(server, "GET", "/healthz")[0] == 200  # alive, just not ready
        filler.unlink()
        assert request(server, "GET", "/readyz")[0] == 200  # ready again by itself


@pytest.mark.parametrize("how", ["config", "flag"])
def test_logs_as_json_lines_carry_events_not_contents(tmp_path: Path, how: str) -> None:
    data_dir, port = tmp_path / "var", free_port()
    log = tmp_path / "collector.log"
    argv: list[str | Path] = [sys.executable, "-m", "collector"]
    if how == "flag":
        argv += ["--log-format", "json", "serve"]
    else:
        config = tmp_path / "collector.toml"
        config.write_text('log_format = "json"\n', encoding="utf-8")
        argv += ["serve", "--config", config]
    argv += ["--dev", "--port", str(port), "--data-dir", data_dir]
    with running_process(argv, f"http://127.0.0.1:{port}/healthz", log):
        ws, seq = start_session(f"ws://127.0.0.1:{port}/v1/ingest", new_id("sess"))
        ws.send(batch(seq))
        assert receive(ws)["type"] == "ack"
        ws.close()
    lines = log.read_text().splitlines()
    text_line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
    assert not [line for line in lines if text_line.match(line)], "a text log line in JSON mode"
    events = [json.loads(line) for line in lines if line.startswith("{")]
    opened = [e for e in events if e["message"].startswith("ingest session=")]
    assert len(opened) == 1, lines
    assert set(opened[0]) == {"time", "level", "logger", "message"}
    assert (opened[0]["level"], opened[0]["logger"]) == ("INFO", "phi_replay.ingest")


def test_a_json_log_line_keeps_an_exceptions_type_not_its_text() -> None:
    """An exception's text may quote what it was handed; its type and stack are enough."""
    try:
        raise ValueError(f"could not parse {CANARY_USER}")
    except ValueError:
        record = logging.LogRecord(
            "phi_replay.test", logging.ERROR, __file__, 1, "store failed", None, sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "store failed"
    assert line["exception"] == "ValueError"
    assert "test_a_json_log_line_keeps" in line["stack"]
    assert CANARY_USER not in json.dumps(line)
