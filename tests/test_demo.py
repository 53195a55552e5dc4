"""`phi-replay demo`: starts both servers and tells the newcomer where to go."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from collector.testing import running_demo


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
    assert "not for production" in printed
    assert f'src="{demo.collector_url}/sdk/phi-replay.min.js"' in page
    assert "PhiReplay.start(" in page
    assert "PhiReplay" in bundle
    assert content_type.startswith("text/javascript")
