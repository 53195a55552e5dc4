"""Where a recorder's main-thread time goes in one scenario: a CDP CPU profile.

    .venv/bin/python -m bench.cdp_profile                     # ours, mixed burst, 3 runs
    .venv/bin/python -m bench.cdp_profile --side rrweb --scenario snapshot

Builds a non-minified copy of the recorder with a source map into a temporary
directory (esbuild from sdk-js/src/index.ts, the same options as sdk-js/scripts/
build.mjs but no minification; nothing is written to the repository), loads the same
page the benchmark uses, runs the scenarios before the profiled one as the benchmark
does, and wraps the profiled scenario's window in Profiler.start / Profiler.stop.
Self time is aggregated over the runs and mapped back to `sdk-js/src/...:line`.
A sampling profiler slows the page down; read shares, not absolute times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, sync_playwright

from bench.cdp_sourcemap import SourceMap
from bench.cdp_tasks import TaskClock
from bench.cdp_trace import CATEGORIES, main_thread_split
from bench.recorder import (
    BROWSER_ARGS,
    CLINICAL,
    GLOBALS,
    HARNESS,
    MIXED,
    PAGE_TIMEOUT_MS,
    ROOT,
    RRWEB_DIR,
    SCRIPTS,
    PageSpec,
    build_files,
    running_server,
)
from bench.recorder_report import BASELINE
from e2e.browser import chromium_path

SDK = ROOT / "sdk-js"
ESBUILD = SDK / "node_modules/.bin/esbuild"
# rrweb's own non-minified build, with its source map (into rrweb's TypeScript sources).
RRWEB_PLAIN = RRWEB_DIR / "dist/rrweb.umd.cjs"
# V8's sampling interval; 100 µs gives a few thousand samples per mixed burst.
DEFAULT_INTERVAL_US = 100
# Names V8 gives to time spent outside JavaScript functions.
ENGINE = {"(garbage collector)": "GC", "(program)": "engine (not JS)", "(idle)": "idle"}


def build_plain(out: Path) -> tuple[Path, Path]:
    """The recorder IIFE, not minified, with a source map; returns (script, map)."""
    script = out / "phi-replay.js"
    command = [
        str(ESBUILD),
        "src/index.ts",
        "--bundle",
        "--format=iife",
        "--global-name=PhiReplay",
        "--target=es2019",
        "--platform=browser",
        "--legal-comments=none",
        "--log-level=warning",
        "--sourcemap",
        "--banner:js=//# allFunctionsCalledOnLoad",
        f"--outfile={script}",
    ]
    subprocess.run(command, cwd=SDK, check=True)  # noqa: S603 (our own esbuild, fixed args)
    return script, script.with_name(script.name + ".map")


FunctionKey = tuple[str, str, int, int]  # name, script URL, 0-based line and column


@dataclass
class Tally:
    """Sampled time of one side's profiles, summed over runs, in ms."""

    script_url: str
    runs: int = 0
    window_ms: list[float] = field(default_factory=list)
    sampled_ms: float = 0.0
    # Time by where it went: the recorder (its JS, and native calls it made), the page
    # and harness (the burst itself), GC, the engine outside JS (style, layout, paint,
    # MutationObserver delivery, ...), idle.
    groups: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    self_ms: dict[FunctionKey, float] = field(default_factory=lambda: defaultdict(float))
    # Native functions (DOM, URL, ...) by the recorder function that called them.
    native_ms: dict[tuple[str, FunctionKey], float] = field(
        default_factory=lambda: defaultdict(float)
    )
    # Recorder functions: time with them anywhere on the stack (callees included).
    inclusive_ms: dict[FunctionKey, float] = field(default_factory=lambda: defaultdict(float))
    # Self time by 1-based line of the bundle, per function.
    line_ms: dict[FunctionKey, dict[int, float]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(float))
    )

    def add(self, profile: dict[str, Any]) -> None:
        self.runs += 1
        nodes = {n["id"]: n for n in profile["nodes"]}
        parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}

        def key(node_id: int) -> FunctionKey:
            f = nodes[node_id]["callFrame"]
            return (f["functionName"], f["url"], f["lineNumber"], f["columnNumber"])

        def stack(node_id: int) -> list[FunctionKey]:
            keys = []
            at: int | None = node_id
            while at is not None:
                keys.append(key(at))
                at = parent.get(at)
            return keys

        self_us: dict[int, float] = defaultdict(float)
        samples, deltas = profile["samples"], profile["timeDeltas"]
        # Sample i lasts until sample i+1 is taken.
        for i, node_id in enumerate(samples):
            self_us[node_id] += deltas[i + 1] if i + 1 < len(deltas) else 0
        for node_id, us in self_us.items():
            ms = us / 1000
            self.sampled_ms += ms
            frames = stack(node_id)
            own = frames[0]
            self.self_ms[own] += ms
            caller = next((f for f in frames if f[1]), None)  # nearest frame with a script
            if own[0] in ENGINE:
                self.groups[ENGINE[own[0]]] += ms
            elif caller is not None and caller[1] == self.script_url:
                native = not own[1]
                self.groups["recorder: native calls" if native else "recorder: JS"] += ms
                if native:
                    self.native_ms[(own[0], caller)] += ms
            elif caller is not None:
                self.groups["page and harness (the DOM change itself)"] += ms
            else:
                self.groups["engine (not JS)"] += ms
            for f in set(frames):
                if f[1] == self.script_url:
                    self.inclusive_ms[f] += ms
            ticks = nodes[node_id].get("positionTicks") or []
            total = sum(t["ticks"] for t in ticks)
            for t in ticks:
                self.line_ms[own][t["line"]] += ms * t["ticks"] / total


