// Mutation observer: turns DOM changes into one rrweb Mutation event per callback.
// Added subtrees are serialised in their final state; texts and attributes are read
// at callback time (not from the records) so that only current, masked values leave.
// Order inside the event follows rrweb's replayer: removes, adds, texts, attributes.

import { serializeNode } from '../snapshot';
import {
  EventType,
  IncrementalSource,
  type MutationData,
  type Observer,
  type RecordContext,
  type SerializedNode,
} from '../types';

export const observeMutations: Observer = (ctx) => {
  const observer = new ctx.win.MutationObserver((records) => {
    try {
      if (ctx.capturing()) {
        const data = collect(records, ctx);
        if (data) ctx.emit({ type: EventType.IncrementalSnapshot, data });
      }
    } catch {
      // Never break the page; the next full snapshot repairs the replay.
    }
  });
  observer.observe(ctx.doc, { childList: true, subtree: true, attributes: true, characterData: true });
  return () => observer.disconnect();
};

function collect(records: MutationRecord[], ctx: RecordContext): MutationData | null {
  const { mirror, mask, doc } = ctx;
  const data: MutationData = { source: IncrementalSource.Mutation, texts: [], attributes: [], removes: [], adds: [] };
  const added = new Set<Node>();
  const texts = new Set<Node>();
  const attributes = new Map<Element, Set<string>>();

  for (const record of records) {
    if (record.type === 'characterData') {
      texts.add(record.target);
    } else if (record.type === 'attributes') {
      const el = record.target as Element;
      const names = attributes.get(el) ?? new Set<string>();
      names.add(record.attributeName ?? '');
      attributes.set(el, names);
    } else {
      record.addedNodes.forEach((node) => added.add(node));
      record.removedNodes.forEach((node) => {
        added.delete(node);
        const id = mirror.getId(node);
        const parentId = mirror.getId(record.target);
        if (id !== undefined && parentId !== undefined) data.removes.push({ parentId, id });
        if (id !== undefined) mirror.forget(node);
      });
    }
  }

  // An element whose blocked state changed is replaced as a whole.
  attributes.forEach((_, el) => {
    const id = mirror.getId(el);
    const parentId = mirror.getId(el.parentNode);
    if (id === undefined || parentId === undefined || !el.isConnected) return;
    if (mirror.wasBlocked(el) !== mask.isBlocked(el)) {
      data.removes.push({ parentId, id });
      mirror.forget(el);
      added.add(el);
    }
  });

  const roots = [...added].filter(
    (node) => node.isConnected && node.ownerDocument === doc && !insideAny(node.parentNode, added),
  );
  const rootSet = new Set(roots);
  // Reverse document order: a node's next sibling is serialised before it, so nextId
  // always refers to a node the replayer already has.
  roots.sort((a, b) => (a.compareDocumentPosition(b) & 4 ? 1 : -1));
  for (const node of roots) {
    const parent = node.parentNode;
    const parentId = mirror.getId(parent);
    if (!parent || parentId === undefined || mirror.isOpaque(parent)) continue;
    const serialized = serializeNode(node, ctx, mask.scopeAt(parent));
    if (!serialized) continue;
    let next = node.nextSibling;
    while (next && mirror.getId(next) === undefined) next = next.nextSibling;
    flatten(serialized, parentId, next ? (mirror.getId(next) ?? null) : null, data.adds);
  }

  texts.forEach((node) => {
    const id = mirror.getId(node);
    if (id === undefined || !node.isConnected || insideAny(node, rootSet)) return;
    const value = mask.text(node, mask.scopeAt(node.parentNode));
    if (value === null || value === mirror.texts.get(node)) return;
    mirror.texts.set(node, value);
    data.texts.push({ id, value });
  });

  attributes.forEach((names, el) => {
    const id = mirror.getId(el);
    if (id === undefined || !el.isConnected || mirror.isOpaque(el) || insideAny(el, rootSet)) return;
    const changed: Record<string, string | null> = {};
    let any = false;
    names.forEach((name) => {
      try {
        const value = mask.attribute(el, name);
        if (value !== undefined) {
          changed[name] = value;
          any = true;
        }
      } catch {
        // Fail closed: an attribute we cannot mask is not sent.
      }
    });
    if (any) data.attributes.push({ id, attributes: changed });
  });

  const empty = !data.adds.length && !data.removes.length && !data.texts.length && !data.attributes.length;
  return empty ? null : data;
}

/**
 * rrweb's replayer builds each added node without its children, so a subtree is sent
 * as one add per node: parent first, then children from last to first, so that every
 * parentId and nextId refers to a node the replayer already has.
 */
function flatten(node: SerializedNode, parentId: number, nextId: number | null, adds: MutationData['adds']): void {
  const children = 'childNodes' in node ? node.childNodes : [];
  adds.push({ parentId, nextId, node: 'childNodes' in node ? { ...node, childNodes: [] } : node });
  for (let i = children.length - 1; i >= 0; i--) {
    flatten(children[i], node.id, i + 1 < children.length ? children[i + 1].id : null, adds);
  }
}

/** True when `node` or one of its ancestors is in `set`. */
function insideAny(node: Node | null, set: Set<Node>): boolean {
  for (let n = node; n; n = n.parentNode) if (set.has(n)) return true;
  return false;
}
