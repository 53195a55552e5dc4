"""`phi-replay demo`: the collector in dev mode and the sample app, side by side."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from collector.assets import REPO_ROOT
from collector.cli import DEV_WARNING
from collector.config import DEV_INSTANCE, load_settings
from collector.control import AuditEntry, Control, Role, User, generate_password
from collector.crypto import hash_password
from collector.demo_app.app import create_sample_app
from collector.rules import load_rules
from collector.server import bind, hypercorn_config, open_collector, probe, serve_apps

SAMPLE_RULES = REPO_ROOT / "masking-rules" / "examples" / "sample-app.json"
DEMO_USERS: tuple[tuple[str, Role], ...] = (("support", "support"), ("superadmin", "superadmin"))


def demo_logins(control: Control) -> list[tuple[str, str]]:
    """(user, password) of the demo's console users, with passwords generated afresh on
    every start (shown once, by the caller)."""
    logins = []
    for name, role in DEMO_USERS:
        password = generate_password()
        if control.get_user(name) is None:
            control.add_user(User(name, role, None, hash_password(password)))
            control.audit(AuditEntry("demo", "user.add", name, "demo", "ok", {"role": role}))
        else:
            control.set_password(name, hash_password(password))
            control.set_disabled(name, False)
            control.audit(AuditEntry("demo", "user.passwd", name, "demo"))
        logins.append((name, password))
    return logins


def run_demo(*, host: str, port: int, data_dir: Path, keyring: Path | None) -> int:
    settings = load_settings(None, data_dir=data_dir, keyring=keyring).with_dev_instance()
    limit = settings.max_message_bytes
    planned = [hypercorn_config(host, p, max_message_bytes=limit) for p in (port, port + 1)]
    for config in planned:
        probe(config)  # a port in use is one sentence, before anything is opened
    collector = open_collector(settings)
    collector_url = f"http://{host}:{port}"
    # The sample app's rules: readable through its interface strings (ui_text, from its
    # catalogue file) rather than unmask regions; it declares its routes to its recorder,
    # as the --dev instance does to the collector (DEV_ROUTES), so both template alike.
    rules = load_rules(SAMPLE_RULES).model_dump(mode="json")
    sample = create_sample_app(collector_url, rules)
    logins = demo_logins(collector.state.store.control)
    width = max(len(name) for name, _ in logins)
    login_lines = "\n".join(
        f"  {name.ljust(width)}  password {password}" for name, password in logins
    )
    print(DEV_WARNING, file=sys.stderr)
    # The commands as they will work: a keyring given on the command line is named too.
    store_args = f"--data-dir {data_dir}" + (f" --keyring {keyring}" if keyring else "")
    banner = f"""
phi-replay demo is running.

  Sample clinical app   http://{host}:{port + 1}/
  Collector             {collector_url}/
  Data directory        {data_dir}   (keyring: {settings.keyring_path})

Support console         {collector_url}/console   (instance '{DEV_INSTANCE}')
{login_lines}
  (passwords are generated on every start and shown only here)

Click around the sample app (patients, a visit form), then sign in to the console,
find your session, replay it, and see your own view in the audit log (superadmin).
Or from the command line:

  .venv/bin/phi-replay sessions {store_args}
  .venv/bin/phi-replay export {store_args} --all

Press Ctrl-C to stop.
"""
    configs = [(collector, planned[0]), (sample, planned[1])]
    for _, config in configs:
        bind(config, settings.send_timeout_seconds)  # before the banner says "running"
    print(banner, flush=True)
    asyncio.run(serve_apps(configs, grace_seconds=settings.listen.shutdown_grace_seconds))
    return 0