def profiled_run(
    browser: Browser,
    base: str,
    side: str,
    spec: PageSpec,
    scenario: str,
    how: str,
    interval_us: int,
) -> tuple[dict[str, Any], float]:
    """One fresh page: the scenarios up to `scenario`, that one's window under the CPU
    profiler (`how` = 'profile': returns the profile) or traced ('trace': the main
    thread's split, cdp_trace.main_thread_split); also its CDP TaskDuration in ms."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        context.add_init_script(path=str(HARNESS))
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        page = context.new_page()
        page.goto(f"{base}/{side}-{spec.nodes}.html", wait_until="load")
        page.wait_for_function(f"() => !!window.{GLOBALS[side]}")
        clock = TaskClock(page)
        cdp = clock.cdp
        page.wait_for_timeout(300)
        for kind in spec.scenarios[: spec.scenarios.index(scenario) + 1]:
            page.evaluate("(kind) => __bench.prepare(kind)", kind)
            page.evaluate("() => __bench.collectGarbage()")
            measured = kind == scenario
            if measured and how == "profile":
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": interval_us})
                cdp.send("Profiler.start")
            elif measured:
                browser.start_tracing(page=page, categories=CATEGORIES)
            before = clock.read()
            page.evaluate("([s, k, ep]) => __bench.run(s, k, ep)", [side, kind, base])
            task_ms = clock.since(before)["TaskDuration"]
            if measured and how == "profile":
                profile: dict[str, Any] = cdp.send("Profiler.stop")["profile"]
                return profile, task_ms
            if measured:
                return main_thread_split(json.loads(browser.stop_tracing())), task_ms
            page.evaluate("() => __bench.result()")
        raise AssertionError("unreachable: the scenario is in the page's list")
    finally:
        context.close()


def split_report(splits: dict[str, list[dict[str, float]]], side: str) -> str:
    """Median ms per kind of main-thread work, this side against the baseline."""
    kinds = list(splits[side][0])
    out = [f"  {'kind':24} {side:>8} {'baseline':>9} {'difference':>11}"]
    for kind in kinds:
        ours = statistics.median(s[kind] for s in splits[side])
        base = statistics.median(s[kind] for s in splits[BASELINE])
        out.append(f"  {kind:24} {ours:8.1f} {base:9.1f} {ours - base:+11.1f}")
    return "\n".join(out)


def report(tally: Tally, baseline: Tally | None, smap: SourceMap, top: int, lines: int) -> str:
    runs = tally.runs
    url = tally.script_url
    out: list[str] = []

    def where(key: FunctionKey) -> str:
        origin = smap.lookup(key[2], key[3]) if key[1] == url else None
        return f"{origin.source}:{origin.line}" if origin else key[1].rsplit("/", 1)[-1]

    def name(key: FunctionKey) -> str:
        return key[0] or "(anonymous)"

    window = statistics.median(tally.window_ms)
    out.append(
        f"Window task time (CDP TaskDuration, profiler on), median {window:.0f} ms per run;"
        f" sampled {tally.sampled_ms / runs:.0f} ms per run:"
    )
    names = sorted(set(tally.groups) | set(baseline.groups if baseline else ()))
    names.sort(key=lambda g: -tally.groups.get(g, 0.0))
    header = "  ms per run  " + ("baseline  difference  " if baseline else "") + "where"
    out.append(header)
    for group in names:
        ms = tally.groups.get(group, 0.0) / runs
        if baseline:
            base = baseline.groups.get(group, 0.0) / baseline.runs
            out.append(f"  {ms:10.1f}  {base:8.1f}  {ms - base:+10.1f}  {group}")
        else:
            out.append(f"  {ms:10.1f}  {group}")

    recorder = {k: v / runs for k, v in tally.self_ms.items() if k[1] == url}
    natives = {k: v / runs for k, v in tally.native_ms.items()}
    own_total = sum(recorder.values()) + sum(natives.values()) or 1.0
    by_file: dict[str, float] = defaultdict(float)
    for key, ms in recorder.items():
        by_file[where(key).rsplit(":", 1)[0]] += ms
    for (_, caller), ms in natives.items():
        by_file[where(caller).rsplit(":", 1)[0]] += ms
    out.append("")
    out.append("Recorder time per source file (self time plus native calls made from it):")
    for file, ms in sorted(by_file.items(), key=lambda kv: -kv[1]):
        out.append(f"  {ms:8.1f} ms  {100 * ms / own_total:5.1f} %  {file}")

    out.append("")
    out.append(f"Top {top} recorder entries by self time (ms per run, % of recorder time):")
    entries: list[tuple[float, str, str]] = [(ms, name(k), where(k)) for k, ms in recorder.items()]
    for (native, caller), ms in natives.items():
        entries.append((ms, f"{native} (native) <- {name(caller)}", where(caller)))
    for ms, label, place in sorted(entries, reverse=True)[:top]:
        out.append(f"  {ms:8.1f} ms  {100 * ms / own_total:5.1f} %  {label:44} {place}")

    out.append("")
    out.append("Recorder functions by inclusive time (callees included; ms per run):")
    inclusive = sorted(tally.inclusive_ms.items(), key=lambda kv: -kv[1])[:top]
    for key, ms in inclusive:
        out.append(f"  {ms / runs:8.1f} ms  {name(key):32} {where(key)}")

    out.append("")
    out.append("Hottest lines of the top recorder functions (self time, ms per run):")
    for key, _ in sorted(recorder.items(), key=lambda kv: -kv[1])[:lines]:
        out.append(f"  {name(key)} ({where(key)}):")
        for line, ms in sorted(tally.line_ms[key].items(), key=lambda kv: -kv[1])[:4]:
            origin = smap.lookup(line - 1)
            if origin is not None and ms / runs >= 0.1:
                text = smap.source_line(origin)[:72]
                out.append(f"    {ms / runs:6.1f} ms  {origin.source}:{origin.line}  {text}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--side", choices=("ours", "rrweb"), default="ours")
    parser.add_argument(
        "--scenario", choices=("snapshot", "append", "text", "mixed"), default="mixed"
    )
    parser.add_argument("--nodes", type=int, help="page size (default: 30,000 for mixed)")
    parser.add_argument("--runs", type=int, default=3, help="fresh pages, profiles summed")
    parser.add_argument("--interval-us", type=int, default=DEFAULT_INTERVAL_US)
    parser.add_argument("--top", type=int, default=25, help="functions listed")
    parser.add_argument("--lines", type=int, default=8, help="functions whose lines are listed")
    args = parser.parse_args(argv)
    scenarios = MIXED if args.scenario == "mixed" else CLINICAL
    nodes = args.nodes or (30_000 if args.scenario == "mixed" else 50_000)
    spec = PageSpec(nodes, scenarios)

    with tempfile.TemporaryDirectory(prefix="phi-replay-profile-") as tmp:
        if args.side == "ours":
            script, map_path = build_plain(Path(tmp))
        else:
            script, map_path = RRWEB_PLAIN, RRWEB_PLAIN.with_name(RRWEB_PLAIN.name + ".map")
        smap = SourceMap(map_path, ROOT)
        # The benchmark's pages, with the profiled side's script swapped for the plain one.
        files = build_files([spec], b"")
        files[SCRIPTS[args.side]] = (script.read_bytes(), "text/javascript; charset=utf-8")
        sides = (args.side, BASELINE)
        splits: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
        with sync_playwright() as pw, running_server(files) as base:
            tallies = {side: Tally(f"{base}{SCRIPTS[args.side]}") for side in sides}
            browser = pw.chromium.launch(executable_path=chromium_path(), args=BROWSER_ARGS)
            try:
                # Each side on its own pages: profiled, then traced (not both at once, so
                # that neither instrument's overhead lands in the other's figures). The
                # baseline runs the same scenario with no recorder.
                for _ in range(args.runs):
                    for side in sides:
                        run = (browser, base, side, spec, args.scenario)
                        profile, task_ms = profiled_run(*run, "profile", args.interval_us)
                        tallies[side].add(profile)
                        tallies[side].window_ms.append(task_ms)
                        split, _ = profiled_run(*run, "trace", args.interval_us)
                        splits[side].append(split)
            finally:
                browser.close()
        print(
            f"CPU profile: {args.side}, {args.scenario} on the {nodes:,}-node page, "
            f"{args.runs} runs, sampling every {args.interval_us} µs "
            f"({'non-minified build of sdk-js/src' if args.side == 'ours' else 'rrweb.umd.cjs'})"
        )
        print()
        print("Main thread by kind of work (Chromium trace of the same window, median ms):")
        print(split_report(splits, args.side))
        print()
        print(report(tallies[args.side], tallies[BASELINE], smap, args.top, args.lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
