"""The allow-list schema of events the collector accepts (rrweb's `eventWithTime`, with
serialized nodes in rrweb's shape or packed, as our recorder sends them).

Anything not described here is refused: unknown event types, unknown incremental
sources, unknown fields, comment nodes. The recorder never sends those, so their
arrival means a different (or tampered) client, and refusing is the safe answer.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator

Id = Annotated[int, Field(ge=-1, le=2**31)]
Coord = Annotated[float, Field(ge=-1e7, le=1e7)]
Timestamp = Annotated[int, Field(ge=0, le=2**53)]
Text = Annotated[str, Field(max_length=1 << 20)]
AttrValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- serialized DOM nodes ----------------------------------------------------------------
# Either rrweb's shape (rrweb-snapshot's NodeType: document 0, doctype 1, element 2,
# text 3) or packed, as our recorder sends them (docs/protocol.md, "Packed nodes"):
# element {i, n, a?, c?, svg?, sh?, sr?} and text {i, x, st?, sr?}, with short keys, no
# empty fields, and in a mutation add an element carries its children. They are stored
# as received; `collector/rrweb.py` expands them to rrweb's shape on the way out.
#
# A tree is checked here by one loop rather than by nested pydantic models: it is the
# bulk of every snapshot (thousands of nodes), the loop is several times faster, and a
# deep page is not refused for exceeding a recursion limit. The rules are the same as
# for the models above and below: known fields only, typed and bounded, nothing else.

_TAG = re.compile(r"[a-zA-Z][a-zA-Z0-9:_-]{0,63}")
_MAX_TEXT = 1 << 20
_MAX_ID = 2**31


class _Bad(ValueError):
    """A node breaks the schema; the message names schema keys and indices only."""


def _id(node: dict[str, Any], key: str, optional: bool = False) -> None:
    value = node.get(key)
    if value is None and optional:
        return
    if type(value) is not int or not -1 <= value <= _MAX_ID:
        raise _Bad(f".{key}: expected an integer id")


def _string(node: dict[str, Any], key: str, limit: int, optional: bool) -> None:
    value = node.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > limit:
        raise _Bad(f".{key}: expected a string of at most {limit} characters")


def _attributes(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise _Bad(f"{where}: expected an object of attributes")
    for name, attr in value.items():
        if len(name) > 128:
            raise _Bad(f"{where}: attribute name over 128 characters")
        if attr is not None and not isinstance(attr, str | int | float | bool):
            raise _Bad(f"{where}: attribute values must be strings, numbers or booleans")


def _flags(node: dict[str, Any], keys: tuple[str, ...], true_only: bool) -> None:
    for key in keys:
        value = node.get(key)
        if value is not None and value is not True and (true_only or value is not False):
            raise _Bad(f".{key}: expected {'true' if true_only else 'a boolean'}")


# Allowed keys of each node kind (rrweb's by `type`, packed by content key).
_RRWEB_KEYS = {
    0: frozenset({"type", "id", "childNodes", "compatMode", "rootId"}),
    1: frozenset({"type", "id", "name", "publicId", "systemId", "rootId"}),
    2: frozenset(
        {"type", "id", "tagName", "attributes", "childNodes", "isSVG", "needBlock"}
        | {"isShadowHost", "isShadow", "rootId"}
    ),
    3: frozenset({"type", "id", "textContent", "isStyle", "rootId"}),
}
_PACKED_ELEMENT_KEYS = frozenset({"i", "n", "a", "c", "svg", "sh", "sr"})
_PACKED_TEXT_KEYS = frozenset({"i", "x", "st", "sr"})


def _check_node(node: Any) -> list[Any] | None:
    """Check one node without its children; return the children to check, if any."""
    if not isinstance(node, dict):
        raise _Bad(": not a serialized node (rrweb's or packed)")
    if "type" not in node:  # packed: nearly every node of our recorder's snapshots
        if "x" in node:
            if len(node) > 2:
                if not node.keys() <= _PACKED_TEXT_KEYS:
                    raise _Bad(": unknown field in a packed text node")
                _flags(node, ("st", "sr"), true_only=True)
            _id(node, "i")
            text = node["x"]
            if type(text) is not str or len(text) > _MAX_TEXT:
                raise _Bad(f".x: expected a string of at most {_MAX_TEXT} characters")
            return None
        if "n" not in node:
            raise _Bad(": not a serialized node (rrweb's or packed)")
        if not node.keys() <= _PACKED_ELEMENT_KEYS:
            raise _Bad(": unknown field in a packed element")
        _id(node, "i")
        _tag(node["n"], ".n")
        has_attributes = "a" in node
        if has_attributes:
            _attributes(node["a"], ".a")
        children = node.get("c")
        has_children = children is not None or "c" in node
        if has_children and type(children) is not list:
            raise _Bad(".c: expected a list")
        if len(node) > 2 + has_attributes + has_children:
            _flags(node, ("svg", "sh", "sr"), true_only=True)
        return children
    kind = node["type"]
    allowed = _RRWEB_KEYS.get(kind) if type(kind) is int else None
    if allowed is None:
        raise _Bad(".type: expected a node type 0-3")
    if not node.keys() <= allowed:
        raise _Bad(f": unknown field in a node of type {kind}")
    _id(node, "id")
    _id(node, "rootId", optional=True)
    if kind == 3:
        _string(node, "textContent", _MAX_TEXT, optional=False)
        _flags(node, ("isStyle",), true_only=False)
        return None
    if kind == 1:
        _string(node, "name", 64, optional=False)
        _string(node, "publicId", 256, optional=True)
        _string(node, "systemId", 256, optional=True)
        return None
    if kind == 2:
        _tag(node.get("tagName"), ".tagName")
        _attributes(node.get("attributes"), ".attributes")
        _flags(node, ("isSVG", "needBlock", "isShadowHost", "isShadow"), False)
    else:
        _string(node, "compatMode", 64, optional=True)
    children = node.get("childNodes")
    if type(children) is not list:
        raise _Bad(".childNodes: expected a list")
    return children


# Tag names already seen valid: a page uses a few dozen, so most checks are a set lookup.
_GOOD_TAGS: set[str] = set()


def _tag(tag: Any, where: str) -> None:
    if type(tag) is not str:  # first: a list or an object cannot even be looked up
        raise _Bad(f"{where}: expected a tag name")
    if tag in _GOOD_TAGS:
        return
    if not _TAG.fullmatch(tag):
        raise _Bad(f"{where}: expected a tag name")
    if len(_GOOD_TAGS) < 4096:
        _GOOD_TAGS.add(tag)


def check_tree(root: Any) -> Any:
    """Check a serialized node and its whole subtree; returns it unchanged."""
    stack = [root]
    try:
        while stack:
            node = stack.pop()
            children = _check_node(node)
            if children:
                stack.extend(children)
    except _Bad:
        _refuse_with_path(root)
        raise  # not reached: the second walk raises with the path
    return root


def _refuse_with_path(root: Any) -> None:
    """Walk again, keeping each node's path, and raise at the first refused node."""
    stack: list[tuple[Any, str]] = [(root, "node")]
    while stack:
        node, where = stack.pop()
        try:
            children = _check_node(node)
        except _Bad as bad:
            raise _Bad(f"{where}{bad}") from None
        if children:
            key = "childNodes" if "type" in node else "c"
            stack.extend((child, f"{where}.{key}.{i}") for i, child in enumerate(children))


