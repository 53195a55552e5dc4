from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from collector.testing import free_port, running_process
from e2e.browser import CHROMIUM_ARGS, chromium_path

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@dataclass(frozen=True)
class Demo:
    collector_url: str
    app_url: str
    data_dir: Path
    keyring: Path


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`phi-replay demo` (collector in dev mode + sample clinical app) on free ports."""
    port = _two_free_ports()
    data_dir = tmp_path / "var"
    keyring = tmp_path / "keyring.json"
    argv: list[str | Path] = [
        sys.executable,
        "-m",
        "collector",
        "demo",
        "--port",
        str(port),
        "--data-dir",
        data_dir,
        "--keyring",
        keyring,
    ]
    with running_process(argv, f"http://127.0.0.1:{port + 1}/", tmp_path / "demo.log"):
        yield Demo(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}", data_dir, keyring)
