"""Where the renderer main thread's time went in a Chromium trace, by kind of work.

The CPU profiler sees JavaScript; it lumps garbage collection outside JS frames,
style, layout and paint into "(program)". A trace names them. Each moment of a
task is given to one kind, the first that covers it in KINDS order, so that a GC
step inside layout counts as GC and a layout forced from a script counts as layout.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Trace categories that name the work below (devtools.timeline is DevTools' own set).
CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "toplevel",
    "blink",
    "blink_gc",
    "v8",
    "v8.gc",
    "disabled-by-default-v8.gc",
]

TASK = "ThreadControllerImpl::RunTask"
# Kind → the trace event names that cover it, in attribution order.
KINDS: list[tuple[str, tuple[str, ...]]] = [
    ("GC", ("MinorGC", "MajorGC", "V8.GCIncrementalMarking", "V8.GCScavenger", "BlinkGC.")),
    ("layout", ("Layout",)),
    ("style", ("UpdateLayoutTree",)),
    ("paint and compositing", ("PrePaint", "Paint", "Layerize", "UpdateLayer", "Commit")),
    ("JS", ("v8.callFunction", "FunctionCall", "RunMicrotasks", "EvaluateScript", "V8.Execute")),
]
Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def minus(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """`a` without `b`; both sorted and disjoint."""
    out: list[Interval] = []
    j = 0
    for start, end in a:
        while j < len(b) and b[j][1] <= start:
            j += 1
        k, at = j, start
        while k < len(b) and b[k][0] < end:
            if b[k][0] > at:
                out.append((at, b[k][0]))
            at = max(at, b[k][1])
            k += 1
        if at < end:
            out.append((at, end))
    return out


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    return minus(a, minus(a, b))


def length(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def main_thread_split(trace: dict[str, Any] | list[dict[str, Any]]) -> dict[str, float]:
    """ms of the renderer main thread's tasks per kind of work, plus 'tasks' (the total)."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    threads = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e.get("args", {}).get("name") == "CrRendererMain"
    }
    spans: dict[str, list[Interval]] = {kind: [] for kind, _ in KINDS}
    tasks: list[Interval] = []
    for e in events:
        if e.get("ph") != "X" or (e.get("pid"), e.get("tid")) not in threads:
            continue
        name, start = e["name"], e["ts"] / 1000
        span = (start, start + e.get("dur", 0) / 1000)
        if name == TASK:
            tasks.append(span)
        for kind, names in KINDS:
            if any(name == n or (n.endswith(".") and name.startswith(n)) for n in names):
                spans[kind].append(span)
                break
    taken = union(tasks)
    split = {"tasks": length(taken)}
    covered: list[Interval] = []
    for kind, _ in KINDS:
        own = minus(union(spans[kind]), covered)
        # Only time inside tasks counts, as in TaskDuration.
        split[kind] = length(intersect(own, taken))
        covered = union([*covered, *own])
    split["other"] = split["tasks"] - sum(split[kind] for kind, _ in KINDS)
    return split
