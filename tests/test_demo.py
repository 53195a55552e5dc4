"""`phi-replay demo`: starts both servers and tells the newcomer where to go."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import httpx2 as httpx
from starlette.routing import Route

from collector.config import DEV_ROUTES, dev_instance
from collector.demo_app.app import create_sample_app
from collector.demo_app.runner import SAMPLE_RULES
from collector.rules import load_rules
from collector.testing import running_demo

# A script marks its console requests as the console's own (collector/console/csrf.py).
SCRIPT = {"X-Phi-Console": "1"}


def test_demo_prints_the_urls_and_serves_the_app_with_the_recorder(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        with urllib.request.urlopen(demo.app_url + "/patients") as response:
            page = response.read().decode()
        with urllib.request.urlopen(demo.collector_url + "/sdk/phi-replay.min.js") as response:
            bundle = response.read().decode()
            content_type = response.headers["content-type"]
        printed = demo.log.read_text()
    assert demo.app_url + "/" in printed
    assert demo.collector_url + "/" in printed
    assert "phi-replay sessions --data-dir" in printed
    # The commands it prints work as printed (with the keyring it was given).
    commands = re.findall(r"^\s+\.venv/bin/(phi-replay (?:sessions|export) .+)$", printed, re.M)
    assert len(commands) == 2, printed
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "collector", *command.split()[1:]],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
    assert "not for production" in printed
    assert f'src="{demo.collector_url}/sdk/phi-replay.min.js"' in page
    assert "PhiReplay.start(" in page
    assert "PhiReplay" in bundle
    assert content_type.startswith("text/javascript")


def test_the_demo_prints_console_logins_that_sign_in(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        printed = demo.log.read_text()
        logins = dict(re.findall(r"^\s+(support|superadmin)\s+password (\S+)$", printed, re.M))
        assert set(logins) == {"support", "superadmin"}
        assert f"{demo.collector_url}/console" in printed
        for user, password in logins.items():
            with httpx.Client(
                base_url=demo.collector_url, follow_redirects=True, headers=SCRIPT
            ) as client:
                form = client.get("/login").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form)
                assert csrf is not None
                done = client.post(
                    "/login", data={"csrf": csrf.group(1), "username": user, "password": password}
                )
                assert done.status_code == 200, user  # the session list, after the redirect
                assert 'data-role="sessions"' in done.text
                audit = client.get("/console/audit", follow_redirects=False)
                assert audit.status_code == (200 if user == "superadmin" else 403)
    # Passwords are printed once: a second start prints new ones, and the old ones fail.
    with running_demo(tmp_path) as demo:
        again = dict(
            re.findall(r"^\s+(support|superadmin)\s+password (\S+)$", demo.log.read_text(), re.M)
        )
        assert again["support"] != logins["support"]


def test_the_dev_instance_declares_the_sample_apps_routes() -> None:
    app = create_sample_app("http://127.0.0.1:8700", {})
    templates = {
        re.sub(r"\{(\w+)(:\w+)?\}", r":\1", route.path)
        for route in app.routes
        if isinstance(route, Route) and route.path != "/"  # "/" has no segment to declare
    }
    assert templates == set(DEV_ROUTES)
    assert dev_instance().routes == DEV_ROUTES
    assert load_rules(SAMPLE_RULES).routes == DEV_ROUTES, "its recorder declares them too"
    assert "routes" not in dev_instance().remote_rules()
