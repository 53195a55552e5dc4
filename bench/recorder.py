"""Recorder benchmark: phi-replay's recorder against rrweb's record() in one Chromium.

    .venv/bin/python -m bench.recorder [--runs 5] [--sizes 1000,10000,50000] [--json FILE]

Each run loads a fresh page in a fresh browser context (cold caches, cold JIT), so the
first snapshot really is the first call. See bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from bench.pages import clinical_page
from e2e.browser import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).with_name("harness.js")
OURS_JS = ROOT / "sdk-js/dist/phi-replay.min.js"
RRWEB_DIR = ROOT / "sdk-js/node_modules/rrweb"
RRWEB_JS = RRWEB_DIR / "dist/rrweb.umd.min.cjs"

# Targets from issue 3, as ratios ours/rrweb (lower is better).
TARGET_TIME = 0.3
TARGET_BYTES = 0.6
# ARCHITECTURE.md: the recorder entry is at most 15 KB gzip.
BUNDLE_BUDGET = 15 * 1024
# Generous per-page limit; a 50,000-node page loads and records in a few seconds.
PAGE_TIMEOUT_MS = 60_000

# The e2e flags, plus gc() so the harness can collect garbage before each timed section.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--js-flags=--expose-gc"]

SIDES = ("ours", "rrweb")
Sample = dict[str, float]


@dataclass
class Metric:
    """One table row: a measured quantity on one page size, for both recorders."""

    name: str
    size: int
    unit: str
    target: float | None
    values: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})


def serve(files: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    """A loopback HTTP server for the pages and scripts, on a free port, in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, ctype = files.get(self.path, (b"not found", "text/plain"))
            self.send_response(200 if self.path in files else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def running_server(files: dict[str, tuple[bytes, str]]) -> Iterator[str]:
    server = serve(files)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def one_run(browser: Browser, base: str, side: str, size: int) -> dict[str, Any]:
    """Load a fresh page, take the first full snapshot, then the two mutation bursts."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        context.add_init_script(path=str(HARNESS))
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        page.goto(f"{base}/{side}-{size}.html", wait_until="load")
        page.wait_for_function(f"() => !!window.{'PhiReplay' if side == 'ours' else 'rrweb'}")
        page.wait_for_timeout(300)  # let page-load work (layout, GC) finish before timing
        nodes = page.evaluate("() => __bench.countNodes()")
        if side == "ours":
            snap = page.evaluate("(ep) => __bench.oursSnapshot(ep)", base)
        else:
            snap = page.evaluate("() => __bench.rrwebSnapshot()")
        append = page.evaluate("(s) => __bench.burst(s, 'append')", side)
        text = page.evaluate("(s) => __bench.burst(s, 'text')", side)
        return {"nodes": nodes, "snapshot": snap, "append": append, "text": text}
    finally:
        context.close()


def median_range(values: list[float], fmt: Callable[[float], str]) -> str:
    if not values:
        return "-"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}-{fmt(max(values))})"


def fmt_ms(v: float) -> str:
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def fmt_task(v: float) -> str:
    return "<50" if v == 0 else f"{v:.0f}"


def fmt_kb(v: float) -> str:
    return f"{v / 1024:.1f}"


def render(metrics: list[Metric], nodes: dict[int, int]) -> str:
    header = ("metric", "page", "ours", "rrweb", "ours/rrweb", "target", "")
    rows: list[tuple[str, ...]] = []
    for m in metrics:
        fmt = fmt_kb if m.unit == "KB" else fmt_task if m.name.startswith("longest") else fmt_ms
        ours, rr = (statistics.median(m.values[s]) for s in SIDES)
        if m.name.startswith("longest") and ours == 0:
            ratio_text = "-" if rr == 0 else f"<{50 / rr:.2f}"
            ratio = 0.0
        else:
            ratio = ours / rr if rr else float("inf")
            ratio_text = f"{ratio:.2f}"
        verdict = "" if m.target is None else ("met" if ratio <= m.target else "NOT met")
        rows.append(
            (
                f"{m.name} ({m.unit})",
                f"{nodes[m.size]:,} nodes",
                median_range(m.values["ours"], fmt),
                median_range(m.values["rrweb"], fmt),
                ratio_text,
                "-" if m.target is None else f"<= {m.target}x",
                verdict,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


LEGEND = """\
Each cell: median (min-max) over {runs} fresh pages; ours/rrweb is the ratio of medians.
rrweb {rrweb} record() with maskAllInputs: true, maskTextSelector: '*'; emit does
JSON.stringify(event). phi-replay: PhiReplay.start() with default-deny rules against an
in-page WebSocket stub (welcome in a microtask, acks in a later task, no network).
- snapshot time: cold first call → the serialised snapshot is handed over (phi-replay:
  start() → stub send() of the batch holding the FullSnapshot, handshake included;
  rrweb: record() → end of the emit that stringified the FullSnapshot).
- mutation time: end of the DOM change → mutation JSON handed over. 'append' appends
  1,000 patient rows at once; 'text' then edits one text node in each of them (1,000
  edits, each text getting longer). The DOM change itself, the same work for both
  recorders, is not counted ({dom}).
  rrweb serialises in its MutationObserver callback; phi-replay is flushed by a
  microtask queued right after the change (so right after its MutationObserver
  callback) and the time is the stub's send() of the batch. Both sides then wait
  alike; only the timestamps taken at hand-over count.
- bytes: UTF-8 length of what is handed over (phi-replay: whole batch frames without
  the hello; rrweb: each stringified event). No compression on either side.
- longest task: longest PerformanceObserver 'longtask' entry (≥ 50 ms) overlapping the
  snapshot; '<50' means no task reached 50 ms.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="fresh pages per size and recorder")
    parser.add_argument("--sizes", default="1000,10000,50000", help="target DOM nodes per page")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    if not OURS_JS.is_file():
        print(f"{OURS_JS.relative_to(ROOT)} is missing: run `make setup`", file=sys.stderr)
        return 2
    ours_js = OURS_JS.read_bytes()
    rrweb_version = json.loads((RRWEB_DIR / "package.json").read_text())["version"]
    js = "text/javascript; charset=utf-8"
    files: dict[str, tuple[bytes, str]] = {
        "/phi-replay.min.js": (ours_js, js),
        "/rrweb.js": (RRWEB_JS.read_bytes(), js),
    }
    for size in sizes:
        for side, script in (("ours", "/phi-replay.min.js"), ("rrweb", "/rrweb.js")):
            html = clinical_page(size, script).encode()
            files[f"/{side}-{size}.html"] = (html, "text/html; charset=utf-8")

    metrics: dict[tuple[str, int], Metric] = {}

    def record(name: str, size: int, unit: str, target: float | None, side: str, v: float) -> None:
        metric = metrics.setdefault((name, size), Metric(name, size, unit, target))
        metric.values[side].append(v)

    nodes: dict[int, int] = {}
    leaks: set[str] = set()
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    with sync_playwright() as pw, running_server(files) as base:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        try:
            print(f"Chromium {browser.version}, rrweb {rrweb_version}, {args.runs} runs per size")
            for size in sizes:
                for run in range(args.runs):
                    # Alternate which recorder goes first, so neither always gets a warmer machine.
                    for side in SIDES if run % 2 == 0 else SIDES[::-1]:
                        r = one_run(browser, base, side, size)
                        nodes[size] = r["nodes"]
                        samples.append({"size": size, "run": run, "side": side, **r})
                        snap, append, text = r["snapshot"], r["append"], r["text"]
                        for part in ("snapshot", "append", "text"):
                            if r[part]["leaked"]:
                                leaks.add(f"{side} {part} on the {size:,}-node page")
                        record("snapshot time", size, "ms", TARGET_TIME, side, snap["ms"])
                        record("mutation time, append", size, "ms", TARGET_TIME, side, append["ms"])
                        record("mutation time, text", size, "ms", TARGET_TIME, side, text["ms"])
                        record("snapshot bytes", size, "KB", TARGET_BYTES, side, snap["bytes"])
                        mutation_bytes = append["bytes"] + text["bytes"]
                        record("mutation bytes", size, "KB", TARGET_BYTES, side, mutation_bytes)
                        if size == max(sizes):
                            task = snap["longest_task_ms"]
                            record("longest task, snapshot", size, "ms", None, side, task)
                print(
                    f"  {nodes[size]:,} nodes: done ({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
        finally:
            browser.close()

    order = ["snapshot time", "mutation time, append", "mutation time, text"]
    order += ["snapshot bytes", "mutation bytes", "longest task, snapshot"]
    table = sorted(metrics.values(), key=lambda m: (order.index(m.name), m.size))
    print()
    print(render(table, nodes))
    print()
    dom = ", ".join(
        f"{kind} {statistics.median(s[kind]['dom_ms'] for s in samples):.1f} ms"
        for kind in ("append", "text")
    )
    print(LEGEND.format(runs=args.runs, rrweb=rrweb_version, dom=f"median: {dom}"))
    gz = len(gzip.compress(ours_js, compresslevel=9))
    verdict = "met" if gz <= BUNDLE_BUDGET else "NOT met"
    print(
        f"Recorder bundle: sdk-js/dist/phi-replay.min.js {len(ours_js):,} bytes, "
        f"{gz:,} bytes gzip (budget {BUNDLE_BUDGET:,} bytes = 15 KB): {verdict}"
    )
    for leak in sorted(leaks):
        print(f"WARNING: unmasked synthetic text in the {leak} output")
    print(f"Total time: {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(samples, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
