"""Pull the plug on the collector again and again while many sessions record.

The promise (issue 4): `kill -9` at any moment loses nothing that was acknowledged and
stores nothing twice. Here a collector process is killed at random moments (some while
it is still starting and cutting torn tails) and restarted on the same port and data
directory, while protocol clients keep sending batches. Each client keeps an ack log,
reconnects after every kill, resumes from `welcome.next_seq` and now and then resends
batches that were already acked. At the end every session must hold exactly seqs 1..k
with the events that were sent (every acked batch among them, decrypted by `export`),
each segment file must hold exactly its indexed records, and the collector log must be
free of tracebacks and errors.

    .venv/bin/python -m tests.crash_soak --cycles 200

`tests/test_crash.py` runs the same scenario, shorter. `serve-with-fault FAULT ...`
starts a collector with a deliberate durability bug, which the tests use to show that
the scenario fails when the promise is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Origin

from collector.testing import cli, free_port, wait_for_http
from tests.wsclient import ALLOWED_ORIGIN, custom, hello, meta

REPO = Path(__file__).resolve().parents[1]
SEGMENT_MAGIC_SIZE = 8  # "PHIRSEG1" opens every segment file (docs/storage.md)
RECONNECT_PAUSE = (0.02, 0.1)  # seconds between a client's connection attempts
REPLY_TIMEOUT = 10.0  # a live collector silent this long has stalled: reconnect
# A kill lands between a segment write and its index commit only some of the time (the
# window is short); runs that need such a kill keep going for up to this many more.
MAX_EXTRA_KILLS = 40
EARLY_ACK_DELAY = 0.2  # the ack-early fault writes a batch this long after acking it
FAULTS = {
    "ack-early": "acks a batch when it arrives and writes it 0.2 s later",
    "keep-tails": "does not cut unindexed segment tails on start",
}


@dataclass(frozen=True)
class Plan:
    sessions: int = 40
    cycles: int = 20  # kills
    seed: int = 0
    window: int = 4  # batches in flight per socket before the client waits for an ack
    up_seconds: tuple[float, float] = (0.2, 1.2)  # a started collector lives this long
    kill_while_starting: float = 0.15  # share of kills aimed at a collector still starting
    batch_gap: tuple[float, float] = (0.005, 0.04)  # seconds between a client's new batches
    resend_acked: float = 0.3  # share of reconnects that first resend a few acked batches
    finish_seconds: float = 60.0  # after the last restart, clients must be done by then
    tails_wanted: int = 0  # keep killing (up to MAX_EXTRA_KILLS more) until this many left a tail
    fault: str | None = None  # run a deliberately broken collector (see FAULTS)


def events_for(session_id: str, seq: int) -> list[dict[str, Any]]:
    """The events of batch `seq`: the same on every resend, as a recorder resends them."""
    rng = random.Random(f"{session_id}:{seq}")  # noqa: S311 (reproducible test data)
    start = 1_795_000_000_000 + seq * 1_000
    events: list[dict[str, Any]] = []
    if seq % 10 == 1:  # a page view now and then, templated as the collector shows it
        events.append(meta(start, href="http://127.0.0.1:5999/patients/:id/visits"))
    for i in range(rng.randint(1, 6)):
        kind = rng.choice(["step", "panel", "action", "route"])
        events.append(custom(start + 1 + i, k=f"{kind}-{seq}-{i}", pad="x" * rng.randint(0, 300)))
    return events


def batch_frame(session_id: str, seq: int) -> str:
    return json.dumps({"type": "batch", "seq": seq, "events": events_for(session_id, seq)})


# -- clients -----------------------------------------------------------------------------


@dataclass
class Stage:
    """Recording until `finish()`; then clients drain and must be done by `finish_by`."""

    finishing: asyncio.Event = field(default_factory=asyncio.Event)
    finish_by: float = float("inf")

    def finish(self, seconds: float) -> None:
        self.finish_by = time.monotonic() + seconds
        self.finishing.set()


@dataclass
class Client:
    """One tab: the batches it made, its ack log, and what each welcome claimed."""

    session_id: str
    rng: random.Random
    tab_id: str = "tab-crash-test"
    highest: int = 0  # batches 1..highest exist on the client
    acked: set[int] = field(default_factory=set)
    durable_floor: int = 0  # a welcome said 1..durable_floor are durable
    connects: int = 0
    resent_unacked: int = 0
    resent_acked: int = 0
    violations: list[str] = field(default_factory=list)
    done: bool = False

    def on_welcome(self, next_seq: int, resend_acked: float) -> deque[int]:
        """Check the welcome against the ack log; return the seqs to send first."""
        top_acked = max(self.acked, default=0)
        if next_seq - 1 < top_acked:
            self.violations.append(
                f"{self.session_id}: welcome.next_seq={next_seq} after seq {top_acked} was acked"
            )
        if next_seq - 1 > self.highest:
            self.violations.append(
                f"{self.session_id}: welcome.next_seq={next_seq}, only {self.highest} made"
            )
        self.durable_floor = max(self.durable_floor, min(next_seq - 1, self.highest))
        queue: deque[int] = deque()
        if self.acked and self.rng.random() < resend_acked:
            queue.extend(sorted(self.rng.sample(sorted(self.acked), min(3, len(self.acked)))))
            self.resent_acked += len(queue)
        resume = range(next_seq, self.highest + 1)  # everything unacked from there on
        self.resent_unacked += len(resume)
        queue.extend(resume)
        return queue

    def complete(self) -> bool:
        return all(s in self.acked or s <= self.durable_floor for s in range(1, self.highest + 1))


async def _reply(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), REPLY_TIMEOUT))
    assert isinstance(message, dict)
    return message


async def _record(ws: ClientConnection, client: Client, plan: Plan, stage: Stage) -> None:
    """One connection: hello, resend, then new batches (`plan.window` in flight) and acks."""
    await ws.send(hello(client.session_id, tab_id=client.tab_id))
    welcome = await _reply(ws)
    if welcome.get("type") != "welcome":
        client.violations.append(f"{client.session_id}: expected a welcome, got {welcome}")
        return
    queue = client.on_welcome(int(welcome["next_seq"]), plan.resend_acked)
    in_flight: set[int] = set()
    next_new_at = time.monotonic()
    while time.monotonic() < stage.finish_by:
        while len(in_flight) < plan.window:
            if queue:
                seq = queue.popleft()
            elif not stage.finishing.is_set() and time.monotonic() >= next_new_at:
                client.highest += 1
                seq = client.highest
                next_new_at = time.monotonic() + client.rng.uniform(*plan.batch_gap)
            else:
                break
            await ws.send(batch_frame(client.session_id, seq))
            in_flight.add(seq)
        if not in_flight:
            if stage.finishing.is_set():
                client.done = client.complete()
                if not client.done:
                    client.violations.append(f"{client.session_id}: acks missing, none due")
                return
            await asyncio.sleep(max(0.0, min(next_new_at - time.monotonic(), 0.05)))
            continue
        reply = await _reply(ws)
        if reply.get("type") != "ack" or reply.get("seq") not in in_flight:
            client.violations.append(f"{client.session_id}: expected an ack, got {reply}")
            return
        client.acked.add(reply["seq"])
        in_flight.discard(reply["seq"])
        if client.rng.random() < 0.02:  # resend on a live socket, as after a lost ack
            queue.append(reply["seq"])
            client.resent_acked += 1
    client.violations.append(f"{client.session_id}: not finished in time")


async def run_client(client: Client, url: str, plan: Plan, stage: Stage) -> None:
    while not client.done and not client.violations:
        if time.monotonic() > stage.finish_by:
            client.violations.append(f"{client.session_id}: not finished in time")
            return
        try:
            async with connect(
                url, origin=Origin(ALLOWED_ORIGIN), open_timeout=3, ping_interval=None
            ) as ws:
                client.connects += 1
                await _record(ws, client, plan, stage)
        except (OSError, WebSocketException):
            pass  # the collector died under us, or is not up yet
        if not client.done:
            await asyncio.sleep(client.rng.uniform(*RECONNECT_PAUSE))


# -- the collector process ---------------------------------------------------------------


class PluggedCollector:
    """A collector process on a fixed port and data directory that can be SIGKILLed."""

    def __init__(self, workdir: Path, port: int, fault: str | None) -> None:
        self.data_dir = workdir / "var"
        self.keyring = workdir / "keyring.json"
        self.log = workdir / "collector.log"
        self.port = port
        self.fault = fault
        self.proc: subprocess.Popen[str] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ingest"

    def argv(self) -> list[str]:
        serve = ["serve", "--dev", "--port", str(self.port)]
        serve += ["--data-dir", str(self.data_dir), "--keyring", str(self.keyring)]
        if self.fault is None:
            return [sys.executable, "-m", "collector", *serve]
        return [sys.executable, "-m", "tests.crash_soak", "serve-with-fault", self.fault, *serve]

    def launch(self) -> None:
        assert self.proc is None, "the previous collector is still running"
        with self.log.open("a", encoding="utf-8") as out:
            self.proc = subprocess.Popen(
                self.argv(), stdout=out, stderr=subprocess.STDOUT, text=True, cwd=REPO
            )

    def wait_until_serving(self) -> None:
        health = f"http://127.0.0.1:{self.port}/healthz"
        wait_for_http(health, timeout=20.0, proc=self.proc, log=self.log)

    async def start(self, *, wait: bool = True) -> None:
        self.launch()
        if wait:
            await asyncio.to_thread(self.wait_until_serving)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, nothing is flushed by the collector."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            self.proc = None


# -- what ended up on disk ---------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    size: int
    indexed: list[tuple[int, int]]  # (offset, length) of each indexed record, by offset


def segments(data_dir: Path) -> dict[str, Segment]:
    """Each session's segment file size and indexed records, without writing anything."""
    index = data_dir / "index.sqlite3"
    if not index.exists():
        return {}
    db = sqlite3.connect(f"file:{index}?mode=ro", uri=True)  # read-only: no checkpoint
    try:
        rows = db.execute(
            "SELECT session_id, offset, length FROM batches ORDER BY session_id, offset"
        ).fetchall()
    finally:
        db.close()
    records: dict[str, list[tuple[int, int]]] = {}
    for session_id, offset, length in rows:
        records.setdefault(session_id, []).append((offset, length))
    found = {}
    for path in sorted(data_dir.glob("segments/*/*.seg")):
        found[path.stem] = Segment(path.stat().st_size, records.get(path.stem, []))
    return found


