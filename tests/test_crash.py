"""Pull the plug: `kill -9` the collector at random moments while 40 sessions record.

Issue 4's promise: nothing acknowledged is lost, nothing is stored twice, a reconnecting
client resumes from `welcome.next_seq`. The scenario lives in `tests/crash_soak.py`
(which also runs it for hundreds of cycles); here it runs 20 kills, and then again
against collectors with deliberate durability bugs, to show it catches them.

Set PHI_REPLAY_CRASH_SEED to replay a seed a failure printed (timing still varies).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from tests.crash_soak import Client, Outcome, Plan, Segment, events_for, judge, run_scenario


def _seed() -> int:
    return int(os.environ.get("PHI_REPLAY_CRASH_SEED", random.randrange(1_000_000)))  # noqa: S311


def _report(outcome: Outcome) -> str:
    problems = outcome.verdict.problems
    return "\n".join([outcome.summary(), *problems[:30], f"... {len(problems)} in all"])


def test_acknowledged_batches_survive_kill_9_exactly_once(tmp_path: Path) -> None:
    outcome = run_scenario(Plan(sessions=40, cycles=20, seed=_seed(), tails_wanted=1), tmp_path)

    assert not outcome.verdict.problems, _report(outcome)
    clients = outcome.clients
    assert all(len(c.acked) > 20 for c in clients), "every session recorded through the kills"
    assert sum(c.resent_acked for c in clients) > 0, "acked batches were resent (dedupe)"
    assert sum(c.resent_unacked for c in clients) > 0, "unacked batches were resent"
    assert outcome.kills_leaving_a_tail > 0, (
        "no kill landed between a segment write and its index commit, so no torn or "
        "unacknowledged tail was cut: the run proved less than it should\n" + _report(outcome)
    )


def test_a_collector_that_acks_before_writing_is_caught(tmp_path: Path) -> None:
    plan = Plan(sessions=20, cycles=4, seed=_seed(), kill_while_starting=0, fault="ack-early")
    outcome = run_scenario(plan, tmp_path)

    assert outcome.verdict.lost, _report(outcome)
    assert any("welcome.next_seq" in p for p in outcome.verdict.other), _report(outcome)


def test_a_collector_that_keeps_torn_tails_is_caught(tmp_path: Path) -> None:
    plan = Plan(
        sessions=40,
        cycles=3,
        seed=_seed(),
        kill_while_starting=0,
        fault="keep-tails",
        tails_wanted=1,
    )
    outcome = run_scenario(plan, tmp_path)

    assert outcome.kills_leaving_a_tail > 0, _report(outcome)
    assert any("segment" in d for d in outcome.verdict.duplicated), _report(outcome)
    assert not outcome.verdict.lost, "keeping tails stores twice, but loses nothing"


def test_the_verdict_names_loss_duplicates_gaps_and_strangers() -> None:
    rng = random.Random(0)  # noqa: S311 (unused by the verdict)
    client = Client("s-verdict-1", rng, highest=5, acked={1, 2, 3}, durable_floor=4)
    sent = {seq: events_for(client.session_id, seq) for seq in range(1, 6)}
    stored = {
        1: sent[1],
        2: sent[2] * 2,  # stored twice
        # 3 acked, 4 said durable by a welcome: both lost; 5 never claimed: a gap
        6: sent[1],  # a seq the client never sent
    }
    files = {client.session_id: Segment(size=100, indexed=[(8, 40), (48, 40)])}
    log = "2026-01-01 INFO x: fine\nTraceback (most recent call last):\n"

    verdict = judge([client], {client.session_id: stored}, files, {}, log)

    assert verdict.lost == ["s-verdict-1 seq 3", "s-verdict-1 seq 4"]
    assert verdict.gaps == ["s-verdict-1 seq 5"]
    assert verdict.duplicated == [
        "s-verdict-1 seq 2 (2 times)",
        "s-verdict-1 segment: 12 bytes past the last indexed record",
    ]
    assert verdict.wrong == ["s-verdict-1 seq 6 was never sent"]
    assert any("Traceback" in p for p in verdict.other)
    assert any("index counts" in p for p in verdict.other)
