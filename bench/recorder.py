"""Recorder benchmark: phi-replay's recorder against rrweb's record() in one Chromium.

    .venv/bin/python -m bench.recorder [--runs 5] [--sizes 1000,10000,50000]
                                       [--mixed-nodes 30000] [--json FILE]

Each run loads a fresh page in a fresh browser context (cold caches, cold JIT), so the
first snapshot really is the first call, with our recorder, with rrweb's, or with none
(the baseline). Two measurements come from the same runs: renderer main-thread task
time read through CDP (the headline), and in-page performance.now() up to hand-over.
See bench/README.md for how to read the tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from bench.cdp_tasks import DISTURBED_SHARE, TaskClock
from bench.pages import clinical_page
from bench.recorder_report import (
    ALL_SIDES,
    BASELINE,
    Metric,
    cdp_table,
    in_page_table,
    split_table,
)
from e2e.browser import CHROMIUM_ARGS, chromium_path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).with_name("harness.js")
OURS_JS = ROOT / "sdk-js/dist/phi-replay.min.js"
RRWEB_DIR = ROOT / "sdk-js/node_modules/rrweb"
RRWEB_JS = RRWEB_DIR / "dist/rrweb.umd.min.cjs"

# Targets (ARCHITECTURE.md, issue 3), as ratios ours/rrweb (lower is better).
TARGET_TIME = 0.3
TARGET_BYTES = 0.5
# ARCHITECTURE.md: the recorder entry is at most 15 KB gzip (goal 12 KB).
BUNDLE_BUDGET = 15 * 1024
# The waiting at the end of every window, on every side (harness.js, run()): long
# enough for the page to render its change.
SETTLE_MS = 50
# A page whose windows another process disturbed (TaskClock.disturbed) is run again on
# a fresh page, at most this many times.
RETRIES = 1
# Generous per-page limit; a 50,000-node page loads and records in a few seconds.
PAGE_TIMEOUT_MS = 60_000

# One-minute load average above which the run is flagged as shared: the benchmark
# itself keeps about one core busy.
BUSY_LOAD = 1.5

# The e2e flags, plus gc() so the harness can collect garbage before each window.
BROWSER_ARGS = [*CHROMIUM_ARGS, "--js-flags=--expose-gc"]

# The script each side's page loads, and the global that says it has loaded. The
# baseline page loads a script too, so that its DOM is the same as the others'.
SCRIPTS = {"ours": "/phi-replay.min.js", "rrweb": "/rrweb.js", BASELINE: "/baseline.js"}
GLOBALS = {"ours": "PhiReplay", "rrweb": "rrweb", BASELINE: "benchBaseline"}
BASELINE_JS = b"window.benchBaseline = true;\n"

# Scenarios run, in this order, on one fresh page: the clinical pages of --sizes, and
# the page of --mixed-nodes for the mixed burst (its snapshot is a row too).
CLINICAL = ("snapshot", "append", "text")
MIXED = ("snapshot", "mixed")

# Row names of the CDP table, per scenario.
CDP_ROWS = {
    "snapshot": "first snapshot",
    "append": "append 1,000 rows",
    "text": "change 1,000 texts",
    "mixed": "mixed burst",
}


@dataclass(frozen=True)
class PageSpec:
    """One kind of page run: its size, and which scenarios run on it."""

    nodes: int
    scenarios: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{'mixed' if 'mixed' in self.scenarios else 'clinical'}-{self.nodes}"


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


def one_run(
    browser: Browser, base: str, side: str, spec: PageSpec, settle_ms: int = SETTLE_MS
) -> dict[str, Any]:
    """Load a fresh page and run its scenarios, each inside a CDP task-time window."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        context.add_init_script(path=str(HARNESS))
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        page.goto(f"{base}/{side}-{spec.nodes}.html", wait_until="load")
        page.wait_for_function(f"() => !!window.{GLOBALS[side]}")
        clock = TaskClock(page)
        page.wait_for_timeout(300)  # let page-load work (layout, GC) finish before timing
        out: dict[str, Any] = {"nodes": page.evaluate("() => __bench.countNodes()")}
        out["disturbed"] = []
        for kind in spec.scenarios:
            page.evaluate("(kind) => __bench.prepare(kind)", kind)
            page.evaluate("() => __bench.collectGarbage()")
            before = clock.read()
            run = [side, kind, base, settle_ms]
            page.evaluate("([s, k, ep, ms]) => __bench.run(s, k, ep, ms)", run)
            cdp = clock.since(before)
            if clock.disturbed(cdp):
                out["disturbed"].append(kind)
            out[kind] = {**page.evaluate("() => __bench.result()"), "cdp": cdp}
        return out
    finally:
        context.close()


