"""Collector load benchmark: N concurrent recorder sessions against the collector and
against a bare WebSocket receiver, in the same run.

    .venv/bin/python -m bench.collector [--sizes 500,2000,5000] [--seconds 20] [--json FILE]

For each N, each server is started fresh on a free 127.0.0.1 port (the collector with
`serve --dev` on a temporary data directory), and bench.loadgen, in its own process,
drives it. See bench/README.md for what is measured and how to read the table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.loadgen import batch_frame, raise_nofile, synthetic_events
from collector.protocol import decode, parse_batch
from collector.testing import free_port, running_collector, running_process

SERVERS = ("bare", "collector")
# Targets from issue 4.
TARGET_HELD = 5000  # concurrent sessions held by one collector
TARGET_P99_MS = 100.0  # p99 ack latency at TARGET_P99_AT sessions
TARGET_P99_AT = 2000
TARGET_RATIO = 0.5  # collector throughput / bare receiver throughput, at capacity
FDS_PER_SESSION = 1  # one socket per session at each end (generator and server)
FD_MARGIN = 1000  # log files, SQLite, segment files being appended, Python itself
GENERATOR_GRACE_SECONDS = 90  # start-up, closing sockets, writing results


def check_frames() -> None:
    """Every synthetic batch must pass the collector's own schema, or the run means nothing."""
    snapshots, incrementals = synthetic_events()
    for seq, events in enumerate([*snapshots, *incrementals], start=1):
        parse_batch(decode(batch_frame(seq, events)))


@contextlib.contextmanager
def running_server(kind: str, workdir: Path, bare_workers: int = 1) -> Iterator[tuple[int, str]]:
    """(pid, ws url) of a fresh server of `kind`; stopped on exit, whatever happened."""
    if kind == "collector":
        # One load generator on loopback stands for thousands of clients: lift the
        # per-address connection cap (docs/operations.md) that would refuse all but 200.
        config = workdir / "bench.toml"
        config.write_text("max_connections_per_address = 1000000\n", encoding="utf-8")
        with running_collector(workdir / "data", "--config", config) as server:
            yield server.proc.pid, server.ws_url
        return
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare_receiver", "--port", str(port)]
    argv += ["--workers", str(bare_workers)]
    health = f"http://127.0.0.1:{port}/healthz"
    with running_process(argv, health, workdir / "bare.log") as proc:
        yield proc.pid, f"ws://127.0.0.1:{port}/v1/ingest"


