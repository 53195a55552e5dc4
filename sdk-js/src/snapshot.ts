// Serialises DOM nodes into rrweb's node tree (full snapshot), or straight into the flat
// list of adds a Mutation event carries. Every string comes from the masker; this file
// only decides the shape. Any exception drops the node (fail closed).

import { isStyleElement, type ElementInfo, type Scope } from './mask';
import {
  NodeType,
  type MutationData,
  type RecordContext,
  type SerializedElement,
  type SerializedNode,
  type SerializedText,
} from './types';

type SnapshotContext = Pick<RecordContext, 'mask' | 'mirror' | 'watchRoot'>;
type Adds = MutationData['adds'];

/**
 * Serialise `node` and its subtree, assigning fresh ids. `parentScope` is the masking
 * scope of the node's parent (for a text node, the scope its text is judged by).
 * Returns null when the node is not recorded at all.
 */
export function serializeNode(node: Node, ctx: SnapshotContext, parentScope: Scope): SerializedNode | null {
  try {
    return serialize(node, ctx, parentScope, isStyleText(node));
  } catch {
    return null;
  }
}

/**
 * Serialise an added subtree as rrweb's replayer wants it: one add per node (it builds
 * each without children), parent first, then children from last to first, so that
 * every parentId and nextId refers to a node the replayer already has. `isShadow`:
 * `node` sits directly in a shadow root. Returns the node's id, or null when it is not
 * recorded (nothing was added for it).
 */
export function serializeAdds(
  node: Node,
  ctx: SnapshotContext,
  parentScope: Scope,
  parentId: number,
  nextId: number | null,
  adds: Adds,
  isShadow: boolean,
): number | null {
  try {
    return addSubtree(node, ctx, parentScope, parentId, nextId, adds, isShadow, isStyleText(node));
  } catch {
    return null;
  }
}

function isStyleText(node: Node): boolean {
  const parent = node.parentElement;
  return node.nodeType === 3 && parent !== null && isStyleElement(parent);
}

function serialize(node: Node, ctx: SnapshotContext, parentScope: Scope, inStyle: boolean): SerializedNode | null {
  if (node.nodeType === 1) {
    const el = node as Element;
    const info = ctx.mask.element(el, parentScope);
    if (!info) return null;
    const out = elementNode(el, info, ctx);
    if (!info.childless) {
      const style = info.sheet && isStyleElement(el);
      out.childNodes = children(el, ctx, info.scope, style);
      // Open shadow roots only: a closed one is not reachable, so it is simply not recorded.
      const shadow = el.shadowRoot;
      if (shadow) {
        out.isShadowHost = true;
        ctx.watchRoot(shadow);
        for (const child of children(shadow, ctx, info.scope, false)) {
          (child as { isShadow?: true }).isShadow = true;
          out.childNodes.push(child);
        }
      }
    }
    if (info.sheet) inlineSheet(el, info, out, ctx);
    return out;
  }
  if (node.nodeType === 9) {
    const id = ctx.mirror.add(node);
    return { type: NodeType.Document, childNodes: children(node, ctx, parentScope, false), id };
  }
  return leaf(node, ctx, parentScope, inStyle);
}

function children(parent: Node, ctx: SnapshotContext, scope: Scope, inStyle: boolean): SerializedNode[] {
  const out: SerializedNode[] = [];
  for (let child = parent.firstChild; child; child = child.nextSibling) {
    let serialized: SerializedNode | null;
    try {
      serialized = serialize(child, ctx, scope, inStyle);
    } catch {
      serialized = null;
    }
    if (serialized) out.push(serialized);
  }
  return out;
}

function addSubtree(
  node: Node,
  ctx: SnapshotContext,
  parentScope: Scope,
  parentId: number,
  nextId: number | null,
  adds: Adds,
  isShadow: boolean,
  inStyle: boolean,
): number | null {
  if (node.nodeType !== 1) {
    const serialized = leaf(node, ctx, parentScope, inStyle);
    if (!serialized) return null;
    if (isShadow) (serialized as { isShadow?: true }).isShadow = true;
    adds.push({ parentId, nextId, node: serialized });
    return serialized.id;
  }
  const el = node as Element;
  const info = ctx.mask.element(el, parentScope);
  if (!info) return null;
  const out = elementNode(el, info, ctx);
  if (isShadow) out.isShadow = true;
  adds.push({ parentId, nextId, node: out });
  const id = out.id;
  let anyChild = false;
  if (!info.childless) {
    const style = info.sheet && isStyleElement(el);
    // Light and shadow children are separate sibling lists: nextId stays within one.
    anyChild = addChildren(el, ctx, info.scope, id, adds, false, style);
    const shadow = el.shadowRoot;
    if (shadow) {
      out.isShadowHost = true;
      ctx.watchRoot(shadow);
      addChildren(shadow, ctx, info.scope, id, adds, true, false);
    }
  }
  if (info.sheet) inlineSheet(el, info, out, ctx, anyChild);
  return id;
}

/** Adds the children of `parent`, last first; true when any was recorded. */
function addChildren(
  parent: Node,
  ctx: SnapshotContext,
  scope: Scope,
  parentId: number,
  adds: Adds,
  isShadow: boolean,
  inStyle: boolean,
): boolean {
  let next: number | null = null;
  for (let child = parent.lastChild; child; child = child.previousSibling) {
    let id: number | null;
    try {
      id = addSubtree(child, ctx, scope, parentId, next, adds, isShadow, inStyle);
    } catch {
      id = null;
    }
    if (id !== null) next = id;
  }
  return next !== null;
}

/** An element without its children, with a fresh id. */
function elementNode(el: Element, info: ElementInfo, ctx: SnapshotContext): SerializedElement {
  const out: SerializedElement = {
    type: NodeType.Element,
    tagName: info.tagName,
    attributes: info.attributes,
    childNodes: [],
    id: ctx.mirror.add(el),
  };
  if (info.isSVG) out.isSVG = true;
  if (info.childless) ctx.mirror.markOpaque(el, info.blocked);
  return out;
}

function isStyle(info: ElementInfo): boolean {
  return info.tagName.toLowerCase() === 'style';
}

/** Same-origin sheets are inlined so the replay does not depend on fetching them. */
function inlineSheet(
  el: Element,
  info: ElementInfo,
  out: SerializedElement,
  ctx: SnapshotContext,
  anyChild = out.childNodes.length > 0,
): void {
  if (isStyle(info) && anyChild) return;
  const css = ctx.mask.cssText(el);
  if (css === undefined) return;
  const attributes = out.attributes;
  attributes._cssText = css;
  delete attributes.href;
  delete attributes.rel;
}

/** A text node or doctype (anything else is dropped: comments, CDATA, instructions). */
function leaf(node: Node, ctx: SnapshotContext, parentScope: Scope, inStyle: boolean): SerializedNode | null {
  const { mask, mirror } = ctx;
  if (node.nodeType === 3) {
    const textContent = mask.text(node, parentScope);
    if (textContent === null) return null;
    mirror.texts.set(node, textContent);
    const out: SerializedText = { type: NodeType.Text, textContent, id: mirror.add(node) };
    if (inStyle) out.isStyle = true;
    return out;
  }
  if (node.nodeType === 10) {
    const doctype = mask.doctype(node as DocumentType);
    return { type: NodeType.DocumentType, ...doctype, id: mirror.add(node) };
  }
  return null;
}
