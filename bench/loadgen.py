"""Load generator for bench.collector: N recorder-like sessions against one server.

    python -m bench.loadgen --url ws://127.0.0.1:PORT/v1/ingest --sessions 500 \
        --server-pid PID --out result.json

Runs in its own process (bench.collector starts it), with one asyncio loop. Phases:

1. ramp: open sessions at `--ramp` per second; each sends hello, then its ~300 KB
   snapshot batch (at most `--snapshot-concurrency` snapshots in flight, across all
   sessions), then one ~2 KB batch a second, not waiting for acks, as the recorder does.
2. paced: `--seconds` of steady state once every session has its snapshot acked (or
   `--settle-timeout` has passed): throughput, ack latency, server CPU and RSS.
3. flood: every session sends its next batch as soon as the previous one is acked
   (one in flight per session), for `--flood-seconds`: the server's capacity.

Writes one JSON object (see `Generator.result`) to `--out`; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State
from websockets.typing import Origin

from bench.synthetic import BASE_TS, dumps, full_snapshot, incremental_batch

ORIGIN = Origin("http://127.0.0.1:5999")  # on the dev instance's allow-list
SNAPSHOT_BYTES = 300_000  # the "~300 KB" full snapshot
SNAPSHOT_VARIANTS = 4  # distinct snapshots, shared by all sessions (generator memory)
INCREMENTAL_VARIANTS = 64  # distinct ~2 KB batches, cycled by seq
LAG_PROBE_SECONDS = 0.05  # how often the generator checks its own event-loop lag
PROGRESS_SECONDS = 5.0  # stderr progress line during the ramp
FLOOD_WARMUP_SECONDS = 1.0  # paced sessions wake up and switch to flooding first
CLOSE_SECONDS = 15.0  # bound on closing every socket at the end
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_nofile() -> int:
    """Raise the soft open-files limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def process_tree(pid: int) -> list[int]:
    """A process and its descendants: the collector's validation workers count too."""
    found, i = [pid], 0
    while i < len(found):
        for task in Path(f"/proc/{found[i]}/task").glob("*"):
            try:
                found.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue  # the thread or process is gone
        i += 1
    return found


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/PID/status (e.g. VmRSS, VmHWM), summed over the process tree."""
    total = 0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(x.split()[1]) for x in lines if x.startswith(key + ":")), 0)
    return total


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process tree, all threads (fields 14 and 15 of stat).
    A child that exits within a phase takes its time with it: the collector's don't."""
    total = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


@dataclass
class Phase:
    """Acks received while a phase was current, and what both processes spent on them."""

    name: str
    started: float
    ended: float = 0.0
    acks: int = 0
    bytes: int = 0
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    acking: set[int] = field(default_factory=set)
    cpu_server: float = 0.0
    cpu_generator: float = 0.0

    def summary(self, held: int | None = None, backlog: int | None = None) -> dict[str, Any]:
        seconds = self.ended - self.started
        p50, p99 = percentile(self.latencies, 0.5), percentile(self.latencies, 0.99)
        return {
            "seconds": seconds,
            "acks": self.acks,
            "sent": self.sent,
            "batches_per_s": self.acks / seconds,
            "mb_per_s": self.bytes / seconds / 1e6,
            "p50_ms": None if p50 is None else p50 * 1000,
            "p99_ms": None if p99 is None else p99 * 1000,
            "max_ms": max(self.latencies) * 1000 if self.latencies else None,
            "lag_p99_ms": (percentile(self.lags, 0.99) or 0.0) * 1000,
            "cpu_server_pct": 100 * (self.cpu_server) / seconds,
            "cpu_generator_pct": 100 * (self.cpu_generator) / seconds,
            "held": held,
            "backlog": backlog,
        }


def synthetic_events() -> tuple[list[str], list[str]]:
    """The JSON `events` arrays the sessions send: snapshots (seq 1) and later batches."""
    snapshots = [full_snapshot(SNAPSHOT_BYTES, seed) for seed in range(SNAPSHOT_VARIANTS)]
    max_id = min(top for _, top in snapshots)
    rng = random.Random(1)  # noqa: S311 (reproducible synthetic data)
    # Timestamps repeat every INCREMENTAL_VARIANTS seconds: the collector does not care.
    incrementals = [
        dumps(incremental_batch(rng, max_id, BASE_TS + 1000 * (k + 1)))
        for k in range(INCREMENTAL_VARIANTS)
    ]
    return [dumps(events) for events, _ in snapshots], incrementals


