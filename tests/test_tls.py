"""`serve --certfile --keyfile`: the collector speaks TLS 1.2 or newer, nothing older."""

from __future__ import annotations

import ssl
import subprocess
import warnings
from pathlib import Path

import httpx2 as httpx
import pytest
from websockets.sync.client import connect
from websockets.typing import Origin

from collector.testing import running_collector
from tests.wsclient import hello, new_id


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def client_context(cert: Path, version_name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cert)
    # Let the client offer old versions, so that the server alone is what refuses them.
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are, rightly
        version = getattr(ssl.TLSVersion, version_name)
        context.minimum_version = version
        context.maximum_version = version
    return context


def test_tls_serves_1_2_and_newer_and_refuses_older(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=cert)
    tls = ("--certfile", cert, "--keyfile", key)
    with running_collector(tmp_path / "var", *tls, ssl_context=trust) as server:
        url = f"wss://127.0.0.1:{server.port}/v1/ingest"
        origin = Origin("http://127.0.0.1:1")
        for version in ("TLSv1_2", "TLSv1_3"):
            with connect(url, ssl=client_context(cert, version), origin=origin) as ws:
                ws.send(hello(new_id("sess")))
                assert '"welcome"' in str(ws.recv(timeout=5))
        for old in ("TLSv1", "TLSv1_1"):
            with pytest.raises(ssl.SSLError):  # the server ends the handshake
                connect(url, ssl=client_context(cert, old), origin=origin)
        # Over TLS the console's cookies are Secure, and browsers are told to stay on HTTPS.
        with httpx.Client(verify=trust) as client:
            login = client.get(f"https://127.0.0.1:{server.port}/login")
        cookie = login.headers["set-cookie"]
        assert "phi_login_csrf=" in cookie
        assert "Secure" in cookie
        assert "HttpOnly" in cookie
        assert login.headers["strict-transport-security"].startswith("max-age=")
