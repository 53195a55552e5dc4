"""Synthetic, already-masked events for the collector load benchmark.

What a tab running our recorder sends (rrweb events, serialized nodes packed as in
docs/protocol.md): a Meta and a FullSnapshot of a clinical page
(about 300 KB of JSON), then about one 2 KB batch a second (mouse moves, clicks, masked
Input events, small mutations). Text is masked as the recorder masks it (ADR 0006:
`*` to a length bucket, form values `*****`), so nothing here looks like PHI and every
event passes `collector/events.py`.
"""

from __future__ import annotations

import json
import random
from typing import Any

Event = dict[str, Any]
Node = dict[str, Any]

MASK_LENGTHS = (8, 8, 8, 16, 16, 32)  # length buckets of masked text, short ones most common
FIELD_MASK = "*****"  # every masked form value, whatever it was
HREF = "http://127.0.0.1:5999/patients/:id"  # templated path, as the recorder sends it
COLUMNS = 8  # cells per table row
BASE_TS = 1_795_000_000_000  # an arbitrary epoch-ms start; only order matters


def _mask(rng: random.Random) -> str:
    return "*" * rng.choice(MASK_LENGTHS)


class _Ids:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def _element(ids: _Ids, tag: str, attributes: dict[str, Any], *children: Node) -> Node:
    """A packed element node, as the recorder sends it (docs/protocol.md)."""
    node: Node = {"i": ids(), "n": tag}
    if attributes:
        node["a"] = attributes
    if children:
        node["c"] = list(children)
    return node


def _text(ids: _Ids, rng: random.Random) -> Node:
    return {"i": ids(), "x": _mask(rng)}


def _row(ids: _Ids, rng: random.Random, i: int) -> Node:
    cells = [_element(ids, "td", {"class": f"c{c}"}, _text(ids, rng)) for c in range(COLUMNS)]
    return _element(ids, "tr", {"class": "row odd" if i % 2 else "row"}, *cells)


def _field(ids: _Ids, rng: random.Random, i: int) -> Node:
    label = _element(ids, "label", {"for": f"f{i}"}, _text(ids, rng))
    control = _element(ids, "input", {"id": f"f{i}", "type": "text", "value": FIELD_MASK})
    return _element(ids, "div", {"class": "field"}, label, control)


def full_snapshot(target_bytes: int, seed: int) -> tuple[list[Event], int]:
    """Meta + FullSnapshot of about `target_bytes` of JSON, and the highest node id."""
    rng = random.Random(seed)  # noqa: S311 (reproducible synthetic data)
    ids = _Ids()
    doc_id = ids()
    doctype = {"type": 1, "id": ids(), "name": "html", "publicId": "", "systemId": ""}
    head = _element(ids, "head", {}, _element(ids, "title", {}, _text(ids, rng)))
    nav = _element(
        ids,
        "nav",
        {"class": "top"},
        *(_element(ids, "a", {"href": f"/section{i}"}, _text(ids, rng)) for i in range(8)),
    )
    form = _element(ids, "form", {"class": "intake"}, *(_field(ids, rng, i) for i in range(40)))
    tbody = _element(ids, "tbody", {})
    rows: list[Node] = []
    tbody["c"] = rows
    table = _element(ids, "table", {"class": "patients"}, tbody)
    body = _element(ids, "body", {"class": "app"}, nav, form, table)
    html = _element(ids, "html", {"lang": "en"}, head, body)
    document = {"type": 0, "id": doc_id, "childNodes": [doctype, html]}
    events: list[Event] = [
        {"type": 4, "data": {"href": HREF, "width": 1280, "height": 720}, "timestamp": BASE_TS},
        {
            "type": 2,
            "data": {"node": document, "initialOffset": {"top": 0, "left": 0}},
            "timestamp": BASE_TS + 1,
        },
    ]
    # Grow the table row by row until the JSON reaches the target (a row is ~400 bytes).
    size = len(dumps(events))
    while size < target_bytes:
        row = _row(ids, rng, len(rows))
        rows.append(row)
        size += len(dumps(row)) + 1  # the comma
    return events, ids.next - 1


def incremental_batch(rng: random.Random, max_id: int, timestamp: int) -> list[Event]:
    """About one second of activity on the snapshot's page: ~2 KB of JSON."""

    def node() -> int:
        return rng.randint(10, max_id)

    def incremental(offset: int, data: dict[str, Any]) -> Event:
        return {"type": 3, "data": data, "timestamp": timestamp + offset}

    x, y = rng.uniform(0, 1280), rng.uniform(0, 720)
    positions = []
    for i in range(16):
        x, y = min(1280.0, max(0.0, x + rng.uniform(-30, 30))), min(720.0, y + rng.uniform(-20, 20))
        positions.append(
            {"x": round(x, 1), "y": round(max(0.0, y), 1), "id": node(), "timeOffset": -50 * i}
        )
    target = node()
    new_id = max_id + 1 + rng.randint(0, 1 << 20)
    new_cell = {
        "i": new_id,
        "n": "span",
        "a": {"class": "badge"},
        "c": [{"i": new_id + 1, "x": "********"}],
    }
    events = [
        incremental(0, {"source": 1, "positions": positions}),
        incremental(120, {"source": 2, "type": 1, "id": target, "x": x, "y": y, "pointerType": 0}),
        incremental(180, {"source": 2, "type": 0, "id": target, "x": x, "y": y, "pointerType": 0}),
        incremental(181, {"source": 2, "type": 2, "id": target, "x": x, "y": y, "pointerType": 0}),
        incremental(400, {"source": 5, "text": FIELD_MASK, "isChecked": False, "id": node()}),
        incremental(
            600,
            {
                "source": 0,
                "texts": [{"id": node(), "value": _mask(rng)} for _ in range(4)],
                "attributes": [
                    {"id": node(), "attributes": {"class": "row selected"}},
                    {"id": node(), "attributes": {"class": "row"}},
                ],
                "removes": [{"parentId": node(), "id": node()}],
                "adds": [{"parentId": node(), "nextId": None, "node": new_cell}],
            },
        ),
        incremental(800, {"source": 3, "id": 1, "x": 0, "y": rng.randint(0, 4000)}),
    ]
    return events


def dumps(value: Any) -> str:
    """Compact JSON, as the recorder serialises (one stringify per batch)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
