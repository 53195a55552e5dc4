// Test-side twin of the collector's expansion (collector/rrweb.py): packed nodes back
// into rrweb's serialized nodes, and one add per subtree into rrweb's one add per node.
// The fake collector applies it, so tests read what the console and export will show.

import type {
  EventType,
  EventWithTime,
  FullSnapshotData,
  IncrementalData,
  MutationData,
  SerializedElement,
  SerializedNode,
  SerializedText,
  WireNode,
} from '../src/types';

export type RrwebAdd = { parentId: number; nextId: number | null; node: SerializedNode };
export type RrwebMutationData = Omit<MutationData, 'adds'> & { adds: RrwebAdd[] };
/** An event as the collector stores it after expansion: nodes in rrweb's shape. */
export type RrwebEvent =
  | Exclude<EventWithTime, { type: EventType.FullSnapshot } | { type: EventType.IncrementalSnapshot }>
  | {
      type: EventType.FullSnapshot;
      data: { node: SerializedNode; initialOffset: FullSnapshotData['initialOffset'] };
      timestamp: number;
    }
  | {
      type: EventType.IncrementalSnapshot;
      data: Exclude<IncrementalData, MutationData> | RrwebMutationData;
      timestamp: number;
    };

/** One node in rrweb's shape; `deep`: with its children (a snapshot), else without (an add). */
export function unpackNode(node: WireNode, deep = true): SerializedNode {
  if ('type' in node) {
    if (node.type !== 0) return node;
    return { ...node, childNodes: deep ? node.childNodes.map((c) => unpackNode(c)) : [] };
  }
  if ('x' in node) {
    const text: SerializedText = { type: 3, textContent: node.x, id: node.i };
    if (node.st) text.isStyle = true;
    if (node.sr) text.isShadow = true;
    return text;
  }
  const el: SerializedElement = {
    type: 2,
    tagName: node.n,
    attributes: node.a ?? {},
    childNodes: deep ? (node.c ?? []).map((c) => unpackNode(c)) : [],
    id: node.i,
  };
  if (node.svg) el.isSVG = true;
  if (node.sh) el.isShadowHost = true;
  if (node.sr) el.isShadow = true;
  return el;
}

/** rrweb's adds: each node on its own, parent first, children appended in order. */
export function unpackAdds(adds: MutationData['adds']): RrwebAdd[] {
  const out: RrwebAdd[] = [];
  const visit = (parentId: number, nextId: number | null, node: WireNode): void => {
    const shallow = unpackNode(node, false);
    out.push({ parentId, nextId, node: shallow });
    if (!('type' in node) && 'n' in node) for (const child of node.c ?? []) visit(node.i, null, child);
  };
  for (const add of adds) visit(add.parentId, add.nextId, add.node);
  return out;
}

export function unpackEvent(event: EventWithTime): RrwebEvent {
  if (event.type === 2) return { ...event, data: { ...event.data, node: unpackNode(event.data.node) } };
  if (event.type === 3 && event.data.source === 0) {
    return { ...event, data: { ...event.data, adds: unpackAdds(event.data.adds) } } as RrwebEvent;
  }
  return event as RrwebEvent;
}
