/*
 * The privacy choke point.
 *
 * Every string that leaves the page is produced here and nowhere else: text nodes,
 * CSS, tag names, attribute names and values, URLs (including the page URL in Meta),
 * the doctype, and form field values for both the snapshot and Input events. The
 * serializer and the observers only arrange what this module returns into rrweb's
 * event shapes; they never copy a string from the DOM themselves.
 *
 * The model is default-deny:
 * - text is masked unless it sits inside an `unmask` region (and no `mask` region);
 *   a mask is `*` repeated to a length bucket, so it carries no characters and no
 *   exact length. Buckets are powers of two rounded *down*: 8 `*` for anything up to
 *   15 characters, 16 for 16-31, ..., 256 from 256 on. Every bucket is at least as
 *   wide as under the earlier round-up scheme (1-8 → 8, 9-16 → 16, ...), so a mask
 *   says no more about the length than before; and from 8 characters on a mask is
 *   never longer than its text (rounding up made us send more than rrweb's one `*`
 *   per character);
 * - whitespace-only text where it cannot render (in <head>, between table rows) is
 *   not sent at all;
 * - form fields show one constant placeholder unless inside an `unmask` region;
 *   password, hidden, file, unknown input types and sensitive autocomplete fields are
 *   masked everywhere, and stay masked after their type changes;
 * - attributes pass only from an allow-list; URLs keep origin and templated path;
 * - blocked elements become an empty, sized placeholder.
 * There is deliberately no option that turns any of this off. Callers wrap their use
 * in try/catch and drop the node on any exception (fail closed).
 */

import type { CompiledRules } from './rules';
import type { Attributes } from './types';

/** Where a node sits: masked (default), inside `unmask`, or inside `mask` (always wins). */
export const enum Scope {
  Masked = 0,
  Unmasked = 1,
  Forced = 2,
}

/** The value shown for every masked form field: the same whatever the value, even empty. */
export const FIELD_PLACEHOLDER = '*****';
/** Character that replaces masked text. */
export const MASK_CHAR = '*';
/** Smallest masked-text length: every string shorter than 16 looks the same. */
const MIN_BUCKET = 8;
/** Largest masked-text length, so long paragraphs do not bloat the wire. */
const MAX_BUCKET = 256;
/** The masks, built once: MASKS[i] is MIN_BUCKET << i stars, up to MAX_BUCKET. */
const MASKS: readonly string[] = Array.from({ length: Math.log2(MAX_BUCKET / MIN_BUCKET) + 1 }, (_, i) =>
  MASK_CHAR.repeat(MIN_BUCKET << i),
);
/** Longest string sent (the collector refuses text over 1 MiB, and a whole batch with it). */
const MAX_STRING = 1 << 19;
/** Longest page URL in Meta (the collector's limit). */
const MAX_HREF = 2048;

const SVG_NS = 'http://www.w3.org/2000/svg';
const HTML_NS = 'http://www.w3.org/1999/xhtml';

// Attributes needed to lay out and style the replay. Everything else is dropped.
const ALLOWED_ATTRIBUTES = new Set([
  'class', 'id', 'role', 'type', 'colspan', 'rowspan', 'span', 'width', 'height', 'lang', 'dir',
  'for', 'name', 'rel', 'media', 'disabled', 'readonly', 'hidden', 'open', 'multiple', 'cols',
  'rows', 'size', 'start', 'reversed', 'align', 'valign', 'border', 'cellpadding', 'cellspacing',
  'charset', 'href', 'src', 'srcset', 'style', 'xmlns', 'xlink:href',
  // SVG geometry, so icons keep their shape.
  'viewbox', 'd', 'fill', 'stroke', 'stroke-width', 'stroke-linecap', 'stroke-linejoin',
  'fill-rule', 'clip-rule', 'points', 'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx',
  'ry', 'transform', 'preserveaspectratio', 'opacity',
]);
// The application's own replay markers survive (empty-valued) so the replay shows regions.
const MARKER_ATTRIBUTES = new Set(['data-replay-mask', 'data-replay-unmask', 'data-replay-block']);
const URL_ATTRIBUTES = new Set(['href', 'src', 'xlink:href']);

