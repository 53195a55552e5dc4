// Serialises DOM nodes into rrweb's node tree. Every string comes from the masker;
// this file only decides the shape. Any exception drops the node (fail closed).

import type { Scope } from './mask';
import { NodeType, type RecordContext, type SerializedNode } from './types';

type SnapshotContext = Pick<RecordContext, 'mask' | 'mirror' | 'watchRoot'>;

/**
 * Serialise `node` and its subtree, assigning fresh ids. `parentScope` is the masking
 * scope of the node's parent (for a text node, the scope its text is judged by).
 * Returns null when the node is not recorded at all.
 */
export function serializeNode(node: Node, ctx: SnapshotContext, parentScope: Scope): SerializedNode | null {
  try {
    return serialize(node, ctx, parentScope);
  } catch {
    return null;
  }
}

function serialize(node: Node, ctx: SnapshotContext, parentScope: Scope): SerializedNode | null {
  const { mask, mirror } = ctx;
  switch (node.nodeType) {
    case 9: {
      const id = mirror.add(node);
      return { type: NodeType.Document, childNodes: children(node, ctx, parentScope), id };
    }
    case 10: {
      const doctype = mask.doctype(node as DocumentType);
      return { type: NodeType.DocumentType, ...doctype, id: mirror.add(node) };
    }
    case 3: {
      const textContent = mask.text(node, parentScope);
      if (textContent === null) return null;
      mirror.texts.set(node, textContent);
      const isStyle = node.parentElement?.localName === 'style';
      return { type: NodeType.Text, textContent, ...(isStyle ? { isStyle: true } : {}), id: mirror.add(node) };
    }
    case 1: {
      const el = node as Element;
      if (mask.isDropped(el)) return null;
      if (mask.isBlocked(el)) {
        const { tagName, attributes, isSVG } = mask.placeholder(el);
        const id = mirror.add(el);
        mirror.markOpaque(el, true);
        return { type: NodeType.Element, tagName, attributes, childNodes: [], ...(isSVG ? { isSVG } : {}), id };
      }
      const scope = mask.scope(el, parentScope);
      const attributes = mask.attributes(el, scope);
      const tagName = mask.tagName(el);
      const isSVG = mask.isSVG(el);
      const id = mirror.add(el);
      let childNodes: SerializedNode[] = [];
      let isShadowHost = false;
      if (mask.isChildless(el)) mirror.markOpaque(el, false);
      else {
        childNodes = children(el, ctx, scope);
        // Open shadow roots only: a closed one is not reachable, so it is simply not recorded.
        const shadow = el.shadowRoot;
        if (shadow) {
          isShadowHost = true;
          ctx.watchRoot(shadow);
          for (const child of children(shadow, ctx, scope)) childNodes.push({ ...child, isShadow: true } as SerializedNode);
        }
      }
      const tag = tagName.toLowerCase();
      if (tag === 'link' || (tag === 'style' && !childNodes.length)) {
        // Same-origin sheets are inlined so the replay does not depend on fetching them.
        const css = mask.cssText(el);
        if (css !== undefined) {
          attributes._cssText = css;
          delete attributes.href;
          delete attributes.rel;
        }
      }
      return {
        type: NodeType.Element,
        tagName,
        attributes,
        childNodes,
        ...(isSVG ? { isSVG } : {}),
        ...(isShadowHost ? { isShadowHost } : {}),
        id,
      } as SerializedNode;
    }
    default:
      // Comments, CDATA, processing instructions and anything unknown are dropped.
      return null;
  }
}

function children(parent: Node, ctx: SnapshotContext, scope: Scope): SerializedNode[] {
  const out: SerializedNode[] = [];
  for (let child = parent.firstChild; child; child = child.nextSibling) {
    const serialized = serializeNode(child, ctx, scope);
    if (serialized) out.push(serialized);
  }
  return out;
}
