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
 *   exact length;
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
/** Smallest masked-text length: short strings all look the same. */
const MIN_BUCKET = 8;
/** Largest masked-text length, so long paragraphs do not bloat the wire. */
const MAX_BUCKET = 256;
/** Longest string sent (the collector refuses text over 1 MiB, and a whole batch with it). */
const MAX_STRING = 1 << 19;
/** Longest page URL in Meta (the collector's limit). */
const MAX_HREF = 2048;

const SVG_NS = 'http://www.w3.org/2000/svg';

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
    /[^\s@]+@[^\s@]+\.[a-z]{2,}/, // e-mail
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
  const core = text.trim();
  if (core === '') return text;
  let size = MIN_BUCKET;
  while (size < core.length && size < MAX_BUCKET) size *= 2;
  const lead = /^\s/.test(text) ? ' ' : '';
  const trail = /\s$/.test(text) ? ' ' : '';
  return lead + MASK_CHAR.repeat(size) + trail;
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

export interface Masker {
  /** Scope of `el` itself (its subtree inherits it), given the scope of its parent. */
  scope(el: Element, parent: Scope): Scope;
  /** Scope of a node found outside a snapshot walk (mutations, events). */
  scopeAt(node: Node | null): Scope;
  /** Dropped with its subtree: script, noscript. */
  isDropped(el: Element): boolean;
  isBlocked(el: Element): boolean;
  /**
   * Mark a node the page added or changed while on an excluded route: from then on it
   * is blocked (an element) or masked (text, field value), even inside unmask.
   */
  taint(node: Node): void;
  /** Kept, but its children are not recorded (textarea, template). */
  isChildless(el: Element): boolean;
  tagName(el: Element): string;
  isSVG(el: Element): boolean;
  /** Tag and attributes of the empty placeholder for a blocked element. */
  placeholder(el: Element): { tagName: string; attributes: Attributes; isSVG: boolean };
  /** All recordable attributes of an element for a snapshot. */
  attributes(el: Element, scope: Scope): Attributes;
  /** One attribute's current value for a mutation: `undefined` means send nothing. */
  attribute(el: Element, name: string): string | null | undefined;
  /** Text content to record, or `null` to drop the node. */
  text(node: Node, parentScope: Scope): string | null;
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

export function createMasker(rules: CompiledRules, doc: Document): Masker {
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

  // Walks up through shadow roots to their hosts, since closest() stops at a shadow root.
  const scopeAt = (node: Node | null): Scope => {
    let el = elementOf(node);
    if (!el) return Scope.Forced;
    let unmasked = false;
    while (el) {
      if (el.closest(rules.mask)) return Scope.Forced;
      unmasked = unmasked || el.closest(rules.unmask) !== null;
      const root = el.getRootNode();
      el = root.nodeType === 11 ? elementOf(root) : null;
    }
    return unmasked ? Scope.Unmasked : Scope.Masked;
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

  const attribute = (el: Element, attr: string, value: string | null): string | null | undefined => {
    const lower = attr.toLowerCase();
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
    return /^[a-zA-Z][a-zA-Z0-9-]{0,63}$/.test(tag) ? tag : 'div';
  };

  return {
    scope(el, parent) {
      if (parent === Scope.Forced || el.matches(rules.mask)) return Scope.Forced;
      return parent === Scope.Unmasked || el.matches(rules.unmask) ? Scope.Unmasked : Scope.Masked;
    },
    scopeAt,
    isDropped: (el) => DROPPED_ELEMENTS.has(name(el)),
    isBlocked: (el) => tainted.has(el) || el.matches(rules.block),
    taint: (node) => tainted.add(node),
    isChildless: (el) => CHILDLESS_ELEMENTS.has(name(el)),
    tagName,
    isSVG: (el) => el.namespaceURI === SVG_NS,
    placeholder(el) {
      const rect = el.getBoundingClientRect();
      const size = `width:${Math.round(rect.width)}px;height:${Math.round(rect.height)}px`;
      if (DIV_PLACEHOLDER.has(name(el))) {
        return { tagName: 'div', attributes: { style: `display:inline-block;${size}` }, isSVG: false };
      }
      return { tagName: tagName(el), attributes: { style: size }, isSVG: el.namespaceURI === SVG_NS };
    },
    attributes(el, scope) {
      const out: Attributes = {};
      for (const attr of Array.from(el.attributes)) {
        const value = attribute(el, attr.name, attr.value);
        if (typeof value === 'string') out[attr.name] = value;
      }
      const tag = name(el);
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
    },
    attribute: (el, attr) => attribute(el, attr, el.getAttribute(attr)),
    text(node, parentScope) {
      if (node.nodeType !== 3) return null;
      const text = node.textContent ?? '';
      const parent = node.parentElement;
      const parentName = parent ? name(parent) : '';
      if (parentName === 'style') return clip(sanitizeCss(text, base()));
      if (parentScope !== Scope.Unmasked || parentName === 'title' || parentName === 'textarea' || tainted.has(node)) {
        return maskText(text);
      }
      const select = parentName === 'option' || parentName === 'optgroup' ? parent?.closest('select') : null;
      if (select && field(select).masked) return maskText(text);
      return revealText(text);
    },
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
      const safe = (s: string): string => (/^[-/\w .:]{0,256}$/.test(s) ? s : '');
      return {
        name: /^[a-z]{1,64}$/i.test(node.name) ? node.name : 'html',
        publicId: safe(node.publicId),
        systemId: safe(node.systemId),
      };
    },
  };
}
