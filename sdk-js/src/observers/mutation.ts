// Mutation observer: turns DOM changes into one rrweb Mutation event per callback.
// Added subtrees are serialised in their final state; texts and attributes are read
// at callback time (not from the records) so that only current, masked values leave.
// Order inside the event follows rrweb's replayer: removes, adds, texts, attributes.
//
// Three changes no MutationObserver reports are hooked and fed through the same batch:
// attachShadow (the host is re-sent with its new shadow root), CSSOM insertRule /
// deleteRule (the sheet is re-sent as text), and a stylesheet <link> finishing loading.

import { isStyleElement, type Scope } from '../mask';
import { serializeAdds } from '../snapshot';
import { IncrementalSource, type MutationData, type Observer, type RecordContext } from '../types';
import { listen, wrapMethod } from './listen';

// Old attribute values: a field whose type or autocomplete was sensitive and changed back
// within one task must still be known as sensitive (it stays masked for life).
const OPTIONS: MutationObserverInit = {
  childList: true,
  subtree: true,
  attributes: true,
  attributeOldValue: true,
  characterData: true,
};

/** Changes seen outside MutationObserver records, waiting for the next batch. */
interface Extra {
  /** Hosts whose shadow root was attached after they were recorded. */
  hosts: Set<Element>;
  /** <style>/<link> elements whose CSSOM changed or whose sheet loaded. */
  sheets: Set<Element>;
}

export const observeMutations: Observer = (ctx) => {
  const extra: Extra = { hosts: new Set(), sheets: new Set() };
  const handle = (records: MutationRecord[], asExcluded = false): void => {
    if (!records.length && !extra.hosts.size && !extra.sheets.size) return;
    ctx.mask.batch();
    try {
      for (const record of records) {
        if (record.type === 'attributes' && (record.attributeName === 'type' || record.attributeName === 'autocomplete')) {
          ctx.mask.noteField(record.target as Element, record.attributeName, record.oldValue);
        }
      }
      // The route is checked here, when records are processed, so that the first
      // render of an excluded route is dropped even if it came before the navigation.
      if (!asExcluded && ctx.capturing()) {
        const data = collect(records, ctx, extra);
        if (data) ctx.incremental(data);
      } else if (asExcluded || ctx.excluded()) {
        // The excluded view's own nodes: wherever they are when capture resumes, their
        // text and values are masked, never recorded as they are.
        for (const record of records) {
          if (record.type === 'characterData') ctx.mask.taint(record.target);
          record.addedNodes.forEach((node) => ctx.mask.taint(node));
        }
      } else {
        ctx.domChanged();
      }
    } catch {
      // Never break the page; the next full snapshot repairs the replay.
    }
    extra.hosts.clear();
    extra.sheets.clear();
  };
  const observer = new ctx.win.MutationObserver((records) => handle(records));
  observer.observe(ctx.doc, OPTIONS);
  let scheduled = false;
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    ctx.win.queueMicrotask(() => {
      scheduled = false;
      if (!stopped) handle(observer.takeRecords());
    });
  };
  let stopped = false;
  const previousDrain = ctx.drain;
  ctx.drain = (asExcluded) => {
    if (!stopped) handle(observer.takeRecords(), asExcluded);
  };

  const { win } = ctx;
  const sheetChanged = (sheet: unknown): void => {
    const owner = (sheet as CSSStyleSheet | null)?.ownerNode;
    if (owner && owner.nodeType === 1 && ctx.mirror.getId(owner) !== undefined) {
      extra.sheets.add(owner as Element);
      schedule();
    }
  };
  // A closed shadow root is never recorded, but its fields are still watched for being
  // sensitive: one may be moved out later (as text).
  const closed = new ctx.win.MutationObserver((records) => {
    for (const record of records) ctx.mask.noteField(record.target as Element, record.attributeName ?? '', record.oldValue);
  });
  const { mask } = ctx;
  const teardowns = [
    ctx.onRoot((root) => observer.observe(root, OPTIONS)),
    () => closed.disconnect(),
    // Copies carry their original's taint and sensitivity (a cloned password field, a
    // cached node of an excluded view, a text node split off a tainted one).
    wrapMethod(win.Node.prototype, 'cloneNode', (self, _args, copy) => mask.copied(self as Node, copy as Node)),
    wrapMethod(win.Document.prototype, 'importNode', (_self, args, copy) => mask.copied(args[0] as Node, copy as Node)),
    wrapMethod(win.Text.prototype, 'splitText', (self, _args, tail) => mask.copied(self as Node, tail as Node)),
    wrapMethod(win.Node.prototype, 'normalize', () => undefined, (self) => mergeRuns(self as Node, mask)),
    wrapMethod(win.Element.prototype, 'attachShadow', (host, _args, root) => {
      const shadow = root as ShadowRoot | null;
      if (shadow && shadow.mode !== 'open') {
        closed.observe(shadow, { subtree: true, attributes: true, attributeFilter: ['type', 'autocomplete'], attributeOldValue: true });
        teardowns.push(
          listen(shadow, 'input', (event) => {
            const el = event.composedPath()[0] as Node | undefined;
            if (el && el.nodeType === 1) mask.noteField(el as Element);
          }),
        );
        return;
      }
      // Watch at once, so changes between now and the batch are not missed.
      if (!shadow) return;
      ctx.watchRoot(shadow);
      if (ctx.mirror.getId(host as Element) !== undefined) {
        extra.hosts.add(host as Element);
        schedule();
      }
    }),
    ...(win.CSSStyleSheet
      ? ['insertRule', 'deleteRule', 'replaceSync'].map((key) =>
          wrapMethod(win.CSSStyleSheet.prototype, key, (sheet) => sheetChanged(sheet)),
        )
      : []),
    // load does not bubble, but a capturing listener on the document sees it.
    listen(ctx.doc, 'load', (event) => {
      const el = event.target as Element;
      if (el.nodeType === 1 && el.localName === 'link') sheetChanged((el as HTMLLinkElement).sheet);
    }),
  ];
  return () => {
    stopped = true;
    ctx.drain = previousDrain;
    teardowns.forEach((teardown) => teardown());
    observer.disconnect();
  };
};

