"""Stored events to rrweb's `eventWithTime` shape, for export and replay.

Our recorder sends serialized nodes packed (docs/protocol.md, "Packed nodes"): rrweb's
element and text nodes with short keys and no empty fields, and one mutation add per
added subtree with the descendants inside it. They are stored as received; this module
expands them on the way out, so that rrweb's player (which builds each added node
without its children) and any other rrweb tool read what they expect. Nodes already in
rrweb's shape pass through. The walk uses an explicit stack: a page's depth is not
bounded by Python's recursion limit.
"""

from __future__ import annotations

from typing import Any

Node = dict[str, Any]
Event = dict[str, Any]

# Packed flag -> rrweb's flag.
_FLAGS = (("svg", "isSVG"), ("sh", "isShadowHost"), ("sr", "isShadow"), ("st", "isStyle"))


def _shallow(node: Node) -> Node:
    """One node in rrweb's shape, with an empty childNodes list to be filled."""
    if "type" in node:
        return dict(node, childNodes=[]) if "childNodes" in node else dict(node)
    if "x" in node:
        out: Node = {"type": 3, "textContent": node["x"], "id": node["i"]}
    else:
        out = {
            "type": 2,
            "tagName": node["n"],
            "attributes": dict(node.get("a") or {}),
            "childNodes": [],
            "id": node["i"],
        }
    for short, name in _FLAGS:
        if node.get(short):
            out[name] = True
    return out


def _children(node: Node) -> list[Node]:
    """A stored (so validated) node's children: lists wherever they are present."""
    children: list[Node] = node.get("childNodes" if "type" in node else "c") or []
    return children


def expand_node(node: Node) -> Node:
    """A whole tree (a full snapshot's) in rrweb's shape."""
    root = _shallow(node)
    stack = [(node, root)]
    while stack:
        packed, out = stack.pop()
        for child in _children(packed):
            expanded = _shallow(child)
            out["childNodes"].append(expanded)
            stack.append((child, expanded))
    return root


def expand_adds(adds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """rrweb's adds: every node on its own, parent first, children appended in order.

    Only packed nodes carry children in an add; an rrweb-shaped one is kept as it came.
    """
    out: list[dict[str, Any]] = []
    for add in adds:
        root = add["node"]
        if "type" in root:
            out.append(add)
            continue
        out.append({**add, "node": _shallow(root)})
        # (parent id, node), depth first, each node's children in document order.
        stack = [(root["i"], child) for child in reversed(_children(root))]
        while stack:
            parent_id, node = stack.pop()
            out.append({"parentId": parent_id, "nextId": None, "node": _shallow(node)})
            if "type" not in node:
                stack.extend((node["i"], child) for child in reversed(_children(node)))
    return out


def expand_event(event: Event) -> Event:
    """An event in rrweb's shape (a new object when anything changed)."""
    kind = event.get("type")
    data = event.get("data")
    if kind == 2 and isinstance(data, dict):
        return {**event, "data": {**data, "node": expand_node(data["node"])}}
    if kind == 3 and isinstance(data, dict) and data.get("source") == 0:
        return {**event, "data": {**data, "adds": expand_adds(data.get("adds", []))}}
    return event