def run_generator(args: argparse.Namespace, n: int, pid: int, url: str, out: Path) -> Any:
    argv = [sys.executable, "-m", "bench.loadgen", "--url", url, "--sessions", str(n)]
    argv += ["--server-pid", str(pid), "--out", str(out), "--seconds", str(args.seconds)]
    argv += ["--flood-seconds", str(args.flood_seconds), "--ramp", str(args.ramp)]
    argv += ["--snapshot-concurrency", str(args.snapshot_concurrency)]
    argv += ["--settle-timeout", str(args.settle_timeout), "--warmup", str(args.warmup)]
    argv += ["--deflate"] if args.deflate else []
    budget = n / args.ramp + args.settle_timeout + args.warmup + args.seconds + args.flood_seconds
    proc = subprocess.Popen(argv)  # noqa: S603 (our own module; progress goes to our stderr)
    try:
        proc.wait(timeout=budget + GENERATOR_GRACE_SECONDS)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"load generator exited with {proc.returncode}")
    return json.loads(out.read_text())


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(results: dict[tuple[int, str], Any]) -> str:
    header = (
        "sessions",
        "server",
        "held",
        "paced b/s",
        "MB/s",
        "p50 ms",
        "p99 ms",
        "backlog",
        "flood b/s",
        "MB/s",
        "p99 ms",
        "flood CPU%",
        "RSS MB",
        "KB/conn",
        "paced CPU%",
    )
    rows: list[tuple[str, ...]] = []
    for (n, kind), r in sorted(results.items()):
        paced, flood = r["paced"], r["flood"] or {}
        held = paced["held"]
        per_conn = (r["rss_paced_kb"] - r["rss_base_kb"]) / held if held else None
        rows.append(
            (
                f"{n:,}",
                kind,
                f"{held:,}",
                fmt(paced["batches_per_s"]),
                fmt(paced["mb_per_s"], 1),
                fmt(paced["p50_ms"], 1),
                fmt(paced["p99_ms"], 1),
                f"{paced['backlog']:,}",
                fmt(flood.get("batches_per_s")),
                fmt(flood.get("mb_per_s"), 1),
                fmt(flood.get("p99_ms")),
                f"{fmt(flood.get('cpu_server_pct'))}/{fmt(flood.get('cpu_generator_pct'))}",
                f"{r['rss_base_kb'] / 1024:.0f}→{r['rss_paced_kb'] / 1024:.0f}",
                fmt(per_conn, 1),
                f"{paced['cpu_server_pct']:.0f}/{paced['cpu_generator_pct']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def render_ramp(results: dict[tuple[int, str], Any]) -> str:
    lines = []
    for (n, kind), r in sorted(results.items()):
        failures = ", ".join(f"{k} {v}" for k, v in {**r["failures"], **r["errors"]}.items())
        lines.append(
            f"  {n:>5,} {kind:<9}  {r['snapshots_acked']:,} snapshots acked in "
            f"{r['settle_s']:.0f} s (ramp {r['ramp_s']:.0f} s; CPU srv/gen "
            f"{r['ramp']['cpu_server_pct']:.0f}/{r['ramp']['cpu_generator_pct']:.0f} %), ack p50 "
            f"{fmt(r['snapshot_p50_ms'])} ms, p99 {fmt(r['snapshot_p99_ms'])} ms; peak RSS "
            f"{r['rss_hwm_kb'] / 1024:.0f} MB; generator loop lag p99 "
            f"{r['paced']['lag_p99_ms']:.0f} ms" + (f"; failures: {failures}" if failures else "")
        )
    return "\n".join(lines)


def verdicts(results: dict[tuple[int, str], Any], sizes: list[int]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    out = []
    held = results.get((TARGET_HELD, "collector"))
    if held is None:
        out.append(f"{TARGET_HELD:,} concurrent sessions held: not measured (add it to --sizes)")
    else:
        n = held["paced"]["held"]
        out.append(f"{TARGET_HELD:,} concurrent sessions held: {n:,}: {verdict(n >= TARGET_HELD)}")
    at = results.get((TARGET_P99_AT, "collector"))
    if at is None:
        out.append(f"p99 ack latency < {TARGET_P99_MS:.0f} ms at {TARGET_P99_AT:,}: not measured")
    else:
        p99 = at["paced"]["p99_ms"]
        ok = p99 is not None and p99 < TARGET_P99_MS and at["paced"]["held"] >= TARGET_P99_AT
        out.append(
            f"p99 ack latency < {TARGET_P99_MS:.0f} ms at {TARGET_P99_AT:,} sessions: "
            f"{fmt(p99, 1)} ms: {verdict(ok)}"
        )
    for n in sizes:
        ours, bare = results.get((n, "collector")), results.get((n, "bare"))
        if not (ours and bare and ours["flood"] and bare["flood"]):
            continue
        ratio = ours["flood"]["batches_per_s"] / bare["flood"]["batches_per_s"]
        paced = ours["paced"]["batches_per_s"] / bare["paced"]["batches_per_s"]
        out.append(
            f"throughput >= {TARGET_RATIO}x bare at {n:,} sessions (flood): {ratio:.2f}x: "
            f"{verdict(ratio >= TARGET_RATIO)}  (paced: {paced:.2f}x of the offered load bare took)"
        )
    return out


LEGEND = """\
Per N and server: held = sessions connected and acked during the paced window; paced =
{seconds:.0f} s of steady state, each session sending a ~{inc:.1f} KB batch a second without
waiting for acks (acks received per second, MB/s of those batches' frames); p50/p99 = send
→ ack of those batches, measured in the generator; backlog = batches still unacked at the
window's end. flood = {flood:.0f} s in which every session sends its next batch as soon as the
previous one is acked (capacity; the ratio uses this). RSS MB = server VmRSS before the
first connection → at the end of the paced window; KB/conn = the difference per held
session. CPU% = server/generator CPU in that window (100 = one core; this machine has
{cores}, and the generator shares them with the server).
Snapshots (~{snap:.0f} KB each) go out at most {conc} at a time, sessions open at {ramp:.0f}/s.
The bare receiver runs {bare_workers} event-loop process(es) (--bare-workers).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="500,2000,5000", help="concurrent sessions per run")
    parser.add_argument("--seconds", type=float, default=20.0, help="paced steady-state window")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="capacity window")
    parser.add_argument("--ramp", type=float, default=200.0, help="new sessions per second")
    parser.add_argument("--snapshot-concurrency", type=int, default=32, help="snapshots in flight")
    parser.add_argument("--settle-timeout", type=float, default=60.0, help="wait for snapshots")
    parser.add_argument("--warmup", type=float, default=3.0, help="steady seconds before paced")
    parser.add_argument("--servers", default=",".join(SERVERS), help="bare,collector")
    parser.add_argument("--deflate", action="store_true", help="use permessage-deflate")
    parser.add_argument(
        "--bare-workers", type=int, default=1, help="event-loop processes of the bare receiver"
    )
    parser.add_argument("--json", type=Path, help="also write every result to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    servers = [s for s in args.servers.split(",") if s]
    if not set(servers) <= set(SERVERS):
        parser.error(f"--servers: expected some of {','.join(SERVERS)}")

    nofile = raise_nofile()  # the servers inherit the raised limit
    needed = max(sizes) * FDS_PER_SESSION + FD_MARGIN
    print(f"open-files limit {nofile:,} per process (the largest run needs about {needed:,})")
    if nofile < needed:
        print("WARNING: the limit is too low for the largest size; sessions will fail")
    check_frames()
    snapshots, incrementals = synthetic_events()
    results: dict[tuple[int, str], Any] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phi-bench-") as tmp:
        for n in sizes:
            for kind in servers:
                workdir = Path(tmp) / f"{kind}-{n}"
                workdir.mkdir()
                print(f"{n:,} sessions, {kind}:", file=sys.stderr, flush=True)
                with running_server(kind, workdir, args.bare_workers) as (pid, url):
                    out = workdir / "result.json"
                    results[(n, kind)] = run_generator(args, n, pid, url, out)
                print(f"  ({time.monotonic() - started:.0f} s so far)", file=sys.stderr)
    print()
    print(render(results))
    print()
    print(render_ramp(results))
    print()
    print(
        LEGEND.format(
            seconds=args.seconds,
            flood=args.flood_seconds,
            inc=sum(map(len, incrementals)) / len(incrementals) / 1000,
            snap=sum(map(len, snapshots)) / len(snapshots) / 1000,
            conc=args.snapshot_concurrency,
            ramp=args.ramp,
            cores=os.cpu_count(),
            bare_workers=args.bare_workers,
        )
    )
    for line in verdicts(results, sizes):
        print(line)
    print(f"Total time: {time.monotonic() - started:.0f} s")
    if args.json:
        rows = [{"sessions": n, "server": kind, **r} for (n, kind), r in results.items()]
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
