"""Renderer main-thread time of a page, read through the Chrome DevTools Protocol.

`Performance.getMetrics` reports, among others, `TaskDuration`: the wall time of every
task the renderer's main thread has run since the page's process started, in seconds.
Read before and after a window, the difference is everything the page's main thread
did in it: script, the garbage collections it triggered, JSON, style, layout and
the engine's own tasks, whichever API the work was hidden behind.

    clock = TaskClock(page)
    before = clock.read()
    page.evaluate(...)
    spent = clock.since(before)   # {"TaskDuration": ms, "ScriptDuration": ms, ...}
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import CDPSession, Page

# The metrics kept: durations are cumulative seconds (reported here as ms); ThreadTime
# is the main thread's CPU time and ProcessTime the renderer process's (all threads,
# concurrent GC and compilation included), both also cumulative seconds.
KEPT = (
    "TaskDuration",
    "ScriptDuration",
    "V8CompileDuration",
    "LayoutDuration",
    "RecalcStyleDuration",
    "DevToolsCommandDuration",
    "TaskOtherDuration",
    "ThreadTime",
    "ProcessTime",
)


class TaskClock:
    """A CDP session on one page with the Performance domain enabled."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def read(self) -> dict[str, float]:
        """The cumulative metrics now, in seconds."""
        reply: dict[str, Any] = self.cdp.send("Performance.getMetrics")
        return {m["name"]: float(m["value"]) for m in reply["metrics"] if m["name"] in KEPT}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """What each metric grew by since `before`, in ms."""
        now = self.read()
        return {name: (now[name] - before[name]) * 1000 for name in now if name in before}
