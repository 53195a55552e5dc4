"""Packed nodes (docs/protocol.md): accepted as the recorder sends them, exported in
rrweb's shape, and refused with a reason when malformed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.exceptions import Refusal
from collector.protocol import parse_batch
from collector.rrweb import expand_adds, expand_event, expand_node

Node = dict[str, Any]

CANARY = "CANARY-PACKED-900-00-0042"


def snapshot_batch(node: Node) -> dict[str, Any]:
    document = {"type": 0, "id": 1, "childNodes": [node]}
    event = {
        "type": 2,
        "timestamp": 1,
        "data": {"node": document, "initialOffset": {"top": 0, "left": 0}},
    }
    return {"type": "batch", "seq": 1, "events": [event]}


def mutation_batch(adds: list[dict[str, Any]]) -> dict[str, Any]:
    data = {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": adds}
    return {"type": "batch", "seq": 2, "events": [{"type": 3, "timestamp": 2, "data": data}]}


ROW: Node = {
    "i": 10,
    "n": "tr",
    "c": [
        {"i": 11, "n": "td", "c": [{"i": 12, "x": "********"}]},
        {"i": 13, "n": "td", "a": {"class": "status"}, "c": [{"i": 14, "x": "****"}]},
    ],
}


def test_a_packed_snapshot_is_accepted_and_exported_in_rrwebs_shape() -> None:
    batch = snapshot_batch({"i": 2, "n": "html", "a": {"lang": "en"}, "c": [ROW]})
    parse_batch(batch)
    html = expand_event(batch["events"][0])["data"]["node"]["childNodes"][0]
    assert html == {
        "type": 2,
        "tagName": "html",
        "attributes": {"lang": "en"},
        "childNodes": [
            {
                "type": 2,
                "tagName": "tr",
                "attributes": {},
                "id": 10,
                "childNodes": [
                    {
                        "type": 2,
                        "tagName": "td",
                        "attributes": {},
                        "id": 11,
                        "childNodes": [{"type": 3, "textContent": "********", "id": 12}],
                    },
                    {
                        "type": 2,
                        "tagName": "td",
                        "attributes": {"class": "status"},
                        "id": 13,
                        "childNodes": [{"type": 3, "textContent": "****", "id": 14}],
                    },
                ],
            }
        ],
        "id": 2,
    }


def test_an_added_subtree_becomes_one_add_per_node_parent_first_in_document_order() -> None:
    batch = mutation_batch([{"parentId": 9, "nextId": 30, "node": ROW}])
    parse_batch(batch)
    adds = expand_event(batch["events"][0])["data"]["adds"]
    assert [(a["parentId"], a["nextId"], a["node"]["id"]) for a in adds] == [
        (9, 30, 10),  # the subtree's root keeps its place
        (10, None, 11),  # children are appended to their new parent, in order
        (11, None, 12),
        (10, None, 13),
        (13, None, 14),
    ]
    assert all(a["node"].get("childNodes", []) == [] for a in adds), "rrweb builds adds childless"


def test_flags_map_to_rrwebs_names() -> None:
    host = {"i": 5, "n": "div", "sh": True, "c": [{"i": 6, "n": "svg", "svg": True, "sr": True}]}
    style = {"i": 7, "n": "style", "c": [{"i": 8, "x": "p{color:red}", "st": True}]}
    tree = expand_node({"i": 4, "n": "body", "c": [host, style]})
    host_out, style_out = tree["childNodes"]
    assert host_out["isShadowHost"] is True
    assert host_out["childNodes"][0] == {
        "type": 2,
        "tagName": "svg",
        "attributes": {},
        "childNodes": [],
        "id": 6,
        "isSVG": True,
        "isShadow": True,
    }
    assert style_out["childNodes"][0] == {
        "type": 3,
        "textContent": "p{color:red}",
        "id": 8,
        "isStyle": True,
    }


def test_rrweb_shaped_nodes_pass_through_unchanged() -> None:
    rrweb_add = {
        "parentId": 3,
        "nextId": None,
        "node": {"type": 2, "tagName": "p", "attributes": {}, "childNodes": [], "id": 9},
    }
    batch = mutation_batch([rrweb_add])
    parse_batch(batch)
    assert expand_adds([rrweb_add]) == [rrweb_add]


def test_a_deep_page_is_accepted_and_expanded() -> None:
    """Deeper than any recursion limit: neither the check nor the expansion recurse."""
    node: Node = {"i": 100_000, "x": "********"}
    for depth in range(5_000):
        node = {"i": depth + 10, "n": "div", "c": [node]}
    parse_batch(snapshot_batch(node))
    expanded = expand_node(node)
    levels = 0
    while expanded.get("childNodes"):
        expanded = expanded["childNodes"][0]
        levels += 1
    assert (levels, expanded["textContent"]) == (5_000, "********")


@pytest.mark.parametrize(
    ("node", "reason"),
    [
        ({"i": 2, "n": "not a tag"}, "node.childNodes.0.n: expected a tag name"),
        ({"i": 2, "n": ["p"]}, "node.childNodes.0.n: expected a tag name"),
        (
            {"type": 2, "id": 2, "tagName": {"p": 1}, "attributes": {}, "childNodes": []},
            "node.childNodes.0.tagName: expected a tag name",
        ),
        ({"i": 2, CANARY: 1}, "node.childNodes.0: not a serialized node"),
        (
            {"i": 2, "x": "****", CANARY: 1},
            "node.childNodes.0: unknown field in a packed text node",
        ),
        ({"i": 2, "n": "p", CANARY: 1}, "node.childNodes.0: unknown field in a packed element"),
        ({"i": True, "x": "****"}, "node.childNodes.0.i: expected an integer id"),
        ({"i": 2**40, "x": "****"}, "node.childNodes.0.i: expected an integer id"),
        ({"i": 2, "x": 5}, "node.childNodes.0.x: expected a string"),
        ({"i": 2, "n": "p", "a": {"title": [CANARY]}}, "node.childNodes.0.a: attribute values"),
        ({"i": 2, "n": "p", "a": None}, "node.childNodes.0.a: expected an object"),
        ({"i": 2, "n": "p", "c": {"0": {}}}, "node.childNodes.0.c: expected a list"),
        ({"i": 2, "n": "p", "svg": 1}, "node.childNodes.0.svg: expected true"),
        (
            {"i": 2, "n": "p", "c": [{"i": 3, "n": "b", "c": [7]}]},
            "node.childNodes.0.c.0.c.0: not a",
        ),
        (
            {"type": 5, "id": 2, "textContent": CANARY},
            "node.childNodes.0.type: expected a node type",
        ),
        (
            {"type": 2, "id": 2, "tagName": "p", "childNodes": []},
            "node.childNodes.0.attributes: expected an object",
        ),
    ],
)
def test_a_malformed_node_is_refused_with_its_path_and_no_page_data(
    node: Node, reason: str
) -> None:
    with pytest.raises(Refusal) as refused:
        parse_batch(snapshot_batch(node))
    assert refused.value.code == "invalid_batch"
    assert reason in refused.value.reason
    assert CANARY not in refused.value.reason


# Valid packed trees of any shape: what the check accepts, the expansion turns into
# rrweb's shape node for node.
IDS = st.integers(1, 2**31)
TEXT = st.fixed_dictionaries({"i": IDS, "x": st.text(max_size=8)}, optional={"st": st.just(True)})
TREE = st.recursive(
    TEXT,
    lambda children: st.fixed_dictionaries(
        {"i": IDS, "n": st.sampled_from(["div", "td", "svg", "my-widget"])},
        optional={
            "a": st.dictionaries(st.sampled_from(["class", "id", "style"]), st.text(max_size=5)),
            "c": st.lists(children, max_size=4),
            "svg": st.just(True),
            "sh": st.just(True),
            "sr": st.just(True),
        },
    ),
    max_leaves=30,
)


def count(node: Node, children_key: str) -> int:
    return 1 + sum(count(child, children_key) for child in node.get(children_key) or [])


@settings(max_examples=150, deadline=None)
@given(TREE)
def test_every_valid_packed_tree_is_accepted_and_expands_node_for_node(tree: Node) -> None:
    parse_batch(snapshot_batch(tree))
    parse_batch(mutation_batch([{"parentId": 1, "nextId": None, "node": tree}]))
    expanded = expand_node(tree)
    assert count(expanded, "childNodes") == count(tree, "c")
    adds = expand_adds([{"parentId": 1, "nextId": None, "node": tree}])
    assert len(adds) == count(tree, "c")
    known = {1}
    for add in adds:
        assert add["parentId"] in known, "every add's parent was added before it"
        known.add(add["node"]["id"])