def steady_run(
    browser: Browser, base: str, side: str, spec: PageSpec, settle_ms: int
) -> dict[str, Any]:
    """one_run(), repeated on a fresh page (RETRIES times at most) while another process
    held the CPU in one of its windows; the last attempt is kept either way."""
    for attempt in range(RETRIES + 1):
        r = one_run(browser, base, side, spec, settle_ms)
        r["attempts"] = attempt + 1
        if not r["disturbed"]:
            break
    return r


def rotation(run: int) -> tuple[str, ...]:
    """Which side goes first turns with the run, so none always gets a warmer machine."""
    k = run % len(ALL_SIDES)
    return ALL_SIDES[k:] + ALL_SIDES[:k]


class Results:
    """The rows of both tables, filled one run at a time."""

    def __init__(self) -> None:
        self.cdp: dict[tuple[str, str], Metric] = {}
        self.in_page: dict[tuple[str, str], Metric] = {}
        self.leaks: set[str] = set()
        self.late: set[str] = set()
        self.pages = 0
        self.repeated = 0
        self.disturbed: list[str] = []

    def add(self, spec: PageSpec, label: str, side: str, r: dict[str, Any], last: bool) -> None:
        Table = dict[tuple[str, str], Metric]

        def put(table: Table, name: str, unit: str, target: float | None) -> Metric:
            return table.setdefault((name, spec.key), Metric(name, label, unit, target))

        self.pages += 1
        self.repeated += r["attempts"] > 1
        self.disturbed += [f"{side} {kind} on the {label} page" for kind in r["disturbed"]]
        for kind in spec.scenarios:
            part = r[kind]
            row = put(self.cdp, CDP_ROWS[kind], "ms", TARGET_TIME)
            row.values[side].append(part["cdp"]["TaskDuration"])
            row.split[side].append(part["cdp"])
            row.clean[side].append(kind not in r["disturbed"])
            if part["leaked"]:
                self.leaks.add(f"{side} {kind} on the {label} page")
            if part["extra_tasks"]:
                self.late.add(f"{side} {kind} on the {label} page ({part['extra_tasks']} tasks)")
        if side == BASELINE:
            return
        snap = r["snapshot"]
        put(self.in_page, "snapshot time", "ms", TARGET_TIME).values[side].append(snap["ms"])
        bursts = [k for k in spec.scenarios if k != "snapshot"]
        for kind in bursts:
            put(self.in_page, f"mutation time, {kind}", "ms", TARGET_TIME).values[side].append(
                r[kind]["ms"]
            )
        put(self.in_page, "snapshot bytes", "KB", TARGET_BYTES).values[side].append(snap["bytes"])
        name = "mutation bytes, mixed" if "mixed" in bursts else "mutation bytes"
        mutation_bytes = sum(r[k]["bytes"] for k in bursts)
        put(self.in_page, name, "KB", TARGET_BYTES).values[side].append(mutation_bytes)
        if last:
            task = snap["longest_task_ms"]
            put(self.in_page, "longest task, snapshot", "ms", None).values[side].append(task)


CDP_ORDER = list(CDP_ROWS.values())
IN_PAGE_ORDER = ["snapshot time", "mutation time, append", "mutation time, text"]
IN_PAGE_ORDER += ["mutation time, mixed", "snapshot bytes", "mutation bytes"]
IN_PAGE_ORDER += ["mutation bytes, mixed", "longest task, snapshot"]
BYTES_ROWS = ("snapshot bytes", "mutation bytes", "mutation bytes, mixed")


