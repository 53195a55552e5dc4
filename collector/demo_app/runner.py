"""`phi-replay demo`: the collector in dev mode and the sample app, side by side."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from collector.assets import masking_rules
from collector.cli import DEV_WARNING
from collector.config import load_settings
from collector.demo_app.app import create_sample_app
from collector.server import hypercorn_config, open_collector, serve_apps


def run_demo(*, host: str, port: int, data_dir: Path, keyring: Path | None) -> int:
    settings = load_settings(None, data_dir=data_dir, keyring=keyring).with_dev_instance()
    collector = open_collector(settings)
    collector_url = f"http://{host}:{port}"
    sample = create_sample_app(collector_url, masking_rules("examples/clinical-app.json"))
    limit = settings.max_message_bytes
    print(DEV_WARNING, file=sys.stderr)
    print(
        f"""
phi-replay demo is running.

  Sample clinical app   http://{host}:{port + 1}/
  Collector             {collector_url}/
  Data directory        {data_dir}   (keyring: {settings.keyring_path})

Click around the sample app (patients, a visit form), then see what was stored:

  .venv/bin/phi-replay sessions --data-dir {data_dir}
  .venv/bin/phi-replay export --data-dir {data_dir} --all

Press Ctrl-C to stop.
""",
        flush=True,
    )
    asyncio.run(
        serve_apps(
            [
                (collector, hypercorn_config(host, port, max_message_bytes=limit)),
                (sample, hypercorn_config(host, port + 1, max_message_bytes=limit)),
            ]
        )
    )
    return 0
