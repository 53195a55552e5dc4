"""`phi-replay demo`: starts both servers and tells the newcomer where to go."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from collector.testing import free_port, running_process


def test_demo_prints_the_urls_and_serves_the_app_with_the_recorder(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    argv: list[str | Path] = [
        sys.executable,
        "-m",
        "collector",
        "demo",
        "--port",
        str(port),
        "--data-dir",
        tmp_path / "var",
    ]
    with running_process(argv, f"http://127.0.0.1:{port + 1}/patients", log):
        with urllib.request.urlopen(f"http://127.0.0.1:{port + 1}/patients") as response:
            page = response.read().decode()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sdk/phi-replay.min.js") as response:
            bundle = response.read().decode()
            content_type = response.headers["content-type"]
    printed = log.read_text()
    assert f"http://127.0.0.1:{port + 1}/" in printed
    assert f"http://127.0.0.1:{port}/" in printed
    assert "phi-replay sessions --data-dir" in printed
    assert "not for production" in printed
    assert f'src="http://127.0.0.1:{port}/sdk/phi-replay.min.js"' in page
    assert "PhiReplay.start(" in page
    assert "PhiReplay" in bundle
    assert content_type.startswith("text/javascript")