/** Before normalize(): runs of adjacent text nodes about to become one, each told to the masker. */
function mergeRuns(root: Node, mask: RecordContext['mask']): void {
  const walk = (node: Node): void => {
    let run: Node[] = [];
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 3) {
        run.push(child);
        continue;
      }
      if (run.length > 1) mask.merged(run);
      run = [];
      walk(child);
    }
    if (run.length > 1) mask.merged(run);
  };
  walk(root);
}

/** The id rrweb uses for a parent: a shadow root stands for its host. */
function parentIdOf(ctx: RecordContext, parent: Node | null): number | undefined {
  return ctx.mirror.getId(isShadowRoot(parent) ? parent.host : parent);
}

function isShadowRoot(node: Node | null): node is ShadowRoot {
  return node !== null && node.nodeType === 11 && 'host' in node;
}

function collect(records: MutationRecord[], ctx: RecordContext, extra: Extra): MutationData | null {
  const { mirror, mask, doc } = ctx;
  const data: MutationData = { source: IncrementalSource.Mutation, texts: [], attributes: [], removes: [], adds: [] };
  const added = new Set<Node>();
  const texts = new Set<Node>();
  const attributes = new Map<Element, Set<string>>();
  let textsOnly = extra.hosts.size === 0 && extra.sheets.size === 0;

  for (const record of records) {
    // A <style> leaves as its parsed sheet: any change to its text re-sends the sheet. Its
    // text nodes are never recorded, so a recorded text's parent need not be looked at.
    const style =
      record.type !== 'characterData' ? record.target : mirror.getId(record.target) === undefined ? record.target.parentNode : null;
    if (style && style.nodeType === 1 && isStyleElement(style as Element)) extra.sheets.add(style as Element);
    if (record.type === 'characterData') {
      texts.add(record.target);
      continue;
    }
    textsOnly = false;
    if (record.type === 'attributes') {
      const el = record.target as Element;
      const names = attributes.get(el) ?? new Set<string>();
      names.add(record.attributeName ?? '');
      attributes.set(el, names);
    } else {
      record.addedNodes.forEach((node) => added.add(node));
      record.removedNodes.forEach((node) => {
        added.delete(node);
        const id = mirror.getId(node);
        const parentId = parentIdOf(ctx, record.target);
        if (id !== undefined && parentId !== undefined) {
          data.removes.push(isShadowRoot(record.target) ? { parentId, id, isShadow: true } : { parentId, id });
        }
        if (id !== undefined) mirror.forget(node);
      });
    }
  }

  // Any other change may move a node into or out of an unmask region.
  if (!textsOnly) mask.treeChanged();

  // An element whose blocked state changed, or that got a shadow root, is replaced whole.
  const replace = (el: Element): void => {
    const id = mirror.getId(el);
    const parentId = parentIdOf(ctx, el.parentNode);
    if (id === undefined || parentId === undefined || !el.isConnected) return;
    data.removes.push(isShadowRoot(el.parentNode) ? { parentId, id, isShadow: true } : { parentId, id });
    mirror.forget(el);
    added.add(el);
  };
  attributes.forEach((_, el) => {
    if (mirror.getId(el) !== undefined && mirror.wasBlocked(el) !== mask.isBlocked(el)) replace(el);
  });
  extra.hosts.forEach((el) => {
    if (!mirror.isOpaque(el)) replace(el);
  });

  // Only the top of each added subtree is serialised (it carries its descendants).
  const several = added.size > 1;
  const rootSet = new Set<Node>();
  const byParent = new Map<Node, Node[]>();
  added.forEach((node) => {
    const parent = node.parentNode;
    if (!parent || !node.isConnected || node.ownerDocument !== doc) return;
    if (several && insideAny(parentOf(node), added)) return;
    rootSet.add(node);
    const siblings = byParent.get(parent);
    if (siblings) siblings.push(node);
    else byParent.set(parent, [node]);
  });
  // Scopes of the ancestors met in this batch, so that shared ones are checked once.
  const scopes = new Map<Node, Scope>();
  byParent.forEach((siblings, parent) => {
    const shadow = isShadowRoot(parent);
    const parentId = parentIdOf(ctx, parent);
    if (parentId === undefined || mirror.isOpaque(shadow ? parent.host : parent)) return;
    const scope = mask.scopeAt(parent, scopes);
    // Reverse document order: a node's next sibling is serialised before it, so nextId
    // always refers to a node the replayer already has.
    for (const node of siblings.length > 1 ? lastToFirst(parent, siblings) : siblings) {
      let next = node.nextSibling;
      while (next && mirror.getId(next) === undefined) next = next.nextSibling;
      serializeAdds(node, ctx, scope, parentId, next ? (mirror.getId(next) ?? null) : null, data.adds, shadow);
    }
  });

  // Stylesheets changed through the CSSOM: the whole sheet is re-sent, sanitised.
  extra.sheets.forEach((el) => {
    const id = mirror.getId(el);
    if (id === undefined || !el.isConnected || (rootSet.size > 0 && insideAny(el, rootSet))) return;
    const css = mask.cssText(el) ?? '';
    const text = el.localName === 'style' ? [...el.childNodes].find((c) => mirror.getId(c) !== undefined) : undefined;
    if (text) {
      mirror.setText(text, css);
      data.texts.push({ id: mirror.getId(text) as number, value: css });
    } else {
      data.attributes.push({ id, attributes: { _cssText: css } });
    }
  });

  collectTexts(texts, rootSet, scopes, ctx, data.texts);

  attributes.forEach((names, el) => {
    const id = mirror.getId(el);
    if (id === undefined || !el.isConnected || mirror.isOpaque(el) || (rootSet.size > 0 && insideAny(el, rootSet))) {
      return;
    }
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
 * Text changes, read now: only a mask that differs from the last one sent goes out. A
 * small function of its own, so that a burst of edits gets its loop compiled quickly.
 */
function collectTexts(
  texts: Set<Node>,
  rootSet: Set<Node>,
  scopes: Map<Node, Scope>,
  ctx: RecordContext,
  out: MutationData['texts'],
): void {
  const { mirror, mask } = ctx;
  const inAdded = rootSet.size > 0;
  for (const node of texts) {
    const id = mirror.getId(node);
    if (id === undefined || !node.isConnected || (inAdded && insideAny(node, rootSet))) continue;
    const value = mask.changedText(node, scopes);
    if (value === null || value === mirror.getText(node)) continue;
    mirror.setText(node, value);
    out.push({ id, value });
  }
}

/** `siblings` (children of `parent`) from last to first, found by one backward walk. */
function lastToFirst(parent: Node, siblings: Node[]): Node[] {
  const wanted = new Set(siblings);
  const out: Node[] = [];
  for (let child = parent.lastChild; child && out.length < wanted.size; child = child.previousSibling) {
    if (wanted.has(child)) out.push(child);
  }
  return out;
}

function parentOf(node: Node): Node | null {
  const parent = node.parentNode;
  return isShadowRoot(parent) ? parent.host : parent;
}

/** True when `node` or one of its ancestors (across shadow roots) is in `set`. */
function insideAny(node: Node | null, set: Set<Node>): boolean {
  for (let n = node; n; n = isShadowRoot(n) ? n.host : n.parentNode) if (set.has(n)) return true;
  return false;
}
