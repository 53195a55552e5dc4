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

On Linux it also reads how long the renderers' main threads waited for a CPU
(`run_delay` in /proc/<pid>/schedstat) as `RunQueueDelay`, and the CPU time used by
processes other than ours (/proc/stat minus our process tree) as `OthersCPU`: task
time is wall time, and a window in which another process held the CPU, or shared the
machine's caches, is slower for reasons that have nothing to do with the page.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
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

# A window is disturbed when its tasks were preempted for more than this share of their
# time (and more than DISTURBED_MIN_MS). Undisturbed windows on this 2-core machine lose
# up to about a tenth: the page's own compositor, raster and GC threads compete for the
# two cores too.
DISTURBED_SHARE = 0.1
DISTURBED_MIN_MS = 20.0
# A window is disturbed, too, when processes other than this one and its browsers used
# more CPU than this share of the window's wall time: even on the other core they
# compete for caches and memory, which slows the page without preempting it.
OTHERS_SHARE = 0.25
# ... and more than this: per-process and machine-wide CPU times are counted in 10 ms
# ticks, so their difference is off by tens of ms on any window.
OTHERS_MIN_MS = 50.0


def _parent(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def renderer_pids() -> list[int]:
    """Chromium renderer processes started (through Playwright) by this process."""
    me, found = os.getpid(), []
    try:
        entries = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return []  # not Linux: no run-queue figures
    for pid in entries:
        try:
            if b"--type=renderer" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            up = pid
            while up > 1 and up != me:
                up = _parent(up)
        except (OSError, ValueError):
            continue
        if up == me:
            found.append(pid)
    return found


def others_cpu_seconds() -> float:
    """CPU time used by every process on the machine except this one and its
    descendants (the browsers), since boot, in seconds; 0 where /proc is missing."""
    try:
        busy = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        entries = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit()]
    except (OSError, ValueError):
        return 0.0
    # user, nice, system, (idle, iowait), irq, softirq, steal
    total = busy[0] + busy[1] + busy[2] + busy[5] + busy[6] + busy[7]
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for pid in entries:
        with contextlib.suppress(OSError, ValueError, IndexError):  # the process has ended
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            parents[pid] = int(fields[1])
            ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    me = os.getpid()
    ours = 0
    for pid, used in ticks.items():
        up = pid
        while up > 1 and up != me:
            up = parents.get(up, 0)
        if up == me:
            ours += used
    return (total - ours) / os.sysconf("SC_CLK_TCK")


def run_queue_seconds(pids: list[int]) -> float:
    """How long these processes' main threads have waited for a CPU, in all (seconds)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # the process has ended
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
    return total / 1e9


class TaskClock:
    """A CDP session on one page with the Performance domain enabled."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")
        # Every renderer of ours: the page's is among them, the others are idle.
        self.renderers = renderer_pids()

    def read(self) -> dict[str, float]:
        """The cumulative metrics now, in seconds."""
        reply: dict[str, Any] = self.cdp.send("Performance.getMetrics")
        metrics = {m["name"]: float(m["value"]) for m in reply["metrics"] if m["name"] in KEPT}
        metrics["RunQueueDelay"] = run_queue_seconds(self.renderers)
        metrics["OthersCPU"] = others_cpu_seconds()
        metrics["Wall"] = time.monotonic()
        return metrics

    def disturbed(self, spent: dict[str, float]) -> bool:
        """Whether other processes disturbed a window (a since() result): its tasks ran
        off the CPU for more than DISTURBED_SHARE of their time while the renderers'
        main threads sat in the run queue, or others used more than OTHERS_SHARE of a
        core meanwhile. Preemption needs both bounds: a task can also be off the CPU
        blocked on the browser (a synchronous IPC, the page's own cost), and the run
        queue also holds waits between tasks, which TaskDuration does not count."""
        preempted = min(
            spent.get("RunQueueDelay", 0.0), spent["TaskDuration"] - spent["ThreadTime"]
        )
        if preempted > DISTURBED_MIN_MS and preempted > DISTURBED_SHARE * spent["TaskDuration"]:
            return True
        others = spent.get("OthersCPU", 0.0)
        return others > OTHERS_MIN_MS and others > OTHERS_SHARE * spent.get("Wall", 0.0)

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """What each metric grew by since `before`, in ms."""
        now = self.read()
        return {name: (now[name] - before[name]) * 1000 for name in now if name in before}
