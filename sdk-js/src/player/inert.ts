// Makes a recording inert before rrweb's Replayer sees it: nothing in the rebuilt page
// may fetch from the network. A recording is hostile input (anyone with the public app
// key can send one), and the replay iframe shares the console's origin (rrweb needs
// allow-same-origin to build it), so a fetch it made would carry the viewer's cookie:
// a stylesheet link to an export URL would be an export the viewer never made. So every
// URL that would be fetched is removed here, on every node, attribute, text and style
// of full snapshots and incremental events alike; raster `data:` images and `#fragment`
// references, which stay in the page, are kept. This is the first of two layers: the
// player also gives the replay document a policy that forbids every fetch
// (docs/adr/0019-inert-replay.md). Events are treated as untrusted input of any shape.

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

/**
 * Attributes whose value the browser fetches (or navigates to, or pings), on any element.
 * Every rule here holds whatever element the attribute is on: which element a node id
 * stands for is the recording's claim, and rrweb applies adds in an order of its own
 * (children before a missing parent, adds under unknown parents dropped, ids re-used),
 * so no decision may rest on it.
 */
const FETCHING = new Set([
  'src', 'srcset', 'imagesrcset', 'poster', 'background', 'data', 'codebase', 'archive',
  'classid', 'lowsrc', 'dynsrc', 'longdesc', 'manifest', 'icon', 'ping', 'srcdoc', 'rr_src',
  'href', 'xlink:href', 'rr_dataurl', 'action', 'formaction', 'attributionsrc', 'profile',
  'itemtype', 'cite', 'code', 'usemap',
]);

/** Attributes kept when they hold a raster `data:` image: no fetch, and no document. */
const DATA_IMAGE_OK = new Set(['src', 'poster', 'rr_dataurl']);

/**
 * A `data:` image that is only pixels. An SVG one is a document: in an <iframe>, <embed>
 * or <object> (which a node id may turn out to be) it can name resources of its own.
 */
const RASTER_DATA_URL = /^data:image\/(?:png|gif|jpeg|jpg|webp|avif|bmp|x-icon|vnd\.microsoft\.icon)[;,]/i;

/** Links stay links (styled as such) but lead nowhere: the replay takes no clicks. */
const ANCHORS = new Set(['a', 'area']);

/**
 * Attributes removed from every element: a <meta http-equiv> refresh navigates the frame,
 * an SVG animation's attributeName can set a href while playing (SMIL needs no script),
 * and event handlers are scripts.
 */
const DROPPED = new Set(['http-equiv', 'content', 'attributename']);

/** CSS functions besides url() whose arguments name resources to fetch. */
const FETCHING_FUNCTIONS = new Set(['src', 'image', 'image-set', '-webkit-image-set', 'cross-fade', 'element']);

/**
 * A copy of `events` (sorted by time) that fetches nothing when replayed. Events of
 * unknown shape are dropped, never passed through. Each event is made inert on its own,
 * with no memory of earlier ones: what a node id was, or whose child a text is, cannot
 * be known before rrweb applies the event, so every text is treated as possible CSS and
 * every attribute as possibly on any element.
 */
