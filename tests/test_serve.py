"""`phi-replay serve` as an operator meets it: each start-up mistake is one sentence naming
the port, file or directory and what to do (exit code 2, nothing "listening"); TLS is
all or nothing; plain HTTP outside dev mode is a stated choice; `[listen]` in the TOML;
and "listening" is printed only once connections are really taken."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.testing import cli, free_port, running_collector, running_process, wait_for_http
from tests.test_tls import self_signed

INSTANCE = """
[[instances]]
name = "trials"
app_keys = ["trials-key-1"]
allowed_origins = ["https://trials.example.org"]
"""


def config_file(tmp_path: Path, text: str = INSTANCE) -> Path:
    path = tmp_path / "phi-replay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def keyring(tmp_path: Path) -> Path:
    path = tmp_path / "keyring.json"
    cli("keys", "init", "--keyring", path)
    return path


def refused_start(*args: str | Path) -> str:
    """`serve ARGS` must exit 2 at once with one sentence on stderr; returns it."""
    result = cli("serve", *args, check=False)
    assert result.returncode == 2, result.stderr
    assert "listening" not in result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if not line.startswith("WARNING: dev")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("phi-replay: ")
    return lines[0]


def dev(tmp_path: Path, *extra: str | Path) -> list[str | Path]:
    return ["--dev", "--data-dir", tmp_path / "var", "--port", str(free_port()), *extra]


# -- TLS: both files or neither, each readable, the key the certificate's own ----------------


def test_a_certificate_without_its_key_refuses_to_start(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    message = refused_start(*dev(tmp_path, "--certfile", cert))
    assert "TLS is half-configured: certfile is set but keyfile is not" in message
    message = refused_start(*dev(tmp_path, "--keyfile", key))
    assert "keyfile is set but certfile is not" in message


def test_a_half_configured_tls_in_the_config_file_refuses_to_start(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    config = config_file(tmp_path, f"[listen]\ncertfile = '{cert}'\n")
    message = refused_start(*dev(tmp_path, "--config", config))
    assert "TLS is half-configured" in message


def test_a_missing_certificate_is_named(tmp_path: Path) -> None:
    _, key = self_signed(tmp_path)
    missing = tmp_path / "no-such-cert.pem"
    message = refused_start(*dev(tmp_path, "--certfile", missing, "--keyfile", key))
    assert f"the TLS certificate {missing} does not exist" in message


def test_a_key_of_another_certificate_is_named(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = self_signed(other)
    message = refused_start(*dev(tmp_path, "--certfile", cert, "--keyfile", other_key))
    assert f"the private key {other_key} does not belong to the certificate {cert}" in message


def test_a_file_that_is_not_pem_is_named(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    cert.write_text("not a certificate\n", encoding="utf-8")
    message = refused_start(*dev(tmp_path, "--certfile", cert, "--keyfile", key))
    assert f"could not load the TLS certificate {cert}" in message


# -- plain HTTP outside dev mode is a stated choice ---------------------------------------


def test_a_production_config_without_tls_refuses_to_start(tmp_path: Path) -> None:
    args: list[str | Path] = ["--config", config_file(tmp_path), "--data-dir", tmp_path / "var"]
    message = refused_start(*args, "--keyring", keyring(tmp_path), "--port", str(free_port()))
    assert "refusing to serve without TLS" in message
    assert "--insecure-http" in message
    assert not (tmp_path / "var").exists(), "nothing was created before the refusal"


def test_behind_a_proxy_needs_the_proxy_named(tmp_path: Path) -> None:
    config = config_file(tmp_path, INSTANCE + "[listen]\nplain_http = 'behind-proxy'\n")
    message = refused_start(
        "--config", config, "--data-dir", tmp_path / "var", "--keyring", keyring(tmp_path)
    )
    assert "needs the proxy's address in trusted_proxies" in message


def test_behind_a_named_proxy_it_serves_plain_http_with_a_note(tmp_path: Path) -> None:
    port = free_port()
    config = config_file(
        tmp_path,
        "trusted_proxies = ['127.0.0.1/32']\n"
        + INSTANCE
        + "[listen]\nplain_http = 'behind-proxy'\n",
    )
    argv: list[str | Path] = [sys.executable, "-m", "collector", "serve", "--config", config]
    argv += ["--data-dir", tmp_path / "var", "--keyring", keyring(tmp_path), "--port", str(port)]
    log = tmp_path / "serve.log"
    with running_process(argv, f"http://127.0.0.1:{port}/healthz", log):
        pass
    text = log.read_text()
    assert (
        'NOTE: serving plain HTTP for a TLS-terminating proxy (plain_http = "behind-proxy")' in text
    )
    assert "WARNING" not in text
    assert text.count(f"listening on http://127.0.0.1:{port}") == 1


def test_insecure_http_is_served_with_a_loud_warning(tmp_path: Path) -> None:
    port = free_port()
    argv: list[str | Path] = [sys.executable, "-m", "collector", "serve"]
    argv += ["--config", config_file(tmp_path)]
    argv += ["--data-dir", tmp_path / "var", "--keyring", keyring(tmp_path)]
    argv += ["--port", str(port), "--insecure-http"]
    log = tmp_path / "serve.log"
    with running_process(argv, f"http://127.0.0.1:{port}/healthz", log):
        pass
    text = log.read_text()
    assert "WARNING: serving plain HTTP without TLS (--insecure-http)" in text
    assert text.count(f"listening on http://127.0.0.1:{port}") == 1
    assert "CTRL + C" not in text  # hypercorn's own line, misleading under systemd


# -- the data directory, the keyring, the port -------------------------------------------


def test_a_data_directory_that_is_a_file_is_named(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.write_text("", encoding="utf-8")
    message = refused_start("--dev", "--data-dir", data_dir, "--port", str(free_port()))
    assert f"the data directory {data_dir} is not a directory" in message


def test_a_data_directory_in_use_by_another_collector_is_named(tmp_path: Path) -> None:
    with running_collector(tmp_path / "var") as running:
        message = refused_start(*dev(tmp_path, "--keyring", running.keyring))
    assert f"the data directory {tmp_path / 'var'} is in use by another collector" in message
    assert "its own --data-dir" in message


def test_a_missing_keyring_is_named_with_the_command_that_creates_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.keyring.json"
    args: list[str | Path] = ["--config", config_file(tmp_path), "--data-dir", tmp_path / "var"]
    message = refused_start(
        *args, "--keyring", missing, "--insecure-http", "--port", str(free_port())
    )
    assert f"keyring {missing} does not exist" in message
    assert "phi-replay keys init" in message


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_port_in_use_is_named_and_nothing_says_listening(tmp_path: Path, taken_port: int) -> None:
    message = refused_start("--dev", "--data-dir", tmp_path / "var", "--port", str(taken_port))
    assert f"port {taken_port} on 127.0.0.1 is already in use" in message
    assert "choose another port (--port, or port in [listen])" in message


def test_the_demo_names_a_port_in_use_too(tmp_path: Path, taken_port: int) -> None:
    result = cli("demo", "--data-dir", tmp_path / "var", "--port", str(taken_port), check=False)
    assert result.returncode == 2
    assert f"port {taken_port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert "demo is running" not in result.stdout


def test_a_bad_port_or_host_is_one_sentence(tmp_path: Path) -> None:
    result = cli("serve", "--dev", "--port", "99999", check=False)
    assert result.returncode == 2
    assert "expected a port number from 1 to 65535" in result.stderr
    message = refused_start("--dev", "--data-dir", tmp_path / "var", "--host", "no-such.invalid")
    assert "the host name does not resolve" in message


# -- [listen] in the TOML; "listening" only once it is true ----------------------------


def first_line_then_connect(argv: list[str | Path], log: Path) -> tuple[str, bool]:
    """Start `argv`; at the first stdout line, connect at once (no retry)."""
    with log.open("w") as err:
        proc = subprocess.Popen(
            [str(a) for a in argv], stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            connected = True
        except OSError:
            connected = False
        return line, connected
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_listen_keys_in_the_config_file_are_used_and_the_command_line_wins(
    tmp_path: Path,
) -> None:
    from_file, from_cli = free_port(), free_port()
    config = config_file(tmp_path, f"[listen]\nhost = '127.0.0.1'\nport = {from_file}\n")
    base: list[str | Path] = [sys.executable, "-m", "collector", "serve", "--dev"]
    base += ["--config", config]
    base += ["--data-dir", tmp_path / "var"]
    line, connected = first_line_then_connect(base, tmp_path / "a.log")
    assert line.strip() == f"phi-replay collector listening on http://127.0.0.1:{from_file}"
    assert connected, "listening was printed before the port took connections"
    line, connected = first_line_then_connect([*base, "--port", str(from_cli)], tmp_path / "b.log")
    assert line.strip() == f"phi-replay collector listening on http://127.0.0.1:{from_cli}"
    assert connected


def test_tls_files_from_the_config_file_serve_https(tmp_path: Path) -> None:
    import ssl

    cert, _ = self_signed(tmp_path)
    port = free_port()
    config = config_file(
        tmp_path, f"[listen]\nport = {port}\ncertfile = 'cert.pem'\nkeyfile = 'key.pem'\n"
    )
    argv: list[str | Path] = [sys.executable, "-m", "collector", "serve", "--dev"]
    argv += ["--config", config, "--data-dir", tmp_path / "var"]
    trust = ssl.create_default_context(cafile=cert)
    log = tmp_path / "serve.log"
    with running_process(argv, f"https://127.0.0.1:{port}/healthz", log, ssl_context=trust):
        wait_for_http(f"https://127.0.0.1:{port}/healthz", ssl_context=trust)
    assert f"listening on https://127.0.0.1:{port}" in log.read_text()


# -- --help: every flag with its default and a sentence -----------------------------------


def test_every_flag_in_help_says_what_it_does_and_its_default() -> None:
    import argparse

    from collector.cli import build_parser

    def parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
        yield parser.prog, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    missing = []
    for prog, parser in parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or isinstance(
                action, argparse._HelpAction | argparse._VersionAction
            ):
                continue
            text = action.help or ""
            takes_value = action.nargs != 0
            if not text or (takes_value and not action.required and "default" not in text):
                missing.append(f"{prog} {action.option_strings[0]}")
    assert missing == []
    serve_help = " ".join(cli("serve", "--help").stdout.split())
    assert "(default: port in [listen], else 8700)" in serve_help
    assert "--insecure-http" in serve_help


def test_check_validates_everything_and_serves_nothing(tmp_path: Path) -> None:
    ring = keyring(tmp_path)
    args: list[str | Path] = ["--config", config_file(tmp_path), "--keyring", ring]
    port = free_port()
    args += ["--data-dir", tmp_path / "var", "--port", str(port), "--insecure-http", "--check"]
    result = cli("serve", *args)
    assert result.stdout.strip() == f"configuration ok: would listen on http://127.0.0.1:{port}"
    assert not (tmp_path / "var").exists()
    ring.unlink()
    message = refused_start(*args)
    assert "does not exist; create it with `phi-replay keys init`" in message


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory this process cannot write: mode 0500, or as root (which ignores modes)
    a read-only tmpfs, as CI mounts one for the disk-full tests."""
    where = tmp_path / "readonly"
    where.mkdir()
    if os.geteuid() != 0:
        where.chmod(0o500)
        yield where
        where.chmod(0o700)
        return
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", where], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", where], check=True)


