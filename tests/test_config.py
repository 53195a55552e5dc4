"""Config files: instances, their keys and origins; bad files name the key and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_settings
from collector.exceptions import ConfigError
from collector.testing import cli, running_collector
from tests.wsclient import batch, hello, new_id, open_socket, receive, refused

TWO_INSTANCES = """
[[instances]]
name = "trials"
app_keys = ["trials-key-1"]
allowed_origins = ["http://127.0.0.1:*"]

[[instances]]
name = "academy"
app_keys = ["academy-key-1"]
allowed_origins = ["http://localhost:*"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "phi-replay.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[[instances]]\nname = 'Bad Name'\n",
            "instances[0].name: expected a name of lowercase letters",
        ),
        (
            "[[instances]]\nname = 'a'\nallowed_origins = ['https://ok.example', 'ftp://x']\n",
            "instances[0].allowed_origins: item 1: expected an origin",
        ),
        ("max_message_bytes = 12\n", "max_message_bytes: must be greater than or equal to 65536"),
        ("colour = 'blue'\n", "colour: unknown key (valid keys: audit_retention_days,"),
        ("[[instances]\n", "not valid TOML"),
        (TWO_INSTANCES.replace("academy-key-1", "trials-key-1"), "an app key is used by more"),
        (
            "[[instances]]\nname = 'a'\nroutes = ['/wards/:ward', '/CANARY JANE/:id']\n",
            "instances[0].routes[1]: expected a route like",
        ),
        ("[[instances]]\nname = 'a'\nroutes = '/wards/:ward'\n", "instances[0].routes:"),
        (
            "[[instances]]\nname = 'a'\nroutes = [" + "'/a'," * 501 + "]\n",
            "instances[0].routes: must have at most 500 items",
        ),
    ],
)
def test_a_bad_config_file_names_the_key_and_the_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert expected in str(error.value)
    assert "CANARY" not in str(error.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A typo gets the nearest valid key, with the table it is in.
        (
            "max_mesage_bytes = 100000\n",
            "max_mesage_bytes: unknown key (did you mean 'max_message_bytes'?)",
        ),
        ("[listen]\nprot = 8700\n", "listen.prot: unknown key (did you mean 'port'?)"),
        (
            "[[instances]]\nname = 'a'\n[instances.environments.uat]\nenabeld = true\n",
            "instances[0].environments.uat.enabeld: unknown key (did you mean 'enabled'?)",
        ),
        (
            "[[instances]]\nname = 'a'\nappkeys = ['k-1']\n",
            "instances[0].appkeys: unknown key (did you mean 'app_keys'?)",
        ),
        # Quoted values are not read as booleans or numbers.
        (
            "[[instances]]\nname = 'a'\n[instances.environments.uat]\nenabled = 'yes'\n",
            "instances[0].environments.uat.enabled: expected true or false (unquoted),"
            " got a string",
        ),
        (
            "[[instances]]\nname = 'a'\ncustomer_access = 1\n",
            "customer_access: expected true or false (unquoted), got an integer",
        ),
        (
            "[listen]\nport = '8700'\n",
            "listen.port: expected a whole number (unquoted), got a string",
        ),
        ("batch_burst = 10.5\n", "batch_burst: expected a whole number (unquoted), got a number"),
        (
            "hello_timeout_seconds = '5'\n",
            "hello_timeout_seconds: expected a number (unquoted), got a string",
        ),
        (
            "login_max_failures = true\n",
            "login_max_failures: expected a whole number (unquoted), got true or false",
        ),
        (
            "[listen]\nplain_http = true\n",
            "listen.plain_http: expected one of 'no', 'behind-proxy' or 'insecure'"
            " (in quotes), got true or false",
        ),
        ("[[instances]]\nretention_days = 30\n", "instances[0].name: required, but missing"),
    ],
)
def test_config_errors_are_plain_words_with_the_nearest_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    message = str(error.value)
    assert expected in message
    for pydantic_wording in ("Input should", "Extra inputs", "Value error", "Field required"):
        assert pydantic_wording not in message