LEGEND_CDP = """\
CDP task time: Performance.getMetrics TaskDuration (renderer main thread, every task:
script, GC, JSON, style, layout) read before and after each scenario's window, on a
fresh page per run. ours and rrweb are costs: their task time minus the median task
time of the same scenario on the same page with no recorder (baseline, which holds the
page's own DOM work and the window's waiting). Cells: median (min-max) over {runs}
runs; ours/rrweb: ratio of the median costs (min-max of run-by-run ratios).
- first snapshot: start() / record() until the snapshot JSON is handed over.
- append 1,000 rows (18,000 nodes, one DOM call); change 1,000 texts (each longer);
  mixed burst: one task appends 1,500 rich rows ({added_nodes:,} nodes: ids, classes, a
  link, nested badges, an input) and edits {edited_texts:,} texts of the page's table.
- window: gc(), read, [a timer task: the action, then 2 task hops and {settle} ms on
  every side, phi-replay's flush() from a microtask after the change], read.
- ~: a cost (ours or rrweb) is smaller than the baseline's own run-to-run spread
  (max-min), so that row's ratio is mostly noise; more --runs, or the in-page table,
  tell more. [4/5]: one run's window was disturbed by another process and left out.
bytes: UTF-8 JSON handed over (phi-replay: batch frames without the hello; rrweb:
stringified events); mutation bytes = append + text. No compression on either side.
"""

LEGEND_IN_PAGE = """\
In-page performance.now() (same runs): each cell median (min-max), ours/rrweb the ratio
of medians. rrweb {rrweb} record() with maskAllInputs: true, maskTextSelector: '*';
emit does JSON.stringify(event). phi-replay: PhiReplay.start() with default-deny rules
against an in-page WebSocket stub (welcome in a microtask, acks in a later task).
- snapshot time: cold first call → the serialised snapshot is handed over (phi-replay:
  start() → stub send() of the batch holding the FullSnapshot, handshake included;
  rrweb: record() → end of the emit that stringified the FullSnapshot).
- mutation time: end of the DOM change → the last mutation JSON handed over. The DOM
  change itself, the same work for both recorders, is not counted
  ({dom}).
  rrweb serialises in its MutationObserver callback; phi-replay is flushed by a
  microtask queued right after the change (so right after its MutationObserver
  callback) and the time is the stub's send() of the batch.
- longest task: longest PerformanceObserver 'longtask' entry (≥ 50 ms) overlapping the
  snapshot; '<50' means no task reached 50 ms.
What happens after hand-over (GC of the garbage made, layout forced, work deferred to
later tasks) is not in these figures; it is in the CDP table above.
"""