def batch_frame(seq: int, events: str) -> str:
    return f'{{"type":"batch","seq":{seq},"events":{events}}}'


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server_pid: int = args.server_pid
        self.snapshot_slots = asyncio.Semaphore(args.snapshot_concurrency)
        self.snapshots, self.incrementals = synthetic_events()
        self.phase = Phase("ramp", time.monotonic())
        self._cpu_at_start = (0.0, 0.0)
        self.snapshot_latencies: list[float] = []
        self.flood = False
        self.connected = 0
        self.ready = 0
        self.lost_before_ready = 0
        self.sessions: list[Session] = []
        self.failures: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def frame(self, index: int, seq: int) -> str:
        if seq == 1:
            events = self.snapshots[index % SNAPSHOT_VARIANTS]
        else:
            events = self.incrementals[(index + seq) % INCREMENTAL_VARIANTS]
        return batch_frame(seq, events)

    def cpu(self) -> tuple[float, float]:
        own = os.times()
        return proc_cpu_seconds(self.server_pid), own.user + own.system

    def start_phase(self, name: str) -> Phase:
        self.phase = Phase(name, time.monotonic())
        self._cpu_at_start = self.cpu()
        return self.phase

    def end_phase(self) -> Phase:
        phase = self.phase
        phase.ended = time.monotonic()
        server, own = self.cpu()
        phase.cpu_server = server - self._cpu_at_start[0]
        phase.cpu_generator = own - self._cpu_at_start[1]
        self.phase = Phase("between", phase.ended)
        return phase

    def held(self, phase: Phase) -> int:
        """Sessions that got an ack during the phase and are still open at its end."""
        return sum(1 for i in phase.acking if self.sessions[i].open)

    def backlog(self) -> int:
        return sum(len(s.in_flight) for s in self.sessions)

    async def probe_lag(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_PROBE_SECONDS)
            self.phase.lags.append(max(0.0, time.monotonic() - before - LAG_PROBE_SECONDS))

    async def run(self) -> dict[str, Any]:
        args = self.args
        rss_base = proc_status_kb(self.server_pid, "VmRSS")
        ramp = self.start_phase("ramp")
        lag_probe = asyncio.create_task(self.probe_lag())
        started = time.monotonic()
        tasks: list[asyncio.Task[None]] = []
        next_progress = started + PROGRESS_SECONDS
        for i in range(args.sessions):
            session = Session(self, i)
            self.sessions.append(session)
            tasks.append(asyncio.create_task(session.run()))
            delay = started + (i + 1) / args.ramp - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() > next_progress:
                self.progress(started)
                next_progress += PROGRESS_SECONDS
        ramp_done = time.monotonic()
        deadline = ramp_done + args.settle_timeout
        while self.ready + self.lost_before_ready < args.sessions:
            if time.monotonic() > deadline:
                print("settle timeout: measuring with the sessions that are ready", file=sys.stderr)
                break
            await asyncio.sleep(0.1)
            if time.monotonic() > next_progress:
                self.progress(started)
                next_progress += PROGRESS_SECONDS
        settled = time.monotonic()
        self.progress(started)
        # Let the backlog the snapshots left behind drain, so the window is steady state.
        while self.backlog() > args.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(args.warmup)
        self.end_phase()

        paced = self.start_phase("paced")
        await asyncio.sleep(args.seconds)
        self.end_phase()
        paced_held, paced_backlog = self.held(paced), self.backlog()
        rss_paced = proc_status_kb(self.server_pid, "VmRSS")
        print(f"paced window done: {paced.acks} acks, {paced_held} held", file=sys.stderr)

        flood: Phase | None = None
        if args.flood_seconds > 0:
            self.flood = True
            await asyncio.sleep(FLOOD_WARMUP_SECONDS)
            flood = self.start_phase("flood")
            await asyncio.sleep(args.flood_seconds)
            self.end_phase()
            print(f"flood window done: {flood.acks} acks", file=sys.stderr)
        rss_hwm = proc_status_kb(self.server_pid, "VmHWM")

        lag_probe.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=CLOSE_SECONDS)
        snap_p50 = percentile(self.snapshot_latencies, 0.5)
        snap_p99 = percentile(self.snapshot_latencies, 0.99)
        return {
            "sessions": args.sessions,
            "connected": self.connected,
            "ready": self.ready,
            "failures": dict(self.failures),
            "errors": dict(self.errors),
            "ramp_s": ramp_done - started,
            "settle_s": settled - started,
            "snapshots_acked": len(self.snapshot_latencies),
            "snapshot_p50_ms": None if snap_p50 is None else snap_p50 * 1000,
            "snapshot_p99_ms": None if snap_p99 is None else snap_p99 * 1000,
            "snapshot_bytes": [len(s) for s in self.snapshots],
            "incremental_bytes_mean": sum(map(len, self.incrementals)) / INCREMENTAL_VARIANTS,
            "ramp": ramp.summary(),
            "paced": paced.summary(paced_held, paced_backlog),
            "flood": flood.summary(self.held(flood)) if flood else None,
            "rss_base_kb": rss_base,
            "rss_paced_kb": rss_paced,
            "rss_hwm_kb": rss_hwm,
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        }

    def progress(self, started: float) -> None:
        failed = sum(self.failures.values())
        print(
            f"  {time.monotonic() - started:5.1f} s: {self.connected} connected, "
            f"{self.ready} snapshots acked, {failed} failed",
            file=sys.stderr,
            flush=True,
        )


