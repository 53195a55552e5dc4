"""Sealed records verify only where they belong (property-based, hypothesis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.crypto import DataKey, Keyring, WrappedKey
from collector.exceptions import CorruptRecord
from collector.records import open_batch, seal_batch
from collector.store import SealedBatch
from tests.factories import sealed_session

Events = list[dict[str, Any]]
KEYRING = Keyring(path=Path("/nonexistent"), active="kek-a", keys={"kek-a": b"k" * 32})
IDS = st.from_regex(r"[A-Za-z0-9_-]{8,16}", fullmatch=True)
EVENTS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just(5),
            "timestamp": st.integers(0, 2**40),
            "data": st.fixed_dictionaries(
                {
                    "tag": st.just("t"),
                    "payload": st.dictionaries(
                        st.text(max_size=8), st.text(max_size=40), max_size=4
                    ),
                }
            ),
        }
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(events=EVENTS, seq=st.integers(1, 2**40), bit=st.integers(min_value=0))
def test_a_flipped_bit_anywhere_fails_verification(events: Events, seq: int, bit: int) -> None:
    dek = DataKey.generate()
    owner = sealed_session(KEYRING, dek, "sess-00000001", "dev")
    sealed = seal_batch(owner, dek, seq, events)
    assert open_batch(owner, dek, sealed) == events
    data = bytearray(sealed.sealed)
    position = bit % (len(data) * 8)
    data[position // 8] ^= 1 << (position % 8)
    with pytest.raises(CorruptRecord):
        open_batch(owner, dek, SealedBatch(seq, 1, 0, 0, bytes(data)))


@settings(max_examples=60, deadline=None)
@given(
    events=EVENTS,
    seq=st.integers(1, 1000),
    other_seq=st.integers(1, 1000),
    sid=IDS,
    other_sid=IDS,
    instance=st.sampled_from(["dev", "trials"]),
    other_instance=st.sampled_from(["dev", "trials"]),
)
def test_a_record_moved_to_another_session_seq_or_instance_fails(
    events: Events,
    seq: int,
    other_seq: int,
    sid: str,
    other_sid: str,
    instance: str,
    other_instance: str,
) -> None:
    dek = DataKey.generate()
    sealed = seal_batch(sealed_session(KEYRING, dek, sid, instance), dek, seq, events)
    target = sealed_session(KEYRING, dek, other_sid, other_instance)
    moved = SealedBatch(other_seq, 1, 0, 0, sealed.sealed)
    if (sid, seq, instance) == (other_sid, other_seq, other_instance):
        assert open_batch(target, dek, moved) == events
    else:
        with pytest.raises(CorruptRecord):
            open_batch(target, dek, moved)


@settings(max_examples=40, deadline=None)
@given(events=EVENTS, wrong_id=IDS)
def test_a_wrong_key_id_fails_verification(events: Events, wrong_id: str) -> None:
    dek = DataKey.generate()
    owner = sealed_session(KEYRING, dek, "sess-00000001", "dev")
    sealed = seal_batch(owner, dek, 1, events)
    relabelled = DataKey(wrong_id, dek.key)  # the right bytes under another key id
    if wrong_id == dek.dek_id:
        return
    with pytest.raises(CorruptRecord):
        open_batch(owner, relabelled, sealed)
    with pytest.raises(CorruptRecord):
        open_batch(owner, DataKey.generate(), sealed)


@settings(max_examples=40, deadline=None)
@given(sid=IDS, other_sid=IDS, bit=st.integers(min_value=0))
def test_a_wrapped_key_opens_only_for_its_session_and_unaltered(
    sid: str, other_sid: str, bit: int
) -> None:
    dek = DataKey.generate()
    wrapped = KEYRING.wrap(dek, "dev", sid)
    assert KEYRING.unwrap(wrapped, "dev", sid).key == dek.key
    if other_sid != sid:
        with pytest.raises(CorruptRecord):
            KEYRING.unwrap(wrapped, "dev", other_sid)
    blob = bytearray(wrapped.blob)
    position = bit % (len(blob) * 8)
    blob[position // 8] ^= 1 << (position % 8)
    with pytest.raises(CorruptRecord):
        KEYRING.unwrap(WrappedKey(wrapped.dek_id, wrapped.kek_id, bytes(blob)), "dev", sid)


def test_every_seal_uses_a_fresh_nonce() -> None:
    dek = DataKey.generate()
    owner = sealed_session(KEYRING, dek, "sess-00000001", "dev")
    events = [{"type": 5, "timestamp": 1, "data": {"tag": "t", "payload": {}}}]
    nonces = {seal_batch(owner, dek, 1, events).sealed[:12] for _ in range(200)}
    assert len(nonces) == 200