// Elements dropped with everything inside them.
const DROPPED_ELEMENTS = new Set(['script', 'noscript']);
// Parents of whitespace-only text that cannot render: such text is not sent.
const INVISIBLE_SPACE_PARENTS = new Set(['head', 'table', 'thead', 'tbody', 'tfoot', 'tr', 'colgroup']);
// Elements kept, but whose children are never recorded (the value speaks for textarea).
const CHILDLESS_ELEMENTS = new Set(['textarea', 'template']);
// Blocked elements that become a <div>, because an empty element of their own kind
// would try to load something during replay.
const DIV_PLACEHOLDER = new Set(['iframe', 'frame', 'object', 'embed']);
const FIELD_ELEMENTS = new Set(['input', 'textarea', 'select']);

// Input types whose value may be shown inside an unmask region. Anything not listed —
// password, hidden, file, and any type we do not know — is always masked.
const SHOWABLE_INPUT_TYPES = new Set([
  'text', 'search', 'email', 'tel', 'url', 'number', 'range', 'date', 'datetime-local', 'month',
  'week', 'time', 'color', 'checkbox', 'radio', 'submit', 'button', 'reset', 'image',
]);
const SENSITIVE_AUTOCOMPLETE = /(^|\s)(cc-[a-z-]*|current-password|new-password|one-time-code)(\s|$)/i;

