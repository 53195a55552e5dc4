"""Bad input never crashes the collector: fuzzing the framing and the batch validator."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.exceptions import Refusal
from collector.protocol import decode, parse_batch, parse_batch_frame
from collector.testing import RunningServer
from tests.wsclient import batch, new_id, open_socket, receive, start_session

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
# Batches that look almost right: rrweb-like events with random parts.
EVENT = st.fixed_dictionaries(
    {"type": st.integers(-1, 7), "timestamp": st.integers(-5, 2**54) | st.text(max_size=3)},
    optional={
        "data": st.dictionaries(
            st.sampled_from(
                [
                    "source",
                    "node",
                    "href",
                    "width",
                    "height",
                    "texts",
                    "adds",
                    "id",
                    "x",
                    "y",
                    "text",
                    "isChecked",
                    "tag",
                    "payload",
                    "positions",
                    "initialOffset",
                ]
            ),
            JSON,
            max_size=6,
        )
    },
)
T = TypeVar("T")
BATCH = st.fixed_dictionaries(
    {
        "type": st.just("batch"),
        "seq": st.integers(-3, 2**60) | JSON,
        "events": st.lists(EVENT, max_size=4) | JSON,
    }
)


def attempt(fn: Callable[[], T]) -> T | Refusal:
    """The value, or the Refusal: anything else raised fails the test (a crash)."""
    try:
        return fn()
    except Refusal as refusal:
        return refusal


@settings(max_examples=300, deadline=None)
@given(frame=st.text(max_size=200) | st.binary(max_size=50) | JSON.map(json.dumps))
def test_framing_accepts_a_known_object_or_refuses_with_a_reason(frame: str | bytes) -> None:
    outcome = attempt(lambda: decode(frame))
    if isinstance(outcome, Refusal):
        assert outcome.code in {"malformed_json", "unknown_type"}
        assert outcome.reason
    else:
        assert outcome["type"] in {"hello", "batch"}


@settings(max_examples=300, deadline=None)
@given(message=BATCH)
def test_the_validator_accepts_or_refuses_never_crashes(message: dict[str, Any]) -> None:
    outcome = attempt(lambda: parse_batch(message))
    if isinstance(outcome, Refusal):
        assert outcome.code == "invalid_batch"
        assert len(outcome.reason) < 1000
    else:
        assert outcome.seq >= 1
        assert outcome.events


@settings(max_examples=300, deadline=None)
@given(frame=BATCH.map(json.dumps) | st.text(max_size=200) | JSON.map(json.dumps))
def test_a_frame_is_judged_as_its_parsed_message_would_be(frame: str) -> None:
    """Ingest validates straight from the frame text; it must accept and refuse exactly
    what parsing the JSON first and then validating does, with the same code."""
    direct = attempt(lambda: parse_batch_frame(frame))
    stepwise = attempt(lambda: parse_batch(decode(frame)))
    if isinstance(stepwise, Refusal):
        assert isinstance(direct, Refusal)
        assert (direct.code, direct.seq, direct.reason) == (
            stepwise.code,
            stepwise.seq,
            stepwise.reason,
        )
    else:
        assert direct == stepwise


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(frames=st.lists(st.text(max_size=80) | BATCH.map(json.dumps), min_size=1, max_size=3))
def test_a_live_collector_survives_random_frames_and_keeps_serving(
    collector: RunningServer, frames: list[str]
) -> None:
    bystander, _ = start_session(collector.ws_url, new_id("sess"))
    ws, _ = start_session(collector.ws_url, new_id("sess"))
    for frame in frames:
        try:
            ws.send(frame)
            reply = receive(ws)
        except Exception:  # the socket was closed after a refusal: expected
            break
        assert reply["type"] in {"ack", "error"}
        if reply["type"] == "error":
            break
    ws.close()
    bystander.send(batch(1))
    assert receive(bystander) == {"type": "ack", "seq": 1}
    bystander.close()
    assert collector.proc.poll() is None, "the collector is still running"
    probe = open_socket(collector.ws_url)
    probe.close()