def test_a_data_directory_this_user_cannot_write_is_named(
    tmp_path: Path, unwritable_dir: Path
) -> None:
    message = refused_start(
        *dev(tmp_path, "--data-dir", unwritable_dir, "--keyring", tmp_path / "k")
    )
    assert f"the data directory {unwritable_dir} is not writable by this user" in message
    below = unwritable_dir / "var"
    message = refused_start(*dev(tmp_path, "--data-dir", below, "--keyring", tmp_path / "k"))
    assert f"{below} is not writable by this user (it would be created in {unwritable_dir})" in (
        message
    )


# -- refusals an operator can diagnose (the browser side: e2e/test_operator_chromium.py) ---


@pytest.mark.parametrize(
    ("origin", "shown"),
    [
        ("https://intranet.example.org", "https://intranet.example.org"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        (None, "(no Origin header)"),
        (
            "https://x.example/CANARY-PATH?q=1",
            "(an Origin header that is not a plain origin, 33 characters)",
        ),
        ("https://x.example\r\nINFO forged line", "(an Origin header that is not a plain"),
        ("https://" + "a" * 300, "(an Origin header that is not a plain origin, 308 characters)"),
    ],
)
def test_an_origin_is_repeated_only_when_it_is_a_plain_origin(
    origin: str | None, shown: str
) -> None:
    from collector.ingest import shown_origin

    assert shown_origin(origin).startswith(shown)


def test_a_refused_origin_is_named_in_the_log_and_the_refusal(tmp_path: Path) -> None:
    from tests.wsclient import open_socket, refused

    with running_collector(tmp_path / "var") as server:
        ws = open_socket(server.ws_url, origin="https://intranet.example.org")
        error, close_code, _ = refused(ws)
        ws = open_socket(server.ws_url, origin="https://x.example/CANARY-PATH")
        odd, _, _ = refused(ws)
        log = server.log.read_text()
    assert (error["code"], close_code) == ("origin_not_allowed", 4003)
    assert error["reason"] == (
        "origin https://intranet.example.org is not allowed for any instance;"
        " add it to allowed_origins"
    )
    assert "origin=https://intranet.example.org instance=-" in log
    assert "CANARY" not in log
    assert "CANARY" not in odd["reason"]
