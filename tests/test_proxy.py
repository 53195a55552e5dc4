"""Behind a TLS-terminating proxy (docs/operations.md "Behind a proxy"): X-Forwarded-Proto
and X-Forwarded-For count only from `trusted_proxies`, against a real collector."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.control import AuditQuery, Control
from collector.testing import RunningServer, running_collector


def collector_with(root: Path, config: str) -> Iterator[RunningServer]:
    path = root / "collector.toml"
    path.write_text(config, encoding="utf-8")
    with running_collector(root / "var", "--config", path) as server:
        yield server


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The proxy is this machine: the test's requests come from a trusted proxy."""
    yield from collector_with(
        tmp_path_factory.mktemp("proxied"),
        'trusted_proxies = ["127.0.0.1"]\nmax_connections_per_address = 3\n',
    )


@pytest.fixture(scope="module")
def untrusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A proxy is configured, but elsewhere: the test's requests come from anyone."""
    yield from collector_with(
        tmp_path_factory.mktemp("direct"),
        'trusted_proxies = ["10.0.0.0/8"]\nmax_connections_per_address = 3\n',
    )


def get(server: RunningServer, path: str, **headers: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def login_cookie(response: http.client.HTTPResponse) -> str:
    cookies = [c for c in response.headers.get_all("set-cookie") or [] if "phi_login_csrf" in c]
    assert len(cookies) == 1, cookies
    return cookies[0]


def test_https_at_a_trusted_proxy_makes_cookies_secure_and_sends_hsts(
    behind_proxy: RunningServer,
) -> None:
    response = get(behind_proxy, "/login", **{"X-Forwarded-Proto": "https"})
    assert response.status == 200
    assert "Secure" in login_cookie(response)
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_plain_http_at_the_proxy_is_not_upgraded(behind_proxy: RunningServer) -> None:
    for headers in ({}, {"X-Forwarded-Proto": "http"}):
        response = get(behind_proxy, "/login", **headers)
        assert "Secure" not in login_cookie(response)
        assert "Strict-Transport-Security" not in response.headers


def test_forwarded_headers_from_anyone_else_are_ignored(untrusting: RunningServer) -> None:
    response = get(untrusting, "/login", **{"X-Forwarded-Proto": "https"})
    assert "Secure" not in login_cookie(response)
    assert "Strict-Transport-Security" not in response.headers


def failed_login_source(server: RunningServer, username: str, forwarded_for: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    body = f"username={username}&password=wrong"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Forwarded-For": forwarded_for,
    }
    conn.request("POST", "/login", body=body, headers=headers)
    assert conn.getresponse().status == 401
    conn.close()
    control = Control.open(server.data_dir)
    try:
        records, _ = control.audit_records(AuditQuery(action="login", target=username))
    finally:
        control.close()
    assert len(records) == 1
    return records[0].source


def test_the_audit_names_the_client_behind_a_trusted_proxy(behind_proxy: RunningServer) -> None:
    """Read from the right: what the client wrote itself (6.6.6.6) proves nothing; the
    first address not of a trusted proxy is the client."""
    source = failed_login_source(behind_proxy, "canary-proxied", "6.6.6.6, 203.0.113.7")
    assert source == "203.0.113.7"


def test_a_forged_forwarded_for_does_not_change_the_audited_address(
    untrusting: RunningServer,
) -> None:
    assert failed_login_source(untrusting, "canary-direct", "203.0.113.7") == "127.0.0.1"


def hold_requests(server: RunningServer, forwarded_for: list[str]) -> list[int]:
    """Start a beacon request per address, each waiting on its body; then ask from the
    first address: its status (429 if refused)."""
    held: list[http.client.HTTPConnection] = []
    try:
        for address in forwarded_for:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.putrequest("POST", "/v1/beacon")
            conn.putheader("X-Forwarded-For", address)
            conn.putheader("Content-Length", "100")
            conn.endheaders()  # the body never comes: the request stays in progress
            held.append(conn)
        # The held requests reach the collector in their own time: ask a few times.
        for _ in range(10):
            probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            probe.request("GET", "/healthz", headers={"X-Forwarded-For": forwarded_for[0]})
            status = probe.getresponse().status
            probe.close()
            if status == 429:
                break
            time.sleep(0.1)
        return [status]
    finally:
        for conn in held:
            conn.close()


def test_the_connection_cap_counts_the_client_behind_the_proxy(
    behind_proxy: RunningServer,
) -> None:
    """Behind a load balancer every client has the balancer's address: without X-Forwarded-For
    the cap (3 here) would lock everyone out at once."""
    assert hold_requests(behind_proxy, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [200]
    assert hold_requests(behind_proxy, ["203.0.113.9"] * 3) == [429]


def test_a_forged_forwarded_for_does_not_escape_the_cap(untrusting: RunningServer) -> None:
    assert hold_requests(untrusting, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [429]
