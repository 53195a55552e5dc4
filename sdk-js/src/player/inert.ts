// Makes a recording inert before rrweb's Replayer sees it: nothing in the rebuilt page
// may fetch from the network. The replay iframe runs no script (rrweb sandboxes it) and
// the console's CSP blocks other origins, but a recorded page still names resources on
// the application's origin (stylesheet links, CSS backgrounds and fonts, media) whose
// loads would reach the application, or fail loudly against the CSP. So every URL that
// would be fetched is removed here; `data:` images and `#fragment` references, which
// stay in the page, are kept. Events are treated as untrusted input of any shape.

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

/** CSS functions whose arguments are URLs to fetch. */
const URL_FUNCTIONS = new Set(['url', 'src', 'image', 'image-set', '-webkit-image-set']);

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
 * CSS without anything the browser would fetch: `@import` rules are removed and URL
 * functions (`url()`, `image-set()`, ...) become `none`, except `url(data:...)` and
 * `url(#id)`. It follows CSS tokenisation (comments, strings, escapes), so an escaped
 * `u\72l(` is found too; where it is unsure it removes more, never less.
 */
export function inertCss(css: string): string {
  let out = '';
  let i = 0;
  while (i < css.length) {
    const c = css[i];
    if (c === '/' && css[i + 1] === '*') {
      const end = css.indexOf('*/', i + 2);
      const stop = end < 0 ? css.length : end + 2;
      out += css.slice(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      const stop = stringEnd(css, i);
      out += css.slice(i, stop);
      i = stop;
    } else if (c === '@') {
      const [name, stop] = readName(css, i + 1);
      if (name === 'import') {
        i = statementEnd(css, stop);
      } else {
        out += css.slice(i, stop);
        i = stop;
      }
    } else if (startsName(css, i)) {
      const [name, stop] = readName(css, i);
      if (css[stop] === '(' && URL_FUNCTIONS.has(name)) {
        const close = blockEnd(css, stop);
        out += name === 'url' && isLocal(css.slice(stop + 1, close - 1)) ? css.slice(i, close) : 'none';
        i = close;
      } else {
        out += css.slice(i, stop);
        i = stop;
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** The argument of `url(...)` names a data: URL or a fragment of the same document. */
function isLocal(argument: string): boolean {
  let value = argument.trim();
  if (value.charAt(0) === '"' || value.charAt(0) === "'") {
    const end = stringEnd(value, 0);
    if (value.slice(end).trim() !== '') return false;
    value = unescape(value.slice(1, value.charAt(end - 1) === value.charAt(0) ? end - 1 : end));
  } else {
    value = unescape(value);
  }
  value = value.trim().toLowerCase();
  return value.indexOf('data:') === 0 || value.charAt(0) === '#';
}

function isNameChar(c: string | undefined): boolean {
  return c !== undefined && (/[A-Za-z0-9_-]/.test(c) || c.charCodeAt(0) >= 0x80);
}

function isValidEscape(css: string, i: number): boolean {
  const next = css[i + 1];
  return css[i] === '\\' && next !== undefined && next !== '\n' && next !== '\r' && next !== '\f';
}

function startsName(css: string, i: number): boolean {
  return isNameChar(css[i]) || isValidEscape(css, i);
}

/** A name (identifier or function name) from `i`, unescaped and lower-cased. */
function readName(css: string, i: number): [string, number] {
  let name = '';
  while (i < css.length) {
    if (isNameChar(css[i])) {
      name += css[i++];
    } else if (isValidEscape(css, i)) {
      const [char, next] = readEscape(css, i);
      name += char;
      i = next;
    } else {
      break;
    }
  }
  return [name.toLowerCase(), i];
}

/** The escape at `css[i]` (a backslash): the character it stands for, and where it ends. */
function readEscape(css: string, i: number): [string, number] {
  const hex = /^[0-9a-fA-F]{1,6}/.exec(css.slice(i + 1, i + 7));
  if (!hex) return [css[i + 1] ?? '', i + 2];
  let next = i + 1 + hex[0].length;
  if (css[next] === '\r' && css[next + 1] === '\n') next += 2;
  else if (/[ \t\n\r\f]/.test(css[next] ?? '')) next += 1;
  const code = parseInt(hex[0], 16);
  const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
  return [valid ? String.fromCodePoint(code) : '\ufffd', next];
}

function unescape(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (text[i] === '\\' && i + 1 < text.length) {
      const [char, next] = readEscape(text, i);
      out += char;
      i = next;
    } else {
      out += text[i++];
    }
  }
  return out;
}

/** Where the string starting at `css[i]` (a quote) ends: after its closing quote, or at a newline. */
function stringEnd(css: string, i: number): number {
  const quote = css[i];
  let j = i + 1;
  while (j < css.length) {
    const c = css[j];
    if (c === quote) return j + 1;
    if (c === '\n' || c === '\r' || c === '\f') return j;
    j += c === '\\' ? 2 : 1;
  }
  return css.length;
}

/** Just after the `)` matching the `(` at `css[open]`, skipping strings and comments. */
function blockEnd(css: string, open: number): number {
  let depth = 0;
  let j = open;
  while (j < css.length) {
    const c = css[j];
    if (c === '"' || c === "'") {
      j = stringEnd(css, j);
      continue;
    }
    if (c === '/' && css[j + 1] === '*') {
      const end = css.indexOf('*/', j + 2);
      j = end < 0 ? css.length : end + 2;
      continue;
    }
    if (c === '\\') j++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return j + 1;
    j++;
  }
  return css.length;
}

/** Just after the `;` ending the at-rule statement that continues at `i`. */
function statementEnd(css: string, i: number): number {
  let j = i;
  while (j < css.length) {
    const c = css[j];
    if (c === ';') return j + 1;
    if (c === '(') {
      j = blockEnd(css, j);
      continue;
    }
    if (c === '"' || c === "'") {
      j = stringEnd(css, j);
      continue;
    }
    if (c === '\\') j++;
    j++;
  }
  return css.length;
}
