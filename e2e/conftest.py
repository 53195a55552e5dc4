from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from collector.testing import RunningDemo, running_demo
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


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    """`phi-replay demo` (collector in dev mode + sample clinical app) on free ports."""
    with running_demo(tmp_path) as running:
        yield running