def segment_problem(segment: Segment) -> str | None:
    """Records back to back after the magic, nothing past the last: or what is wrong."""
    end = SEGMENT_MAGIC_SIZE
    for offset, length in segment.indexed:
        if offset != end:
            return f"record at byte {offset}, expected {end}"
        end += length
    if segment.size != end:
        return f"{segment.size - end} bytes past the last indexed record"
    return None


def unindexed_tails(data_dir: Path) -> int:
    """Segments with bytes past their last indexed record: what a restart must cut."""
    tails = 0
    for segment in segments(data_dir).values():
        offset, length = segment.indexed[-1] if segment.indexed else (SEGMENT_MAGIC_SIZE, 0)
        tails += segment.size > offset + length
    return tails


def index_counts(data_dir: Path) -> dict[str, tuple[int, int, int]]:
    """Per session, the index's (batch_count, event_count, max_seq)."""
    db = sqlite3.connect(f"file:{data_dir / 'index.sqlite3'}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT session_id, batch_count, event_count, max_seq FROM sessions"
        ).fetchall()
    finally:
        db.close()
    return {sid: (batches, events, top) for sid, batches, events, top in rows}


def export_all(data_dir: Path, keyring: Path) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Every stored event, decrypted by `phi-replay export`, by session and seq."""
    out = cli("export", "--data-dir", data_dir, "--keyring", keyring, "--all").stdout
    stored: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for line in out.splitlines():
        row = json.loads(line)
        stored.setdefault(row["session_id"], {}).setdefault(row["seq"], []).append(row["event"])
    return stored


# -- the verdict -------------------------------------------------------------------------


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)  # acked or said durable, not stored
    duplicated: list[str] = field(default_factory=list)  # stored more than once
    gaps: list[str] = field(default_factory=list)  # made by a client, not stored
    wrong: list[str] = field(default_factory=list)  # stored, but not what was sent
    other: list[str] = field(default_factory=list)  # welcome lies, segment bytes, log

    @property
    def problems(self) -> list[str]:
        named = [("lost", self.lost), ("duplicated", self.duplicated), ("gap", self.gaps)]
        named += [("wrong", self.wrong), ("problem", self.other)]
        return [f"{name}: {item}" for name, items in named for item in items]


def judge(
    clients: list[Client],
    stored: dict[str, dict[int, list[dict[str, Any]]]],
    files: dict[str, Segment],
    counts: dict[str, tuple[int, int, int]],
    log_text: str,
) -> Verdict:
    verdict = Verdict()
    for client in clients:
        sid = client.session_id
        verdict.other.extend(client.violations)
        batches = stored.get(sid, {})
        for seq in range(1, client.highest + 1):
            events = batches.get(seq)
            if events is None:
                claimed = seq in client.acked or seq <= client.durable_floor
                (verdict.lost if claimed else verdict.gaps).append(f"{sid} seq {seq}")
                continue
            expected = events_for(sid, seq)
            if events == expected:
                continue
            n = len(events) // len(expected)
            if n > 1 and events == expected * n:
                verdict.duplicated.append(f"{sid} seq {seq} ({n} times)")
            else:
                verdict.wrong.append(f"{sid} seq {seq}")
        for seq in sorted(set(batches) - set(range(1, client.highest + 1))):
            verdict.wrong.append(f"{sid} seq {seq} was never sent")
        if sid in files and (problem := segment_problem(files[sid])) is not None:
            verdict.duplicated.append(f"{sid} segment: {problem}")
        want = (len(batches), sum(len(e) for e in batches.values()), max(batches, default=0))
        if batches and counts.get(sid) != want:
            verdict.other.append(f"{sid} index counts {counts.get(sid)}, stored {want}")
    for line in log_text.splitlines():
        if "Traceback" in line or " ERROR " in line or " CRITICAL " in line:
            verdict.other.append(f"collector log: {line.strip()[:200]}")
    return verdict


# -- the scenario ------------------------------------------------------------------------


@dataclass
class Outcome:
    plan: Plan
    clients: list[Client]
    verdict: Verdict
    seconds: float
    kills: int
    kills_while_starting: int
    kills_leaving_a_tail: int  # kills after which some segment had an unindexed tail

    def summary(self) -> str:
        c, v = self.clients, self.verdict
        made = sum(x.highest for x in c)
        lines = [
            f"fault:                {self.plan.fault or 'none (the real collector)'}",
            f"seed:                 {self.plan.seed}",
            f"kill -9 cycles:       {self.kills}"
            f" ({self.kills_while_starting} while starting,"
            f" {self.kills_leaving_a_tail} left an unindexed segment tail)",
            f"sessions:             {len(c)} ({sum(x.connects for x in c)} connections)",
            f"batches made:         {made}",
            f"batches acked:        {sum(len(x.acked) for x in c)}",
            f"resent after welcome: {sum(x.resent_unacked for x in c)} unacked,"
            f" {sum(x.resent_acked for x in c)} already acked (dedupe)",
            f"lost:                 {len(v.lost)}",
            f"duplicated:           {len(v.duplicated)}",
            f"gaps:                 {len(v.gaps)}",
            f"wrong content:        {len(v.wrong)}",
            f"other problems:       {len(v.other)}",
            f"time:                 {self.seconds:.1f} s",
        ]
        return "\n".join(lines)


async def _scenario(plan: Plan, workdir: Path) -> Outcome:
    rng = random.Random(plan.seed)  # noqa: S311 (a seed a failure can name)
    collector = PluggedCollector(workdir, free_port(), plan.fault)
    clients = [
        Client(f"crash-{plan.seed}-{i:03d}", random.Random(rng.random()))  # noqa: S311
        for i in range(plan.sessions)
    ]
    stage = Stage()
    started = time.monotonic()
    kills = starting_kills = tail_kills = 0
    tasks = [asyncio.create_task(run_client(c, collector.ws_url, plan, stage)) for c in clients]
    try:
        extra = plan.cycles + MAX_EXTRA_KILLS
        while kills < plan.cycles or (tail_kills < plan.tails_wanted and kills < extra):
            kills += 1
            if rng.random() < plan.kill_while_starting:
                await collector.start(wait=False)
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                starting_kills += 1
            else:
                await collector.start()
                await asyncio.sleep(rng.uniform(*plan.up_seconds))
            collector.kill()
            tail_kills += bool(await asyncio.to_thread(unindexed_tails, collector.data_dir))
            await asyncio.sleep(rng.uniform(0.0, 0.2))  # down: clients fail to connect
        await collector.start()
        stage.finish(plan.finish_seconds)
        await asyncio.gather(*tasks)
        collector.stop()
    finally:
        for task in tasks:
            task.cancel()
        collector.kill()
    seconds = time.monotonic() - started
    try:
        stored = export_all(collector.data_dir, collector.keyring)
    except subprocess.CalledProcessError as exc:
        verdict = Verdict(other=[f"export failed: {exc.stderr.strip()[-500:]}"])
    else:
        verdict = judge(
            clients,
            stored,
            segments(collector.data_dir),
            index_counts(collector.data_dir),
            collector.log.read_text(errors="replace"),
        )
    return Outcome(plan, clients, verdict, seconds, kills, starting_kills, tail_kills)


def run_scenario(plan: Plan, workdir: Path) -> Outcome:
    return asyncio.run(_scenario(plan, workdir))


# -- a collector with a deliberate durability bug ----------------------------------------


def serve_with_fault(fault: str, argv: list[str]) -> int:
    """`phi-replay ARGV` with `fault` (see FAULTS) patched in. Never ship this."""
    from collector import cli as collector_cli
    from collector.embedded import EmbeddedStore
    from collector.ingest import Ingest
    from collector.protocol import text_of
    from collector.records import seal_frame
    from collector.store import SealedBatch

    if fault == "ack-early":

        async def acks_first(
            self: Ingest, websocket: Any, session: Any, dek: Any, instance: Any
        ) -> None:
            async def write_later(batch: SealedBatch) -> None:
                await asyncio.sleep(EARLY_ACK_DELAY)
                await self.store.append(session.session_id, batch)

            pending: set[asyncio.Task[None]] = set()
            while True:
                sealed = seal_frame(session, dek, text_of(await self._receive(websocket)))
                await websocket.send_json({"type": "ack", "seq": sealed.seq})
                task = asyncio.create_task(write_later(sealed))
                pending.add(task)
                task.add_done_callback(pending.discard)

        Ingest._receive_batches = acks_first  # type: ignore[method-assign]
    elif fault == "keep-tails":
        EmbeddedStore._cut_unindexed_tails = lambda self: None  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown fault {fault!r}: expected one of {', '.join(FAULTS)}")
    return collector_cli.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-with-fault"] and len(argv) > 1:
        return serve_with_fault(argv[1], argv[2:])
    parser = argparse.ArgumentParser(prog="python -m tests.crash_soak", description=__doc__)
    parser.add_argument("--cycles", type=int, default=200, help="kills (default 200)")
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock")
    parser.add_argument("--fault", choices=sorted(FAULTS), default=None)
    parser.add_argument("--keep", type=Path, default=None, help="work in (and keep) this dir")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else time.time_ns() % 1_000_000
    finish = 60.0 + args.sessions  # generous: the tail of a long run can be a few thousand
    plan = Plan(
        sessions=args.sessions,
        cycles=args.cycles,
        seed=seed,
        fault=args.fault,
        finish_seconds=finish,
    )
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        outcome = run_scenario(plan, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="phi-crash-") as tmp:
            outcome = run_scenario(plan, Path(tmp))
    print(outcome.summary())
    for problem in outcome.verdict.problems[:50]:
        print(f"  {problem}")
    return 1 if outcome.verdict.problems else 0


if __name__ == "__main__":
    sys.exit(main())