// Backstop detector for text the application chose to unmask: SSN, e-mail, phone
// numbers, dates and MRN-like ids. A match masks the whole string.
const DETECTOR = new RegExp(
  [
    /\b\d{3}-\d{2}-\d{4}\b/, // SSN
    // e-mail; the local part is bounded because `[^\s@]+@` rescans a long run without
    // `@` from every position (quadratic); matching the last 64 characters of it finds
    // exactly the same strings.
    /[^\s@]{1,64}@[^\s@]+\.[a-z]{2,}/,
    /\+?\d[\d ().-]{7,}\d/, // phone
    /\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b/, // numeric date
    /\b\d{1,2}(st|nd|rd|th)? (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,? \d{2,4}\b/, // 3 March 1980
    /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?,? \d{4}\b/, // March 3, 1980
    /\b[a-z]{0,4}-?\d{6,}\b/, // MRN-like id
  ]
    .map((re) => re.source)
    .join('|'),
  'i',
);
/** A `srcset` candidate's descriptor (`2x`, `640w`). */
const SRCSET_DESCRIPTOR = /^\d+(\.\d+)?[wx]$/i;
/** Keys and tags of custom events: the shape the collector accepts. */
const CUSTOM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Replace text by `*` repeated to a length bucket; whitespace-only text passes as is. */
export function maskText(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  if (start === end) return text;
  while (isSpace(text.charCodeAt(end - 1))) end--;
  // The bucket: the largest power of two <= the length, within MIN_BUCKET..MAX_BUCKET.
  let i = 0;
  while (i < MASKS.length - 1 && MIN_BUCKET << (i + 1) <= end - start) i++;
  const mask = MASKS[i];
  return start > 0 || end < text.length ? (start > 0 ? ' ' : '') + mask + (end < text.length ? ' ' : '') : mask;
}

/** What String.prototype.trim() removes (ASCII fast path, then the full set). */
function isSpace(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  return c > 127 && /\s/.test(String.fromCharCode(c));
}

/** Unmasked text still goes through the detector. */
function revealText(text: string): string {
  return DETECTOR.test(text) ? maskText(text) : clip(text);
}

function clip(text: string): string {
  return text.length > MAX_STRING ? text.slice(0, MAX_STRING) : text;
}

/** A path segment that looks like an identifier: digits, uuid, long hex, mixed ids. */
function isIdSegment(segment: string): boolean {
  const stem = segment.replace(/\.[a-z0-9]{1,5}$/i, '');
  return (
    /[^\w.-]/.test(segment) ||
    /^\d+$/.test(stem) ||
    UUID.test(stem) ||
    /^[0-9a-f]{12,}$/i.test(stem) ||
    (/\d/.test(stem) && /^[\w-]{6,}$/.test(stem)) ||
    stem.length >= 24
  );
}

/** Origin + path with identifier-like segments templated to `:id`; no query, no fragment. */
export function sanitizeUrl(raw: string, base: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim(), base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const path = url.pathname
    .split('/')
    .map((segment) => {
      if (segment === '' || !isIdSegment(segment)) return segment;
      const ext = /\.[a-z0-9]{1,5}$/i.exec(segment);
      return ':id' + (ext && /^[\w.-]+$/.test(segment) ? ext[0] : '');
    })
    .join('/');
  return url.origin + path;
}

function readString(css: string, start: number): [raw: string, next: number] {
  const quote = css[start];
  let i = start + 1;
  while (i < css.length) {
    const c = css[i];
    if (c === '\\') i += 2;
    else if (c === quote) return [css.slice(start + 1, i), i + 1];
    else if (c === '\n') break;
    else i++;
  }
  return [css.slice(start + 1, Math.min(i, css.length)), Math.min(i, css.length)];
}

/**
 * Keep CSS (it is needed to replay the layout) but drop what could carry data:
 * comments, strings in `content:` and custom properties, and URL queries/fragments.
 */
export function sanitizeCss(css: string, base: string): string {
  const url = (raw: string): string => `url("${sanitizeUrl(raw, base) ?? ''}")`;
  // Characters where something may need rewriting; everything between is copied as is.
  const special = /[/"'uU;{}]/g;
  let out = '';
  // The current declaration or prelude so far, to know what a string belongs to.
  let decl = '';
  const emit = (text: string): void => {
    out += text;
    decl += text;
  };
  let i = 0;
  while (i < css.length) {
    special.lastIndex = i;
    const at = special.exec(css)?.index ?? css.length;
    emit(css.slice(i, at));
    i = at;
    if (i >= css.length) break;
    const c = css[i];
    if (c === '/' && css[i + 1] === '*') {
      const end = css.indexOf('*/', i + 2);
      i = end < 0 ? css.length : end + 2;
    } else if (c === '"' || c === "'") {
      const [raw, next] = readString(css, i);
      if (/^\s*@import\b/i.test(decl) || /image-set\([^)]*$/i.test(decl)) emit(url(raw));
      else if (/^\s*(content|--[\w-]*)\s*:/i.test(decl)) emit('""');
      else emit(css.slice(i, next));
      i = next;
    } else if (/^url\(/i.test(css.slice(i, i + 4)) && !/[\w-]/.test(css[i - 1] ?? '')) {
      let j = i + 4;
      while (/\s/.test(css[j] ?? '')) j++;
      let raw: string;
      if (css[j] === '"' || css[j] === "'") {
        [raw, j] = readString(css, j);
      } else {
        const close = css.indexOf(')', j);
        const end = close < 0 ? css.length : close;
        raw = css.slice(j, end);
        j = end;
      }
      while (/\s/.test(css[j] ?? '')) j++;
      if (css[j] === ')') j++;
      emit(url(raw));
      i = j;
    } else {
      out += c;
      decl = c === ';' || c === '{' || c === '}' ? '' : decl + c;
      i++;
    }
  }
  return out;
}

/** Each candidate's URL sanitised; a candidate that cannot be made safe is dropped. */
export function sanitizeSrcset(srcset: string, base: string): string {
  return srcset
    .split(/,\s+|,(?=\S)/)
    .flatMap((candidate) => {
      const [raw, descriptor] = candidate.trim().split(/\s+/);
      const url = raw ? sanitizeUrl(raw, base) : undefined;
      if (!url) return [];
      return [descriptor && SRCSET_DESCRIPTOR.test(descriptor) ? `${url} ${descriptor}` : url];
    })
    .join(', ');
}

/**
 * The rules of a same-origin stylesheet as sanitised CSS, or `undefined` when they
 * cannot be read (cross-origin, not loaded) or there are none.
 */
export function sheetCss(sheet: CSSStyleSheet | null, origin: string, base: string): string | undefined {
  if (!sheet) return undefined;
  const href = sheet.href;
  if (href && sanitizeUrl(href, base)?.indexOf(origin + '/') !== 0) return undefined;
  let rules: CSSRuleList;
  try {
    rules = sheet.cssRules;
  } catch {
    return undefined;
  }
  let css = '';
  for (let i = 0; i < rules.length; i++) css += rules[i].cssText + '\n';
  return css ? clip(sanitizeCss(css, href ?? base)) : undefined;
}

export type CustomPayload = Record<string, string | number | boolean | null>;

/**
 * A custom event's payload. Values are untrusted text: masked unless their key is
 * listed in `safe`, and safe values still pass the detector. Only scalar values with
 * keys shaped like identifiers are kept; anything else is dropped.
 */
export function customPayload(payload: Record<string, unknown>, safe: readonly string[]): CustomPayload {
  const out: CustomPayload = {};
  for (const key of Object.keys(payload)) {
    const value = payload[key];
    if (!CUSTOM_NAME.test(key)) continue;
    if (value === null || typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number') {
      const text = value === null ? 'null' : String(value);
      if (!safe.includes(key)) out[key] = maskText(text);
      else if (DETECTOR.test(text)) out[key] = maskText(text);
      else out[key] = typeof value === 'string' ? clip(value) : typeof value === 'number' && !isFinite(value) ? null : value;
    }
  }
  return out;
}

/** A custom event's tag: shaped like an identifier, or the event is refused. */
export function isCustomTag(tag: unknown): tag is string {
  return typeof tag === 'string' && CUSTOM_NAME.test(tag);
}

export interface FieldValue {
  text: string;
  isChecked: boolean;
  masked: boolean;
}

/** What the serialiser records for one element, decided in one pass. */
export interface ElementInfo {
  tagName: string;
  attributes: Attributes;
  isSVG: boolean;
  /** Scope of the element itself; its subtree inherits it. */
  scope: Scope;
  /** Recorded as an empty, sized placeholder, with no children. */
  blocked: boolean;
  /** Kept, but its children are not recorded (textarea, template). */
  childless: boolean;
  /** A <link> or <style>, whose sheet may be inlined as `_cssText`. */
  sheet: boolean;
}

export interface Masker {
  /**
   * An element for a snapshot or an added subtree, given the scope of its parent, or
   * `null` when it is dropped with its subtree (script, noscript).
   */
  element(el: Element, parentScope: Scope): ElementInfo | null;
  /**
   * Scope of a node found outside a snapshot walk (mutations, events). A `cache`
   * shared by the calls of one mutation batch saves re-checking common ancestors.
   */
  scopeAt(node: Node | null, cache?: Map<Node, Scope>): Scope;
  isBlocked(el: Element): boolean;
  /**
   * Mark a node the page added or changed while on an excluded route: from then on it
   * is blocked (an element) or masked (text, field value), even inside unmask.
   */
  taint(node: Node): void;
  /** One attribute's current value for a mutation: `undefined` means send nothing. */
  attribute(el: Element, name: string): string | null | undefined;
  /** Text content to record, or `null` to drop the node. */
  text(node: Node, parentScope: Scope): string | null;
  /**
   * The current text of a recorded text node that changed, judged in the scope it has
   * now (`cache` as for scopeAt).
   */
  changedText(node: Node, cache: Map<Node, Scope>): string | null;
  /**
   * An attribute or tree change happened: any node may have moved into or out of an
   * unmask region, so what `changedText` remembered is forgotten.
   */
  treeChanged(): void;
  /**
   * Judge by new rules from now on (the collector's configuration changed). What the
   * masker remembers about taint and sensitive fields is kept: rules never undo it.
   */
  setRules(rules: CompiledRules): void;
  /** What an Input event may carry for a form field. */
  field(el: Element, scope?: Scope): FieldValue;
  /** The page URL for Meta events. */
  pageUrl(href: string): string;
  /**
   * Sanitised CSS of a `<style>` (from its CSSOM) or a same-origin `<link rel=stylesheet>`,
   * sent as rrweb's `_cssText`; `undefined` when there is none to send.
   */
  cssText(el: Element): string | undefined;
  doctype(node: DocumentType): { name: string; publicId: string; systemId: string };
}

/** The element itself, a text node's parent, or a shadow root's host. */
function elementOf(node: Node | null): Element | null {
  if (!node) return null;
  if (node.nodeType === 1) return node as Element;
  if (node.nodeType === 11) return (node as ShadowRoot).host ?? null;
  return elementOf(node.parentNode);
}

/** The parent element, or the host when `el` is at the top of a shadow root. */
function parentElementOf(el: Element): Element | null {
  const parent = el.parentNode;
  if (!parent) return null;
  if (parent.nodeType === 1) return parent as Element;
  return parent.nodeType === 11 ? ((parent as ShadowRoot).host ?? null) : null;
}

/** A real <style> (HTML or SVG), whose text is CSS. */
export function isStyleElement(el: Element): boolean {
  return el.localName === 'style' && (el.namespaceURI === HTML_NS || el.namespaceURI === SVG_NS);
}

/** Whitespace that CSS collapses (not e.g. U+00A0, which renders). */
const COLLAPSIBLE_SPACE = /^[ \t\n\r\f]*$/;

export function createMasker(initial: CompiledRules, doc: Document): Masker {
  let rules = initial;
  // Fields once seen as sensitive stay masked even if their type or autocomplete changes.
  const alwaysMasked = new WeakSet<Element>();
  // Nodes added, or fields typed into, while the tab was on an excluded route.
  const tainted = new WeakSet<Node>();
  const base = (): string => doc.baseURI;
  const name = (el: Element): string => el.localName.toLowerCase();

  const isSensitive = (el: Element): boolean => {
    if (alwaysMasked.has(el)) return true;
    const type = (el.getAttribute('type') ?? 'text').trim().toLowerCase() || 'text';
    const sensitive =
      (name(el) === 'input' && !SHOWABLE_INPUT_TYPES.has(type)) ||
      SENSITIVE_AUTOCOMPLETE.test(el.getAttribute('autocomplete') ?? '');
    if (sensitive) alwaysMasked.add(el);
    return sensitive;
  };

  // With rules that only look at attributes (the default), an element without any
  // attributes has its parent's scope: one check instead of two per element.
  let attributesOnly = false;
  /** Scope of `el` itself, given the scope of its parent. */
  const ownScope = (el: Element, parent: Scope, tag?: string, bare = !el.hasAttributes()): Scope => {
    if (parent === Scope.Forced) return Scope.Forced;
    if (attributesOnly && bare) return parent;
    if (rules.mask(el, tag, bare)) return Scope.Forced;
    return parent === Scope.Unmasked || rules.unmask(el, tag, bare) ? Scope.Unmasked : Scope.Masked;
  };

  // Walks up through shadow roots to their hosts, since a rule on the host covers its
  // shadow tree; then decides each ancestor's scope top-down, as a snapshot walk would.
  // Ancestors still to decide in scopeAt; reused, so that no call allocates.
  const chain: Element[] = [];
  const scopeAt = (node: Node | null, cache?: Map<Node, Scope>): Scope => {
    const first = elementOf(node);
    if (!first) return Scope.Forced;
    chain.length = 0;
    let scope = Scope.Masked;
    for (let el: Element | null = first; el; el = parentElementOf(el)) {
      // Under attribute-only rules an element without attributes has its parent's
      // scope: it is neither decided nor cached (most of a table's cells and rows).
      if (attributesOnly && !el.hasAttributes()) continue;
      const known = cache?.get(el);
      if (known !== undefined) {
        scope = known;
        break;
      }
      chain.push(el);
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      scope = ownScope(chain[i], scope);
      cache?.set(chain[i], scope);
    }
    chain.length = 0;
    return scope;
  };

  const field = (el: Element, scope?: Scope): FieldValue => {
    const own = scope ?? scopeAt(el);
    const input = el as HTMLInputElement;
    const checkable = name(el) === 'input' && /^(checkbox|radio)$/i.test(input.type);
    // Always ask isSensitive first, so a field seen once as sensitive stays masked.
    if (isSensitive(el) || own !== Scope.Unmasked || tainted.has(el)) {
      return { text: FIELD_PLACEHOLDER, isChecked: false, masked: true };
    }
    const value = String(input.value ?? '');
    return { text: revealText(value), isChecked: checkable && input.checked === true, masked: false };
  };

  /** `lower` is `attr` lower-cased; `undefined` means the attribute is not recorded. */
  const attribute = (el: Element, lower: string, value: string | null): string | null | undefined => {
    if (MARKER_ATTRIBUTES.has(lower)) return value === null ? null : '';
    if (!ALLOWED_ATTRIBUTES.has(lower)) return undefined;
    if (value === null) return null;
    if (URL_ATTRIBUTES.has(lower)) {
      if (el.namespaceURI === SVG_NS && /^#[\w-]+$/.test(value)) return value;
      return sanitizeUrl(value, base()) ?? null;
    }
    if (lower === 'style') return clip(sanitizeCss(value, base()));
    if (lower === 'srcset') return clip(sanitizeSrcset(value, base()));
    return clip(value);
  };

  const tagName = (el: Element): string => {
    const tag = el.localName;
    // A length check, not `{0,63}`: big bounded repeats are slow to compile.
    return tag.length <= 64 && /^[a-zA-Z][a-zA-Z0-9-]*$/.test(tag) ? tag : 'div';
  };

  const isBlocked = (el: Element, tag?: string, bare?: boolean): boolean =>
    tainted.has(el) || rules.block(el, tag, bare);

  /** All recordable attributes of an element (`tag`: its lower-cased name; `bare`: it has none). */
  const attributes = (el: Element, scope: Scope, tag: string, bare: boolean): Attributes => {
    const out: Attributes = {};
    // Names first: the values of attributes we drop are never read.
    const names = bare ? [] : el.getAttributeNames();
    for (let i = 0; i < names.length; i++) {
      const attr = names[i];
      const lower = attr.toLowerCase();
      if (!ALLOWED_ATTRIBUTES.has(lower) && !MARKER_ATTRIBUTES.has(lower)) continue;
      // getAttribute() lower-cases its argument on HTML elements: a name set with
      // capitals (setAttributeNS) is read from its own Attr instead.
      const raw = attr === lower ? el.getAttribute(attr) : (el.attributes[i]?.value ?? null);
      const value = attribute(el, lower, raw);
      if (typeof value === 'string') out[attr] = value;
    }
    if (FIELD_ELEMENTS.has(tag)) {
      const value = field(el, scope);
      const type = (el as HTMLInputElement).type;
      if (!/^(checkbox|radio)$/i.test(type) || value.masked) out.value = value.text;
      if (value.isChecked) out.checked = true;
    } else if (tag === 'option' && scope === Scope.Unmasked) {
      // An option's value and selection are a field value: shown only where its select's is.
      const select = el.closest('select');
      if (!select || !field(select).masked) {
        const option = el as HTMLOptionElement;
        out.value = revealText(option.value);
        if (option.selected) out.selected = true;
      }
    }
    return out;
  };

  // Text nodes known to be masked whatever their text (masked scope, ordinary parent), so
  // that a burst of text edits skips the ancestor walk. Only ever a reason to mask: a
  // stale entry could hide text, never show it. Forgotten on any attribute or tree change
  // (treeChanged), and not kept under rules with pseudo-classes, whose state (:checked)
  // changes without a mutation.
  let stable = false;
  let alwaysMaskedText = new WeakSet<Node>();
  const setRules = (next: CompiledRules): void => {
    rules = next;
    attributesOnly = next.mask.attributesOnly && next.unmask.attributesOnly;
    stable = next.mask.structural && next.unmask.structural;
    alwaysMaskedText = new WeakSet();
  };
  setRules(initial);

  const text = (node: Node, parentScope: Scope): string | null => {
    if (node.nodeType !== 3) return null;
    const data = (node as Text).data;
    const parent = node.parentElement;
    // The exact name: only a real <style> holds CSS. An unknown element that merely
    // looks like one (createElementNS(html, 'STYLE')) shows its text, so it is masked.
    const parentTag = parent !== null ? parent.localName : '';
    if (parentTag === 'style' && isStyleElement(parent as Element)) return clip(sanitizeCss(data, base()));
    const spaceDropped = INVISIBLE_SPACE_PARENTS.has(parentTag);
    if (spaceDropped && COLLAPSIBLE_SPACE.test(data)) return null;
    if (parentScope !== Scope.Unmasked || tainted.has(node)) {
      if (stable && !spaceDropped) alwaysMaskedText.add(node);
      return maskText(data);
    }
    const parentName = parentTag.toLowerCase();
    if (parentName === 'title' || parentName === 'textarea') return maskText(data);
    const select =
      parentName === 'option' || parentName === 'optgroup' ? (parent as Element).closest('select') : null;
    if (select && field(select).masked) return maskText(data);
    return revealText(data);
  };

  return {
    element(el, parentScope) {
      const tag = name(el);
      if (DROPPED_ELEMENTS.has(tag)) return null;
      const isSVG = el.namespaceURI === SVG_NS;
      const bare = !el.hasAttributes();
      if (isBlocked(el, tag, bare)) {
        const rect = el.getBoundingClientRect();
        const size = `width:${Math.round(rect.width)}px;height:${Math.round(rect.height)}px`;
        const div = DIV_PLACEHOLDER.has(tag);
        return {
          tagName: div ? 'div' : tagName(el),
          attributes: { style: div ? `display:inline-block;${size}` : size },
          isSVG: !div && isSVG,
          scope: Scope.Forced,
          blocked: true,
          childless: true,
          sheet: false,
        };
      }
      const scope = ownScope(el, parentScope, tag, bare);
      return {
        tagName: tagName(el),
        attributes: attributes(el, scope, tag, bare),
        isSVG,
        scope,
        blocked: false,
        childless: CHILDLESS_ELEMENTS.has(tag),
        sheet: tag === 'link' || tag === 'style',
      };
    },
    scopeAt,
    isBlocked: (el) => isBlocked(el),
    taint: (node) => tainted.add(node),
    attribute: (el, attr) => attribute(el, attr.toLowerCase(), el.getAttribute(attr)),
    text,
    changedText(node, cache) {
      if (alwaysMaskedText.has(node)) return maskText((node as Text).data);
      return text(node, scopeAt(node.parentNode, cache));
    },
    treeChanged() {
      alwaysMaskedText = new WeakSet();
    },
    setRules,
    field,
    pageUrl: (href) => (sanitizeUrl(href, href) ?? '').slice(0, MAX_HREF),
    cssText(el) {
      const tag = name(el);
      const isSheetLink = tag === 'link' && /(^|\s)stylesheet(\s|$)/i.test(el.getAttribute('rel') ?? '');
      if (!isSheetLink && tag !== 'style') return undefined;
      const origin = new URL(base()).origin;
      return sheetCss((el as HTMLStyleElement).sheet as CSSStyleSheet | null, origin, base());
    },
    doctype(node) {
      const safe = (s: string): string => (s.length <= 256 && /^[-/\w .:]*$/.test(s) ? s : '');
      return {
        name: node.name.length <= 64 && /^[a-z]+$/i.test(node.name) ? node.name : 'html',
        publicId: safe(node.publicId),
        systemId: safe(node.systemId),
      };
    },
  };
}
