// Makes a recording inert before rrweb's Replayer sees it: nothing in the rebuilt page
// may fetch from the network. The replay iframe runs no script (rrweb sandboxes it) and
// the console's CSP blocks other origins, but a recorded page still names resources on
// the application's origin (stylesheet links, CSS backgrounds and fonts, media) whose
// loads would reach the application, or fail loudly against the CSP. So every URL that
// would be fetched is removed here; `data:` images and `#fragment` references, which
// stay in the page, are kept. Events are treated as untrusted input of any shape.

import { type CssStream, CssToken, cssStream } from '../mask';

type Json = Record<string, unknown>;

const enum EventType {
  FullSnapshot = 2,
  IncrementalSnapshot = 3,
  Meta = 4,
  Custom = 5,
}

const enum Source {
  Mutation = 0,
  StyleSheetRule = 8,
  StyleDeclaration = 13,
  AdoptedStyleSheet = 15,
}

const enum NodeType {
  Document = 0,
  Element = 2,
  Text = 3,
}

/** Event types the replay needs; others (plugins, assets, annotations) are dropped. */
const KEPT_TYPES = new Set([EventType.FullSnapshot, EventType.IncrementalSnapshot, EventType.Meta, EventType.Custom]);

/**
 * Incremental sources passed on. Dropped: canvas mutations (9: drawing commands, may
 * name images), fonts (10: a FontFace source URL), console logs (11).
 */
const KEPT_SOURCES = new Set([0, 1, 2, 3, 4, 5, 6, 7, Source.StyleSheetRule, 12, Source.StyleDeclaration, 14, Source.AdoptedStyleSheet, 16]);

/** Attributes whose value the browser fetches (or navigates to), on any element. */
const FETCHING = new Set([
  'src', 'srcset', 'imagesrcset', 'poster', 'background', 'data', 'codebase', 'archive',
  'classid', 'lowsrc', 'dynsrc', 'longdesc', 'manifest', 'icon', 'ping', 'srcdoc', 'rr_src',
  'href', 'xlink:href', 'rr_dataurl',
]);

/** Attributes kept when they hold a `data:` image, which is no fetch. */
const DATA_IMAGE_OK = new Set(['src', 'poster', 'rr_dataurl']);

/** Elements whose link is only followed on a click, and the replay takes no clicks. */
const ANCHORS = new Set(['a', 'area']);

/** SVG animations can set a `href` while playing (SMIL runs without script). */
const SVG_ANIMATIONS = new Set(['set', 'animate', 'animatemotion', 'animatetransform', 'discard']);

/** CSS functions besides url() whose arguments name resources to fetch. */
const FETCHING_FUNCTIONS = new Set(['src', 'image', 'image-set', '-webkit-image-set', 'cross-fade', 'element']);

/** Per-recording state: which node ids are elements of which tag, and style text. */
interface Scope {
  tags: Map<number, string>;
  styleIds: Set<number>;
  styleTextIds: Set<number>;
}

/**
 * A copy of `events` (sorted by time) that fetches nothing when replayed. Events of
 * unknown shape are dropped, never passed through.
 */
export function inertEvents(events: readonly unknown[]): Json[] {
  const sorted = events.filter(isEvent).slice().sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
  const scope: Scope = { tags: new Map(), styleIds: new Set(), styleTextIds: new Set() };
  const out: Json[] = [];
  for (const original of sorted) {
    if (!KEPT_TYPES.has(original.type as number)) continue;
    const event = structuredClone(original) as Json;
    if (inertEvent(event, scope)) out.push(event);
  }
  return out;
}

