// Serialises DOM nodes into packed node trees (docs/protocol.md, "Packed nodes"): rrweb's
// serialized nodes with short keys and no empty fields, which the collector expands
// back into rrweb's shape. A full snapshot is one tree; an added subtree is one add that
// carries its descendants. Every string comes from the masker; this file only decides
// the shape. Any exception drops the node (fail closed).

import { isStyleElement, type ElementInfo, type Scope } from './mask';
import { NodeType, type MutationData, type PackedElement, type RecordContext, type WireNode } from './types';

type SnapshotContext = Pick<RecordContext, 'mask' | 'mirror' | 'watchRoot'>;

/**
 * Serialise `node` and its subtree, assigning fresh ids. `parentScope` is the masking
 * scope of the node's parent (for a text node, the scope its text is judged by).
 * Returns null when the node is not recorded at all.
 */
export function serializeNode(node: Node, ctx: SnapshotContext, parentScope: Scope): WireNode | null {
  try {
    return serialize(node, ctx, parentScope, isStyleText(node));
  } catch {
    return null;
  }
}

/**
 * Append to `adds` one add for an added subtree, its descendants inside it. `isShadow`:
 * `node` sits directly in a shadow root. Returns the node's id, or null when it is not
 * recorded (nothing was added for it).
 */
export function serializeAdds(
  node: Node,
  ctx: SnapshotContext,
  parentScope: Scope,
  parentId: number,
  nextId: number | null,
  adds: MutationData['adds'],
  isShadow: boolean,
): number | null {
  const serialized = serializeNode(node, ctx, parentScope);
  if (!serialized || !('i' in serialized)) return null;
  if (isShadow) serialized.sr = true;
  adds.push({ parentId, nextId, node: serialized });
  return serialized.i;
}

function isStyleText(node: Node): boolean {
  const parent = node.parentElement;
  return node.nodeType === 3 && parent !== null && isStyleElement(parent);
}

function serialize(node: Node, ctx: SnapshotContext, parentScope: Scope, inStyle: boolean): WireNode | null {
  const { mask, mirror } = ctx;
  switch (node.nodeType) {
    case 1: {
      const el = node as Element;
      const info = mask.element(el, parentScope);
      return info ? element(el, info, ctx) : null;
    }
    case 3: {
      const text = mask.text(node, parentScope);
      if (text === null) return null;
      mirror.setText(node, text);
      return inStyle ? { i: mirror.add(node), x: text, st: true } : { i: mirror.add(node), x: text };
    }
    case 9: {
      const id = mirror.add(node);
      return { type: NodeType.Document, childNodes: children(node, ctx, parentScope, false), id };
    }
    case 10: {
      const doctype = mask.doctype(node as DocumentType);
      return { type: NodeType.DocumentType, ...doctype, id: mirror.add(node) };
    }
    default:
      return null; // comments, CDATA, processing instructions: dropped
  }
}

function element(el: Element, info: ElementInfo, ctx: SnapshotContext): PackedElement {
  const out: PackedElement = { i: ctx.mirror.add(el), n: info.tagName };
  for (const _ in info.attributes) {
    out.a = info.attributes;
    break;
  }
  if (info.isSVG) out.svg = true;
  if (info.childless) {
    ctx.mirror.markOpaque(el, info.blocked);
  } else {
    const style = info.sheet && isStyleElement(el);
    const light = children(el, ctx, info.scope, style);
    // Open shadow roots only: a closed one is not reachable, so it is simply not recorded.
    const shadow = el.shadowRoot;
    if (shadow) {
      out.sh = true;
      ctx.watchRoot(shadow);
      for (const child of children(shadow, ctx, info.scope, false)) {
        (child as { sr?: true }).sr = true;
        light.push(child);
      }
    }
    if (light.length) out.c = light;
  }
  if (info.sheet) inlineSheet(el, info, out, ctx);
  return out;
}

function children(parent: Node, ctx: SnapshotContext, scope: Scope, inStyle: boolean): WireNode[] {
  const out: WireNode[] = [];
  // A shadow host's light children are shown through slots, whose region may mask them.
  const host = parent.nodeType === 1 && (parent as Element).shadowRoot !== null;
  for (let child = parent.firstChild; child; child = child.nextSibling) {
    let serialized: WireNode | null;
    try {
      serialized = serialize(child, ctx, host ? ctx.mask.slotted(child, scope) : scope, inStyle);
    } catch {
      serialized = null;
    }
    if (serialized) out.push(serialized);
  }
  return out;
}

/** Same-origin sheets are inlined so the replay does not depend on fetching them. */
function inlineSheet(el: Element, info: ElementInfo, out: PackedElement, ctx: SnapshotContext): void {
  // A <style> whose text was recorded replays from that text.
  if (info.tagName.toLowerCase() === 'style' && out.c) return;
  const css = ctx.mask.cssText(el);
  if (css === undefined) return;
  const attributes = out.a ?? {};
  attributes._cssText = css;
  delete attributes.href;
  delete attributes.rel;
  out.a = attributes;
}
