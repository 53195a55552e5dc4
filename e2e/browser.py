"""Launching Debian's Chromium under Playwright, and watching what a page sends."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Page, WebSocket

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's chromium (installed by `make setup`); PHI_REPLAY_CHROMIUM overrides it."""
    path = os.environ.get("PHI_REPLAY_CHROMIUM", "/usr/bin/chromium")
    if not os.access(path, os.X_OK):
        found = shutil.which("chromium")
        if found is None:
            raise RuntimeError(f"no Chromium at {path}: run `make setup` to install Debian's")
        path = found
    return path


@dataclass
class FrameLog:
    """Every WebSocket frame the page sends, from every socket it opens."""

    sent: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> FrameLog:
        page.on("websocket", self._on_socket)
        return self

    def _on_socket(self, ws: WebSocket) -> None:
        self.urls.append(ws.url)
        ws.on("framesent", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        self.sent.append(payload if isinstance(payload, str) else payload.decode("latin-1"))

    def leaks(self, canaries: list[str]) -> dict[str, int]:
        """Which canaries appear in any sent frame (case-insensitive), and in how many."""
        found: dict[str, int] = {}
        for canary in canaries:
            needle = canary.lower()
            hits = sum(needle in frame.lower() for frame in self.sent)
            if hits:
                found[canary] = hits
        return found


_SEND_ON_PURPOSE = """([url, sessionId, canary]) => new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send(JSON.stringify({type: "hello", v: 1, app_key: "dev",
        session_id: sessionId, tab_id: "negative-tab-1", user: "qa"}));
    ws.onmessage = (m) => {
        const msg = JSON.parse(m.data);
        if (msg.type === "welcome") ws.send(JSON.stringify({type: "batch", seq: 1,
            events: [{type: 5, data: {tag: "leak", payload: {note: canary}},
                      timestamp: Date.now()}]}));
        else { ws.close(); resolve(msg); }
    };
    ws.onerror = () => reject(new Error("socket failed"));
})"""


def send_on_purpose(page: Page, ingest_url: str, session_id: str, canary: str) -> Any:
    """Negative control: the page itself sends `canary` to the collector, bypassing the
    recorder, and returns the collector's reply. Leak checks must catch it."""
    return page.evaluate(_SEND_ON_PURPOSE, [ingest_url, session_id, canary])