export function inertEvents(events: readonly unknown[]): Json[] {
  const sorted = events.filter(isEvent).slice().sort((a, b) => (a.timestamp as number) - (b.timestamp as number));
  const out: Json[] = [];
  for (const original of sorted) {
    if (!KEPT_TYPES.has(original.type as number)) continue;
    const event = structuredClone(original) as Json;
    if (inertEvent(event)) out.push(event);
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
function inertEvent(event: Json): boolean {
  const data = event.data as Json;
  if (event.type === EventType.FullSnapshot) {
    if (!isObject(data.node)) return false;
    inertNode(data.node);
    return true;
  }
  if (event.type !== EventType.IncrementalSnapshot) return true;
  const source = data.source;
  if (typeof source !== 'number' || !KEPT_SOURCES.has(source)) return false;
  switch (source) {
    case Source.Mutation:
      inertMutation(data);
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
  const value = holder[key];
  if (typeof value === 'string') holder[key] = inertCss(value);
  else if (value !== undefined && value !== null) holder[key] = ''; // rrweb would String() it
}

/**
 * Any text may end up as the text of a <style>: its parent may be added after it, or be
 * a node id the recording re-uses. And a <style>'s sheet is all its texts joined, so a
 * text is read after whatever its neighbours leave open (a string, a comment) and its
 * edges join theirs (`ur` + `l(x)` is `url(x)`). Every fetch in CSS needs a literal `(`
 * or `@`, so a text without either stays exactly as it is, and so does one that fetches
 * in no context a neighbour can put it in (most text: "Patient's chart (draft)"); it
 * only gets a newline at each edge, which no token crosses and which ends an open
 * string. A text that could fetch becomes inert CSS whose strings hold no `(` or `@`
 * (a neighbour's quote may turn them into code).
 */
function textField(holder: Json, key: string): void {
  const value = holder[key];
  if (typeof value === 'string') {
    holder[key] = inertText(value);
  } else if (value !== undefined && value !== null) {
    holder[key] = ''; // rrweb would write String(value): an array's text is its items'
  }
}

/** Where a neighbour can leave a text's start: in code, a string (its newline escaped), a comment. */
const CONTEXTS = ['', '"', "'", '/*'];

export function inertText(text: string): string {
  if (text.indexOf('(') < 0 && text.indexOf('@') < 0) return text;
  const risky = CONTEXTS.some((context) => fetchesSomething(context + text));
  return '\n' + (risky ? inertCss(text, true) : text) + '\n';
}

/** Whether `css` names anything to fetch (in-page references included: this only sorts). */
function fetchesSomething(css: string): boolean {
  const s = cssStream(css);
  for (let t = s.next(); t !== CssToken.EOF; t = s.next()) {
    const name = s.value.toLowerCase();
    if (t === CssToken.Url || t === CssToken.BadUrl) return true;
    if (t === CssToken.Function && (name === 'url' || FETCHING_FUNCTIONS.has(name))) return true;
    if (t === CssToken.AtKeyword && name === 'import') return true;
  }
  return false;
}

function inertMutation(data: Json): void {
  for (const add of list(data.adds)) {
    if (isObject(add) && isObject(add.node)) inertNode(add.node);
  }
  for (const change of list(data.attributes)) {
    if (isObject(change) && isObject(change.attributes)) inertAttributes(change.attributes, undefined);
  }
  // A text change may name an element (a <style> itself): its value is CSS then.
  for (const text of list(data.texts)) if (isObject(text)) textField(text, 'value');
}

/** A serialised node and its subtree, in rrweb's shape. */
function inertNode(node: Json): void {
  if (node.type === NodeType.Element) {
    const tag = typeof node.tagName === 'string' ? node.tagName.toLowerCase() : '';
    if (isObject(node.attributes)) inertAttributes(node.attributes, tag);
    else node.attributes = {};
  } else {
    textField(node, 'textContent');
  }
  if (!Array.isArray(node.childNodes)) {
    if (node.type === NodeType.Element || node.type === NodeType.Document) node.childNodes = [];
    return;
  }
  node.childNodes = node.childNodes.filter(isObject);
  for (const child of node.childNodes as Json[]) inertNode(child);
}

/**
 * Removes (sets to null, which a mutation reads as "removed") every attribute that
 * would fetch, whatever element it is on; CSS in any attribute loses its URLs. `tag` is
 * the element's own tag where the node is in hand (undefined for attribute changes); it
 * only decides whether a link keeps a harmless `#` href, which is inert on any element.
 */
function inertAttributes(attributes: Json, tag: string | undefined): void {
  for (const name of Object.keys(attributes)) {
    const value = attributes[name];
    const lower = name.trim().toLowerCase();
    if (FETCHING.has(lower)) {
      attributes[name] = inertUrl(lower, value, tag);
    } else if (DROPPED.has(lower) || lower.startsWith('on')) {
      attributes[name] = null;
    } else if (typeof value === 'string') {
      // rrweb makes a stylesheet's `_cssText` the text of its <style>: a text like others.
      if (lower === '_csstext') attributes[name] = inertText(value);
      else if (value.indexOf('(') >= 0 || value.indexOf('@') >= 0) attributes[name] = inertCss(value);
    } else if (isObject(value)) {
      // rrweb's style mutation: property -> value | [value, priority] | false
      for (const property of Object.keys(value)) {
        const v = value[property];
        if (typeof v === 'string') value[property] = inertCss(v);
        else if (Array.isArray(v) && typeof v[0] === 'string') v[0] = inertCss(v[0]);
        else if (v !== false) value[property] = false;
      }
    } else if (value !== null && value !== true && typeof value !== 'number') {
      attributes[name] = null;
    }
  }
}

/** What is left of a fetching attribute: null (removed) unless it cannot fetch. */
function inertUrl(name: string, value: unknown, tag: string | undefined): unknown {
  if (typeof value !== 'string') return null;
  if (name === 'href' || name === 'xlink:href') {
    if (isInPage(value, false)) return value;
    return tag !== undefined && ANCHORS.has(tag) ? '#' : null;
  }
  return DATA_IMAGE_OK.has(name) && RASTER_DATA_URL.test(value.trimStart()) ? value : null;
}

/**
 * CSS without anything the browser would fetch: `@import` rules are removed, and url()
 * and the functions that fetch (`image-set()`, `src()`, ...) become `none`, except
 * `url(data:...)` and in-page `#fragment` references. It is read with the recorder's
 * CSS tokenizer (escapes decoded, so `u\72l(` is a url too) and written back from the
 * tokens, so no escaped form survives that the browser would read as a fetch.
 */
export function inertCss(css: string, defang = false): string {
  const s = cssStream(css);
  s.next();
  inertTokens(s, CssToken.EOF, defang);
  return s.text();
}

/** `(` and `@` in a string are written as look-alikes when `defang` (see textField). */
const DEFANGED: Record<string, string> = { '(': '\uff08', '@': '\uff20' };

/** Copies the current token; a string with `(` or `@` defanged when asked to. */
function copyToken(s: CssStream, defang: boolean): void {
  const t = s.type;
  if (defang && (t === CssToken.String || t === CssToken.BadString) && /[(@]/.test(s.value)) {
    s.put(t, s.value.replace(/[(@]/g, (c) => DEFANGED[c]));
  } else {
    s.copy();
  }
}

/** Copies tokens through `closer` (which ends the block the cursor is in), inert. */
function inertTokens(s: CssStream, closer: CssToken, defang: boolean): void {
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
      for (let u = s.next(); u && u !== CssToken.Semicolon && u !== CssToken.LBrace && u !== CssToken.RBrace; u = s.next()) copyToken(s, defang);
    } else if (t === CssToken.Url || t === CssToken.BadUrl || (t === CssToken.Function && (name === 'url' || FETCHING_FUNCTIONS.has(name)))) {
      const start = s.start;
      const inPage = t === CssToken.Url ? isInPage(s.value, true) : t === CssToken.Function && (s.next(), fetchesNothing(s, CssToken.RParen, name === 'url'));
      s.seek(start);
      if (inPage) {
        s.copy();
        s.next();
        if (t === CssToken.Function) inertTokens(s, CssToken.RParen, defang);
      } else {
        s.drop();
        s.put(CssToken.Ident, 'none');
      }
    } else if (t === CssToken.Function || t === CssToken.LParen || t === CssToken.LBracket || t === CssToken.LBrace) {
      s.copy();
      s.next();
      inertTokens(s, t === CssToken.Function ? CssToken.RParen : t + 1, defang);
    } else {
      copyToken(s, defang);
      s.next();
    }
  }
}

/**
 * Whether the rest of the block (through `closer`, which it consumes) names only in-page
 * resources: every URL a `#fragment`, or (`data`: inside url()) a `data:` URL.
 */
function fetchesNothing(s: CssStream, closer: CssToken, data: boolean): boolean {
  // Not closed before the end: the text after it (a neighbour's, in a <style>) would
  // become its arguments, so nothing is proven.
  let inPage = true;
  for (let t = s.type; t !== closer; t = s.type) {
    if (t === CssToken.EOF) return false;
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