Node = Annotated[Any, PlainValidator(check_tree, json_schema_input_type=dict[str, Any])]


# --- incremental snapshot data (rrweb's IncrementalSource) ----------------------------


class TextMutation(_Strict):
    id: Id
    value: Text | None


class AttributeMutation(_Strict):
    id: Id
    attributes: dict[Annotated[str, Field(max_length=128)], AttrValue]


class RemovedNode(_Strict):
    parentId: Id
    id: Id
    isShadow: bool | None = None


class AddedNode(_Strict):
    parentId: Id
    nextId: Id | None
    previousId: Id | None = None
    node: Node


class MutationData(_Strict):
    source: Literal[0]
    texts: list[TextMutation]
    attributes: list[AttributeMutation]
    removes: list[RemovedNode]
    adds: list[AddedNode]
    isAttachIframe: Literal[True] | None = None


class MousePosition(_Strict):
    x: Coord
    y: Coord
    id: Id
    timeOffset: int


class MouseMoveData(_Strict):
    source: Literal[1, 6, 12]  # MouseMove, TouchMove, Drag
    positions: list[MousePosition]


class MouseInteractionData(_Strict):
    source: Literal[2]
    type: Annotated[int, Field(ge=0, le=10)]
    id: Id
    x: Coord | None = None
    y: Coord | None = None
    pointerType: Annotated[int, Field(ge=0, le=2)] | None = None


class ScrollData(_Strict):
    source: Literal[3]
    id: Id
    x: Coord
    y: Coord


class ViewportResizeData(_Strict):
    source: Literal[4]
    width: Annotated[int, Field(ge=0, le=100_000)]
    height: Annotated[int, Field(ge=0, le=100_000)]


class InputData(_Strict):
    source: Literal[5]
    id: Id
    text: Text
    isChecked: bool
    userTriggered: bool | None = None


class MediaInteractionData(_Strict):
    source: Literal[7]
    type: Annotated[int, Field(ge=0, le=4)]
    id: Id
    currentTime: float | None = None
    volume: float | None = None
    muted: bool | None = None
    playbackRate: float | None = None


IncrementalData = Annotated[
    (
        MutationData
        | MouseMoveData
        | MouseInteractionData
        | ScrollData
        | ViewportResizeData
        | InputData
        | MediaInteractionData
    ),
    Field(discriminator="source"),
]


# --- events (rrweb's EventType) -------------------------------------------------------


class Empty(_Strict):
    pass


class Offset(_Strict):
    top: Coord
    left: Coord


class FullSnapshotData(_Strict):
    node: Node
    initialOffset: Offset


class MetaData(_Strict):
    href: Annotated[str, Field(max_length=2048)]
    width: Annotated[int, Field(ge=0, le=100_000)]
    height: Annotated[int, Field(ge=0, le=100_000)]


class CustomData(_Strict):
    tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
    payload: dict[Annotated[str, Field(max_length=64)], AttrValue]


class DomContentLoadedEvent(_Strict):
    type: Literal[0]
    data: Empty
    timestamp: Timestamp


class LoadEvent(_Strict):
    type: Literal[1]
    data: Empty
    timestamp: Timestamp


class FullSnapshotEvent(_Strict):
    type: Literal[2]
    data: FullSnapshotData
    timestamp: Timestamp


class IncrementalSnapshotEvent(_Strict):
    type: Literal[3]
    data: IncrementalData
    timestamp: Timestamp


class MetaEvent(_Strict):
    type: Literal[4]
    data: MetaData
    timestamp: Timestamp


class CustomEvent(_Strict):
    type: Literal[5]
    data: CustomData
    timestamp: Timestamp


Event = Annotated[
    (
        DomContentLoadedEvent
        | LoadEvent
        | FullSnapshotEvent
        | IncrementalSnapshotEvent
        | MetaEvent
        | CustomEvent
    ),
    Field(discriminator="type"),
]