function isEvent(value: unknown): value is Json {
  if (!isObject(value)) return false;
  return typeof value.type === 'number' && typeof value.timestamp === 'number' && isFinite(value.timestamp) && isObject(value.data);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Rewrites `event` in place; false when it is to be dropped. */
function inertEvent(event: Json, scope: Scope): boolean {
  const data = event.data as Json;
  if (event.type === EventType.FullSnapshot) {
    scope.tags.clear();
    scope.styleIds.clear();
    scope.styleTextIds.clear();
    if (!isObject(data.node)) return false;
    inertNode(data.node, undefined, scope);
    return true;
  }
  if (event.type !== EventType.IncrementalSnapshot) return true;
  const source = data.source;
  if (typeof source !== 'number' || !KEPT_SOURCES.has(source)) return false;
  switch (source) {
    case Source.Mutation:
      inertMutation(data, scope);
      break;
    case Source.StyleSheetRule:
      for (const add of list(data.adds)) if (isObject(add)) cssField(add, 'rule');
      cssField(data, 'replace');
      cssField(data, 'replaceSync');
      break;
    case Source.StyleDeclaration:
      if (isObject(data.set)) cssField(data.set, 'value');
      break;
    case Source.AdoptedStyleSheet:
      for (const style of list(data.styles)) {
        if (!isObject(style)) continue;
        for (const rule of list(style.rules)) if (isObject(rule)) cssField(rule, 'rule');
      }
      break;
  }
  return true;
}

function cssField(holder: Json, key: string): void {
  if (typeof holder[key] === 'string') holder[key] = inertCss(holder[key] as string);
}

function inertMutation(data: Json, scope: Scope): void {
  for (const add of list(data.adds)) {
    if (!isObject(add) || !isObject(add.node)) continue;
    const parentTag = typeof add.parentId === 'number' && scope.styleIds.has(add.parentId) ? 'style' : undefined;
    inertNode(add.node, parentTag, scope);
  }
  for (const change of list(data.attributes)) {
    if (!isObject(change) || !isObject(change.attributes)) continue;
    const tag = typeof change.id === 'number' ? scope.tags.get(change.id) : undefined;
    inertAttributes(change.attributes, tag);
  }
  for (const text of list(data.texts)) {
    if (!isObject(text) || typeof text.id !== 'number' || !scope.styleTextIds.has(text.id)) continue;
    cssField(text, 'value');
  }
}

/** A serialised node and its subtree, in rrweb's shape; `parentTag` of its parent. */
function inertNode(node: Json, parentTag: string | undefined, scope: Scope): void {
  const id = typeof node.id === 'number' ? node.id : undefined;
  let tag: string | undefined;
  if (node.type === NodeType.Element) {
    tag = typeof node.tagName === 'string' ? node.tagName.toLowerCase() : '';
    if (id !== undefined) scope.tags.set(id, tag);
    if (tag === 'style' || tag === 'link') scope.styleIds.add(id ?? -1);
    if (isObject(node.attributes)) inertAttributes(node.attributes, tag);
    else node.attributes = {};
  } else if (node.type === NodeType.Text) {
    if (parentTag === 'style' || node.isStyle === true) {
      if (id !== undefined) scope.styleTextIds.add(id);
      cssField(node, 'textContent');
    }
  }
  if (!Array.isArray(node.childNodes)) {
    if (node.type === NodeType.Element || node.type === NodeType.Document) node.childNodes = [];
    return;
  }
  node.childNodes = node.childNodes.filter(isObject);
  for (const child of node.childNodes as Json[]) inertNode(child, tag, scope);
}

/**
 * Removes (sets to null, which a mutation reads as "removed") every attribute that
 * would fetch; CSS in any attribute loses its URLs. `tag` undefined: not known, so the
 * strictest rules apply.
 */
function inertAttributes(attributes: Json, tag: string | undefined): void {
  for (const name of Object.keys(attributes)) {
    const value = attributes[name];
    const lower = name.toLowerCase();
    if (FETCHING.has(lower) && !keepsUrl(lower, value, tag)) {
      attributes[name] = null;
    } else if ((tag === 'meta' || tag === undefined) && (lower === 'http-equiv' || lower === 'content')) {
      attributes[name] = null; // <meta http-equiv=refresh> navigates the frame
    } else if (lower === 'attributename' && (tag === undefined || SVG_ANIMATIONS.has(tag))) {
      attributes[name] = null;
    } else if (typeof value === 'string') {
      if (value.indexOf('(') >= 0 || value.indexOf('@') >= 0) attributes[name] = inertCss(value);
    } else if (isObject(value)) {
      // rrweb's style mutation: property -> value | [value, priority] | false
      for (const property of Object.keys(value)) {
        const v = value[property];
        if (typeof v === 'string') value[property] = inertCss(v);
        else if (Array.isArray(v) && typeof v[0] === 'string') v[0] = inertCss(v[0]);
      }
    }
  }
}

function keepsUrl(name: string, value: unknown, tag: string | undefined): boolean {
  if (typeof value !== 'string') return value === null || value === true;
  if ((name === 'href' || name === 'xlink:href') && tag !== undefined) {
    if (ANCHORS.has(tag)) return true;
    return value.trim().charAt(0) === '#';
  }
  return DATA_IMAGE_OK.has(name) && /^\s*data:image\//i.test(value);
}

/**
 * CSS without anything the browser would fetch: `@import` rules are removed, and url()
 * and the functions that fetch (`image-set()`, `src()`, ...) become `none`, except
 * `url(data:...)` and in-page `#fragment` references. It is read with the recorder's
 * CSS tokenizer (escapes decoded, so `u\72l(` is a url too) and written back from the
 * tokens, so no escaped form survives that the browser would read as a fetch.
 */
export function inertCss(css: string): string {
  const s = cssStream(css);
  s.next();
  inertTokens(s, CssToken.EOF);
  return s.text();
}

/** Copies tokens through `closer` (which ends the block the cursor is in), inert. */
function inertTokens(s: CssStream, closer: CssToken): void {
  for (let t = s.type; t !== CssToken.EOF; t = s.type) {
    if (t === closer) {
      s.copy();
      s.next();
      return;
    }
    const name = s.value.toLowerCase();
    if (t === CssToken.AtKeyword && name === 'import') {
      dropStatement(s);
    } else if (t === CssToken.AtKeyword && name === 'namespace') {
      // A namespace's url() names it; nothing is fetched.
      s.copy();
      for (let u = s.next(); u && u !== CssToken.Semicolon && u !== CssToken.LBrace && u !== CssToken.RBrace; u = s.next()) s.copy();
    } else if (t === CssToken.Url || t === CssToken.BadUrl || (t === CssToken.Function && (name === 'url' || FETCHING_FUNCTIONS.has(name)))) {
      const start = s.start;
      const inPage = t === CssToken.Url ? isInPage(s.value, true) : t === CssToken.Function && (s.next(), fetchesNothing(s, CssToken.RParen, name === 'url'));
      s.seek(start);
      if (inPage) {
        s.copy();
        s.next();
        if (t === CssToken.Function) inertTokens(s, CssToken.RParen);
      } else {
        s.drop();
        s.put(CssToken.Ident, 'none');
      }
    } else if (t === CssToken.Function || t === CssToken.LParen || t === CssToken.LBracket || t === CssToken.LBrace) {
      s.copy();
      s.next();
      inertTokens(s, t === CssToken.Function ? CssToken.RParen : t + 1);
    } else {
      s.copy();
      s.next();
    }
  }
}

/**
 * Whether the rest of the block (through `closer`, which it consumes) names only in-page
 * resources: every URL a `#fragment`, or (`data`: inside url()) a `data:` URL.
 */
function fetchesNothing(s: CssStream, closer: CssToken, data: boolean): boolean {
  let inPage = true;
  for (let t = s.type; t !== closer && t !== CssToken.EOF; t = s.type) {
    if (t === CssToken.String || t === CssToken.Url) inPage = isInPage(s.value, data || t === CssToken.Url) && inPage;
    else if (t === CssToken.BadUrl || t === CssToken.BadString) inPage = false;
    s.next();
    if (t === CssToken.Function || t === CssToken.LParen || t === CssToken.LBracket || t === CssToken.LBrace) {
      const url = t === CssToken.Function && /^url$/i.test(s.value);
      inPage = fetchesNothing(s, t === CssToken.Function ? CssToken.RParen : t + 1, url) && inPage;
    }
  }
  s.next();
  return inPage;
}

/** Drops an at-rule through its `;` or its block; a `}` closing the block it is in stays. */
function dropStatement(s: CssStream): void {
  for (let t = s.type; t !== CssToken.EOF && t !== CssToken.RBrace; t = s.type) {
    s.drop();
    if (t === CssToken.Semicolon || t === CssToken.LBrace) return;
  }
}

/** A URL that stays in the page: `#fragment`, or with `data`, a `data:` URL. */
function isInPage(raw: string, data: boolean): boolean {
  // What the URL parser strips first: leading C0 controls and spaces (not JS's trim()).
  let i = 0;
  while (i < raw.length && raw.charCodeAt(i) <= 32) i++;
  return raw.charAt(i) === '#' || (data && raw.slice(i, i + 5).toLowerCase() === 'data:');
}
