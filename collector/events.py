"""The allow-list schema of events the collector accepts (rrweb's `eventWithTime`).

Anything not described here is refused: unknown event types, unknown incremental
sources, unknown fields, comment nodes. The recorder never sends those, so their
arrival means a different (or tampered) client, and refusing is the safe answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[int, Field(ge=-1, le=2**31)]
Coord = Annotated[float, Field(ge=-1e7, le=1e7)]
Timestamp = Annotated[int, Field(ge=0, le=2**53)]
Text = Annotated[str, Field(max_length=1 << 20)]
AttrValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- serialized DOM nodes (rrweb-snapshot's NodeType) ---------------------------------


class DocumentNode(_Strict):
    type: Literal[0]
    id: Id
    childNodes: list[Node]
    compatMode: str | None = None
    rootId: Id | None = None


class DocumentTypeNode(_Strict):
    type: Literal[1]
    id: Id
    name: Annotated[str, Field(max_length=64)]
    publicId: Annotated[str, Field(max_length=256)] = ""
    systemId: Annotated[str, Field(max_length=256)] = ""
    rootId: Id | None = None


class ElementNode(_Strict):
    type: Literal[2]
    id: Id
    tagName: Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9:_-]{0,63}$")]
    attributes: dict[Annotated[str, Field(max_length=128)], AttrValue]
    childNodes: list[Node]
    isSVG: bool | None = None
    needBlock: bool | None = None
    isShadowHost: bool | None = None
    isShadow: bool | None = None
    rootId: Id | None = None


class TextNode(_Strict):
    type: Literal[3]
    id: Id
    textContent: Text
    isStyle: bool | None = None
    rootId: Id | None = None


Node = Annotated[
    (DocumentNode | DocumentTypeNode | ElementNode | TextNode), Field(discriminator="type")
]


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