def test_config_errors_never_repeat_the_value(tmp_path: Path) -> None:
    text = (
        "[[instances]]\nname = 'a'\napp_keys = 'CANARY-APP-KEY-7'\ncustomer_access = 'CANARY-YES'\n"
    )
    with pytest.raises(ConfigError) as error:
        load_settings(write(tmp_path, text))
    assert "CANARY" not in str(error.value)
    assert "customer_access" in str(error.value)


def test_listen_takes_its_paths_relative_to_the_config_file(tmp_path: Path) -> None:
    text = (
        "[listen]\nhost = '::1'\nport = 9443\ncertfile = 'tls/cert.pem'\nkeyfile = 'tls/key.pem'\n"
    )
    listen = load_settings(write(tmp_path, text)).listen
    assert (listen.host, listen.port) == ("::1", 9443)
    assert listen.certfile == tmp_path / "tls" / "cert.pem"
    assert listen.keyfile == tmp_path / "tls" / "key.pem"


def test_an_instance_declares_its_routes_in_the_config_file(tmp_path: Path) -> None:
    text = TWO_INSTANCES + "routes = ['/courses/:course/modules/*', '/courses/']\n"
    settings = load_settings(write(tmp_path, text))
    academy = settings.instances[1]
    assert academy.routes == ("/courses/:course/modules/*", "/courses/")
    assert settings.instances[0].routes == ()
    assert "routes" not in academy.remote_rules()


def test_serve_refuses_a_bad_config_with_a_readable_message(tmp_path: Path) -> None:
    config = write(tmp_path, "[[instances]]\nname = 'trials'\nallowed_origins = ['nope']\n")
    result = cli("serve", "--config", config, "--data-dir", tmp_path / "var", check=False)
    assert result.returncode == 2
    assert "instances[0].allowed_origins" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_instance_admits_only_its_own_origins_and_sessions(tmp_path: Path) -> None:
    config = write(tmp_path, TWO_INSTANCES)
    with running_collector(tmp_path / "var", "--config", config) as server:
        # academy's key from a 127.0.0.1 page: the Origin belongs to another instance.
        ws = open_socket(server.ws_url, origin="http://127.0.0.1:4000")
        ws.send(hello(new_id("sess"), app_key="academy-key-1"))
        error, close_code, _ = refused(ws)
        assert (error["code"], close_code) == ("origin_not_allowed", 4003)

        # A session id already used by trials cannot be written to with academy's key.
        shared = new_id("sess")
        ws = open_socket(server.ws_url, origin="http://127.0.0.1:4000")
        ws.send(hello(shared, app_key="trials-key-1"))
        assert receive(ws)["type"] == "welcome"
        ws.close()
        ws = open_socket(server.ws_url, origin="http://localhost:4000")
        ws.send(hello(shared, app_key="academy-key-1"))
        error, close_code, _ = refused(ws)
        assert (error["code"], close_code) == ("unauthorised", 4001)


def test_a_client_over_the_batch_rate_is_told_to_slow_down_and_loses_nothing(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, "batches_per_second = 1\nbatch_burst = 3\n")
    session = new_id("sess")
    with running_collector(tmp_path / "var", "--config", config) as server:
        ws = open_socket(server.ws_url)
        ws.send(hello(session))
        assert receive(ws)["type"] == "welcome"
        for seq in (1, 2, 3):
            ws.send(batch(seq))
            assert receive(ws) == {"type": "ack", "seq": seq}
        ws.send(batch(4))
        error, close_code, reason = refused(ws)
        assert (error["code"], close_code) == ("rate_limited", 4029)
        assert "batches per second" in reason
        ws = open_socket(server.ws_url)
        ws.send(hello(session))
        assert receive(ws)["next_seq"] == 4, "what was acked is kept; the client resends 4"
        ws.close()