class Session:
    """One tab: hello, snapshot, then batches; a reader task matches acks to sends."""

    def __init__(self, gen: Generator, index: int) -> None:
        self.gen = gen
        self.index = index
        self.in_flight: dict[int, tuple[float, int, Phase]] = {}
        self.settled = asyncio.Event()  # nothing in flight
        self.open = False
        self.ready = False

    async def run(self) -> None:
        gen = self.gen
        try:
            async with connect(
                gen.args.url,
                origin=ORIGIN,
                compression="deflate" if gen.args.deflate else None,
                proxy=None,
                open_timeout=60,
                ping_interval=None,  # browsers do not ping; keep the wire to our frames
                close_timeout=5,
                max_size=None,
            ) as ws:
                self.open = True
                gen.connected += 1
                await ws.send(self.hello())
                welcome = json.loads(await ws.recv())
                if welcome.get("type") != "welcome":
                    gen.errors[str(welcome.get("code", welcome.get("type")))] += 1
                    return
                reader = asyncio.create_task(self.read(ws))
                try:
                    await self.send_batches(ws)
                finally:
                    reader.cancel()
        except asyncio.CancelledError:
            raise
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
            gen.failures[type(exc).__name__] += 1
        finally:
            if not self.ready:
                gen.lost_before_ready += 1
            if self.open:
                self.open = False
                gen.connected -= 1

    def hello(self) -> str:
        tag = secrets.token_hex(6)
        return dumps(
            {
                "type": "hello",
                "v": 1,
                "app_key": "dev",
                "session_id": f"bench-{self.index:05d}-{tag}",
                "tab_id": f"tab-{tag}",
                "user": "bench.user",
                "environment": "bench",
            }
        )

    async def send(self, ws: ClientConnection, seq: int) -> None:
        frame = self.gen.frame(self.index, seq)
        phase = self.gen.phase
        phase.sent += 1
        self.settled.clear()
        self.in_flight[seq] = (time.monotonic(), len(frame), phase)
        await ws.send(frame)

    async def send_batches(self, ws: ClientConnection) -> None:
        gen = self.gen
        async with gen.snapshot_slots:
            await self.send(ws, 1)
            await self.settled.wait()
        if 1 in self.in_flight:  # woken by the reader: the socket closed first
            gen.failures["closed before snapshot ack"] += 1
            return
        self.ready = True
        gen.ready += 1
        seq = 2
        loop = asyncio.get_running_loop()
        next_at = loop.time() + 1
        while True:
            if gen.flood:
                await self.settled.wait()
            else:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                next_at = max(next_at + 1, loop.time())  # a late loop does not burst
            await self.send(ws, seq)
            seq += 1

    async def read(self, ws: ClientConnection) -> None:
        gen = self.gen
        try:
            async for message in ws:
                now = time.monotonic()
                reply = json.loads(message)
                if reply.get("type") != "ack":
                    gen.errors[str(reply.get("code", reply.get("type")))] += 1
                    continue
                sent = self.in_flight.pop(reply["seq"], None)
                if sent is None:
                    continue
                sent_at, size, _ = sent
                if reply["seq"] == 1:
                    gen.snapshot_latencies.append(now - sent_at)
                else:
                    phase = gen.phase  # counted where the ack arrived
                    phase.acks += 1
                    phase.bytes += size
                    phase.latencies.append(now - sent_at)
                    phase.acking.add(self.index)
                if not self.in_flight:
                    self.settled.set()
        except ConnectionClosed:
            pass
        finally:
            if ws.state is not State.OPEN:
                self.open = False
                self.settled.set()  # let a waiting sender find out the socket is gone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood-seconds", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=200.0, help="new sessions per second")
    parser.add_argument("--snapshot-concurrency", type=int, default=32)
    parser.add_argument("--settle-timeout", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=3.0, help="steady seconds before paced")
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    args = parser.parse_args(argv)
    raise_nofile()
    result = asyncio.run(Generator(args).run())
    args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