def build_files(specs: list[PageSpec], ours_js: bytes) -> dict[str, tuple[bytes, str]]:
    js = "text/javascript; charset=utf-8"
    files: dict[str, tuple[bytes, str]] = {
        SCRIPTS["ours"]: (ours_js, js),
        SCRIPTS["rrweb"]: (RRWEB_JS.read_bytes(), js),
        SCRIPTS[BASELINE]: (BASELINE_JS, js),
    }
    for spec in specs:
        for side, script in SCRIPTS.items():
            html = clinical_page(spec.nodes, script).encode()
            files[f"/{side}-{spec.nodes}.html"] = (html, "text/html; charset=utf-8")
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="fresh pages per size and side")
    parser.add_argument("--sizes", default="1000,10000,50000", help="target DOM nodes per page")
    parser.add_argument(
        "--mixed-nodes", type=int, default=30_000, help="page for the mixed burst (0: skip it)"
    )
    parser.add_argument(
        "--settle-ms",
        type=int,
        default=SETTLE_MS,
        help="waiting at the end of each window, every side (longer: more deferred GC inside)",
    )
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args(argv)
    specs = [PageSpec(int(s), CLINICAL) for s in args.sizes.split(",") if s.strip()]
    if args.mixed_nodes > 0:
        specs.append(PageSpec(args.mixed_nodes, MIXED))
    if not specs or args.runs < 1:
        parser.error("nothing to run: give --sizes or --mixed-nodes, and --runs of 1 or more")
    largest = max((s.nodes for s in specs if s.scenarios == CLINICAL), default=0)

    if not OURS_JS.is_file():
        print(f"{OURS_JS.relative_to(ROOT)} is missing: run `make setup`", file=sys.stderr)
        return 2
    ours_js = OURS_JS.read_bytes()
    rrweb_version = json.loads((RRWEB_DIR / "package.json").read_text())["version"]
    files = build_files(specs, ours_js)

    results = Results()
    samples: list[dict[str, Any]] = []
    started = time.monotonic()
    with sync_playwright() as pw, running_server(files) as base:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
        try:
            print(
                f"Chromium {browser.version}, rrweb {rrweb_version}, {args.runs} runs per page; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            for spec in specs:
                label = ""
                for run in range(args.runs):
                    for side in rotation(run):
                        r = steady_run(browser, base, side, spec, args.settle_ms)
                        label = f"{r['nodes']:,} nodes"
                        last = spec.nodes == largest and spec.scenarios == CLINICAL
                        results.add(spec, label, side, r, last)
                        samples.append({"page": spec.key, "run": run, "side": side, **r})
                elapsed = time.monotonic() - started
                print(f"  {label} ({spec.key}): done ({elapsed:.0f} s)", flush=True)
        finally:
            browser.close()

    def ordered(table: dict[tuple[str, str], Metric], order: list[str]) -> list[Metric]:
        keys = [s.key for s in specs]
        rows = sorted(table.items(), key=lambda kv: (order.index(kv[0][0]), keys.index(kv[0][1])))
        return [row for _, row in rows]

    gz = len(gzip.compress(ours_js, compresslevel=9))
    times = ordered(results.cdp, CDP_ORDER)
    in_page = ordered(results.in_page, IN_PAGE_ORDER)
    sizes = [m for m in in_page if m.name in BYTES_ROWS]
    mixed = next((s for s in samples if s["page"].startswith("mixed")), None)
    print()
    print("Renderer main-thread task time (CDP), cost over the no-recorder baseline")
    print(cdp_table(times, sizes, gz))
    print()
    mixed_run = mixed["mixed"] if mixed else {"added_nodes": 0, "edited_texts": 0}
    print(LEGEND_CDP.format(runs=args.runs, settle=args.settle_ms, **mixed_run))
    print("Where the task time went: median over the baseline's median, ms (~: within its spread)")
    print(split_table(times))
    print()
    print("In-page performance.now() to hand-over")
    print(in_page_table(in_page))
    print()
    dom = ", ".join(
        f"{kind} {statistics.median(s[kind]['dom_ms'] for s in samples if kind in s):.1f} ms"
        for kind in ("append", "text", "mixed")
        if any(kind in s for s in samples)
    )
    print(LEGEND_IN_PAGE.format(rrweb=rrweb_version, dom=f"median: {dom}"))
    verdict = "met" if gz <= BUNDLE_BUDGET else "NOT met"
    print(
        f"Recorder bundle: sdk-js/dist/phi-replay.min.js {len(ours_js):,} bytes, "
        f"{gz:,} bytes gzip (budget {BUNDLE_BUDGET:,} bytes = 15 KB): {verdict}"
    )
    for leak in sorted(results.leaks):
        print(f"WARNING: unmasked synthetic text in the {leak} output")
    if results.repeated:
        print(
            f"{results.repeated} of {results.pages} pages were run again: another process took "
            f"the CPU in one of their windows (their tasks were preempted for more than "
            f"{DISTURBED_SHARE:.0%} of their time)"
        )
    if results.disturbed:
        print(
            f"{len(results.disturbed)} windows were still disturbed after the retry and are "
            "left out of the CDP figures where at least half of a side's runs were clean "
            "(cells then say [runs used/runs])"
        )
    for late in sorted(results.late):
        print(f"WARNING: the window grew past the common waiting for {late}")
    load = os.getloadavg()[0]
    if load > BUSY_LOAD:
        print(
            f"WARNING: load average {load:.1f} at the end: other processes shared the CPU, "
            "so times are noisier than usual"
        )
    print(f"Total time: {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(samples, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
