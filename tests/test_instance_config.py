"""Per-instance configuration as the collector enforces it: environments, production
opt-in, enable windows, remote rules in the handshake, and excluded routes dropped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.config import load_settings
from collector.exceptions import ConfigError
from collector.testing import RunningServer, export_events, running_collector
from tests.wsclient import (
    batch,
    custom,
    hello,
    meta,
    new_id,
    open_socket,
    receive,
    refused,
)

TODAY = datetime.now(UTC).date()
LAST_MONTH = TODAY - timedelta(days=40)
CONFIG = f"""
[[instances]]
name = "trials"
app_keys = ["k-trials-0001"]
allowed_origins = ["http://127.0.0.1:*"]
mask = ["#notes"]
block = [".photo"]
exclude_routes = ["/volunteers/**"]

[instances.environments.prod]
enabled = true
opt_in = {{ by = "j.doe", at = 2026-11-01, ticket = "CHG-0042" }}

[instances.environments.uat]
enabled = false

[instances.environments.train]
enabled = true
windows = [{{ from = {LAST_MONTH - timedelta(days=30)}, to = {LAST_MONTH} }}]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("instances")
    config = root / "phi-replay.toml"
    config.write_text(CONFIG)
    with running_collector(root / "var", "--config", config) as running:
        yield running


def stored(server: RunningServer, session_id: str) -> list[dict[str, object]]:
    return [line["event"] for line in export_events(server.data_dir, server.keyring, session_id)]


@pytest.mark.parametrize(
    ("environment", "reason"),
    [
        ("uat", "not enabled for this environment"),
        ("staging", "not enabled for this environment"),  # not listed at all
        ("train", "outside this environment's enable windows"),
    ],
)
def test_a_disabled_environment_or_closed_window_is_refused(
    server: RunningServer, environment: str, reason: str
) -> None:
    ws = open_socket(server.ws_url)
    session_id = new_id("s-off")
    ws.send(hello(session_id, app_key="k-trials-0001", environment=environment))
    error, code, close_reason = refused(ws)
    assert (error["code"], code) == ("disabled", 4004)
    assert reason in error["reason"]
    assert reason in close_reason
    assert "s-off" not in "".join(json.dumps(s) for s in _sessions(server))


def _sessions(server: RunningServer) -> list[str]:
    from collector.testing import cli

    out = cli("sessions", "--json", "--data-dir", server.data_dir, "--keyring", server.keyring)
    return [json.loads(line)["session_id"] for line in out.stdout.splitlines() if line]


def test_welcome_carries_the_remote_rules(server: RunningServer) -> None:
    ws = open_socket(server.ws_url)
    ws.send(hello(new_id("s-on"), app_key="k-trials-0001", environment="prod"))
    welcome = receive(ws)
    ws.close()
    assert welcome["type"] == "welcome"
    assert welcome["config"] == {
        "mask": ["#notes"],
        "block": [".photo"],
        "exclude_routes": ["/volunteers/**"],
    }


def test_events_from_an_excluded_route_are_dropped(server: RunningServer) -> None:
    ws = open_socket(server.ws_url)
    session_id = new_id("s-route")
    ws.send(hello(session_id, app_key="k-trials-0001", environment="prod"))
    assert receive(ws)["type"] == "welcome"
    volunteers = "http://127.0.0.1:5999/volunteers/:id"
    batches = [
        batch(1, meta(1000), custom(1001, where="patients")),
        batch(2, meta(2000, volunteers), custom(2001, where="VOLUNTEER-CANARY-0042")),
        batch(3, custom(3001, where="VOLUNTEER-CANARY-0043")),
        batch(
            4, custom(4001, where="VOLUNTEER-CANARY-0044"), meta(4002), custom(4003, where="back")
        ),
    ]
    for frame in batches:
        ws.send(frame)
        assert receive(ws)["type"] == "ack"
    ws.close()
    events = stored(server, session_id)
    text = json.dumps(events)
    assert "VOLUNTEER-CANARY" not in text
    assert "/volunteers" not in text
    wheres = [e["data"]["payload"].get("where") for e in events if e["type"] == 5]  # type: ignore[index]
    assert wheres == ["patients", None, None, "back"]  # batches 2 and 3: one marker each
    markers = [e for e in events if e["type"] == 5 and e["data"]["tag"] == "phi-replay.excluded"]  # type: ignore[index]
    assert len(markers) == 2


def test_production_cannot_be_enabled_without_an_opt_in(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[instances]]\nname = "trials"\n[instances.environments.prod]\nenabled = true\n'
    )
    with pytest.raises(ConfigError) as refused_config:
        load_settings(config)
    message = str(refused_config.value)
    assert "instances[0].environments" in message
    assert "opt_in" in message


def test_a_window_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[instances]]\nname = "trials"\n[instances.environments.uat]\nenabled = true\n'
        "windows = [{ from = 2026-12-01, to = 2026-11-01 }]\n"
    )
    with pytest.raises(ConfigError) as refused_config:
        load_settings(config)
    assert "instances[0].environments.uat.windows[0]" in str(refused_config.value)
