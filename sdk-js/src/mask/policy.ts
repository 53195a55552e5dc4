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
 * - text that equals one of the application's interface strings (`ui_text`) is shown
 *   outside unmask regions too (never inside `mask`), still through the detector;
 * - attributes pass only from an allow-list, each value only in the form its kind
 *   allows (attributes.ts): identifiers become per-session pseudonyms (pseudonyms.ts),
 *   URLs keep origin and a path templated by the declared routes (url.ts), CSS goes
 *   through one tokenizer (css.ts);
 * - blocked elements become an empty, sized placeholder;
 * - what existed while the tab was on an excluded route (tainted) is masked wherever
 *   it turns up later, and a field ever seen sensitive stays masked for its life.
 * There is deliberately no option that turns any of this off. Callers wrap their use
 * in try/catch and drop the node on any exception (fail closed).
 */

import type { CompiledRules } from '../rules';
import type { Attributes } from '../types';
import { attributePolicy } from './attributes';
import { sheetCss, type CssHooks } from './css';
import { looksLikePhi } from './detector';
import { Pseudonyms } from './pseudonyms';
import { FIELD_PLACEHOLDER, clip, maskText, revealText, uiTextKey } from './text';
import { originOfUrl, sanitizeSrcset, sanitizeUrl } from './url';

/** Where a node sits: masked (default), inside `unmask`, or inside `mask` (always wins). */
export const enum Scope {
  Masked = 0,
  Unmasked = 1,
  Forced = 2,
}

/** Longest page URL in Meta (the collector's limit). */
const MAX_HREF = 2048;

const SVG_NS = 'http://www.w3.org/2000/svg';
const HTML_NS = 'http://www.w3.org/1999/xhtml';

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
// Elements whose href is a link to follow, never a resource to fetch.
const LINKS = new Set(['a', 'area']);
// Inline elements, whose text runs on in their parent's (for the split-PHI check).
const INLINE = new Set(['b', 'i', 'u', 's', 'em', 'strong', 'small', 'sub', 'sup', 'mark', 'span', 'a', 'code', 'abbr', 'time', 'bdi', 'bdo', 'font', 'q', 'cite', 'data', 'var', 'kbd', 'samp', 'ins', 'del']);
// The SVG elements the recorder names as they are; any other SVG name is a pseudonym.
const SVG_TAGS =
  /^(svg|g|defs|symbol|use|path|rect|circle|ellipse|line|poly(line|gon)|text(Path)?|tspan|title|desc|metadata|(linear|radial)Gradient|stop|pattern|clipPath|mask|filter|marker|image|foreignObject|switch|view|style|script|a|animate(Motion|Transform)?|set|mpath|fe(Blend|ColorMatrix|ComponentTransfer|Composite|ConvolveMatrix|DiffuseLighting|DisplacementMap|DistantLight|DropShadow|Flood|Func[ABGR]|GaussianBlur|Image|Merge(Node)?|Morphology|Offset|PointLight|SpecularLighting|SpotLight|Tile|Turbulence))$/;

// Input types whose value may be shown inside an unmask region. Anything not listed —
// password, hidden, file, and any type we do not know — is always masked.
const SHOWABLE_INPUT_TYPES = new Set([
  'text', 'search', 'email', 'tel', 'url', 'number', 'range', 'date', 'datetime-local', 'month',
  'week', 'time', 'color', 'checkbox', 'radio', 'submit', 'button', 'reset', 'image',
]);
/** Input types whose state is `checked`, not the value. */
const CHECKABLE = /^(checkbox|radio)$/i;
const SENSITIVE_AUTOCOMPLETE = /(^|\s)(cc-[a-z-]*|current-password|new-password|one-time-code)(\s|$)/i;

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
   * Mark a node the page added or changed while on an excluded route, with everything
   * inside it (open shadow roots too): from then on its text and field values are
   * masked wherever it turns up, even inside unmask, until it is replaced.
   */
  taint(node: Node): void;
  /** Taint every field under `root` (entering an excluded route: a script may write to any). */
  taintFields(root: Node): void;
  /** `to` is a copy of `from` (cloneNode, importNode): taint and sensitivity go with it. */
  copied(from: Node, to: Node): void;
  /** Adjacent text nodes about to be merged (normalize): if one is tainted, all are. */
  merged(nodes: Node[]): void;
  /** A new mutation batch or walk: verdicts about whole elements' text are read afresh. */
  batch(): void;
  /** The scope of a light-DOM child of a shadow host, given its own (a masking slot tightens it). */
  slotted(node: Node, scope: Scope): Scope;
  /**
   * Remember a field that is sensitive now (type or autocomplete), or was before the
   * change an attribute record reports (`name`, `oldValue`): it stays masked for life.
   */
  noteField(el: Element, name?: string, oldValue?: string | null): void;
  /**
   * One attribute's current value for a mutation: `undefined` means send nothing,
   * `null` that it is gone (removed, or no longer a value that may leave).
   */
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
  /** A new session: pseudonyms start afresh (taint and sensitive fields are kept). */
  newSession(): void;
  /** The pseudonym this session gave `token`, if any: the page's own look-up. */
  pseudonym(token: string): string | undefined;
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
  // Nodes that existed while the tab was on an excluded route (and fields typed into there).
  const tainted = new WeakSet<Node>();
  // Whether anything was ever marked: until then a copy has nothing to carry over.
  let marked = false;
  const addTaint = (node: Node): void => {
    marked = true;
    tainted.add(node);
  };
  const addSensitive = (el: Element): void => {
    marked = true;
    alwaysMasked.add(el);
  };
  const pseudonyms = new Pseudonyms();
  const base = (): string => doc.baseURI;
  const name = (el: Element): string => el.localName.toLowerCase();

  // The origin of the last base URL, so that most links need no URL parser (url.ts).
  let lastBase = '';
  let lastOrigin: string | undefined;
  const originOf = (b: string): string | undefined => {
    if (b !== lastBase) {
      lastBase = b;
      lastOrigin = originOfUrl(b);
    }
    return lastOrigin;
  };
  /**
   * A URL on another origin than the page's keeps its scheme, but its host becomes a
   * pseudonym (`https://p7.invalid/:id`): host names are chosen too, and a subdomain can
   * name a person as well as a path can.
   */
  const pageOrigin = originOfUrl(doc.URL);
  const foreign = (url: string): string => {
    const hostAt = url.indexOf('//') + 2;
    const pathAt = url.indexOf('/', hostAt);
    const origin = pathAt < 0 ? url : url.slice(0, pathAt);
    return origin === pageOrigin ? url : url.slice(0, hostAt) + pseudonyms.of(origin) + '.invalid' + (pathAt < 0 ? '/' : url.slice(pathAt));
  };
  /** The URL rule, with in-page `#fragments` kept as the pseudonym of their target's id. */
  const urlFor =
    (from: () => string) =>
    (raw: string): string | undefined => {
      const value = raw.trim();
      if (value.charAt(0) !== '#') {
        const url = sanitizeUrl(value, from(), rules.routes, originOf);
        return url === undefined ? undefined : foreign(url);
      }
      let target = value.slice(1);
      try {
        target = decodeURIComponent(target);
      } catch {
        // Not percent-encoded after all: the fragment names the id as written.
      }
      return '#' + pseudonyms.of(target);
    };
  /** The CSS policy's hooks for URLs relative to `from()`. */
  const hooks = (from: () => string): CssHooks => ({
    url: urlFor(from),
    ident: (token) => pseudonyms.of(token),
    attribute: (attr, op, value) => policy.selector(attr, op, value),
    attributeName: (attr) => (policy.kept(attr) ? attr : pseudonyms.of(attr)),
    tag: (tag) => cssTag(tag),
  });
  const documentHooks = hooks(base);
  const policy = attributePolicy(
    pseudonyms,
    documentHooks.url,
    (srcset) => sanitizeSrcset(srcset, (raw) => documentHooks.url(raw)),
    documentHooks,
  );

  const sensitive = (el: Element, type: string | null, autocomplete: string | null): boolean =>
    (name(el) === 'input' && !SHOWABLE_INPUT_TYPES.has((type ?? 'text').trim().toLowerCase() || 'text')) ||
    SENSITIVE_AUTOCOMPLETE.test(autocomplete ?? '');
  const isSensitive = (el: Element): boolean => {
    if (alwaysMasked.has(el)) return true;
    const now = sensitive(el, el.getAttribute('type'), el.getAttribute('autocomplete'));
    if (now) addSensitive(el);
    return now;
  };
  const noteField = (el: Element, attr?: string, oldValue?: string | null): void => {
    if (!FIELD_ELEMENTS.has(name(el)) || isSensitive(el) || oldValue === undefined || oldValue === null) return;
    const was =
      attr === 'type'
        ? sensitive(el, oldValue, null)
        : attr === 'autocomplete' && SENSITIVE_AUTOCOMPLETE.test(oldValue);
    if (was) addSensitive(el);
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
      // scope: it is neither decided nor cached (most of a table's cells and rows),
      // unless it is slotted, where the slot's own region may mask it.
      if (attributesOnly && !el.hasAttributes() && !inHost(el)) continue;
      const known = cache?.get(el);
      if (known !== undefined) {
        scope = known;
        break;
      }
      chain.push(el);
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      scope = slotted(chain[i], ownScope(chain[i], scope));
      cache?.set(chain[i], scope);
    }
    chain.length = 0;
    return scope;
  };

  /** A light-DOM child of a shadow host: the shadow tree decides where it is shown. */
  const inHost = (node: Node): boolean => {
    const parent = node.parentNode;
    return parent !== null && parent.nodeType === 1 && (parent as Element).shadowRoot !== null;
  };
  /**
   * The scope of a node a shadow tree shows through a <slot>: masked whatever its own
   * place says when the slot sits in a `mask` region or inside a blocked element (a
   * component that masks what it is given). The slot's region can only tighten.
   */
  const slotted = (node: Node, scope: Scope): Scope => {
    if (scope === Scope.Forced || !inHost(node)) return scope;
    const slot = (node as Element | Text).assignedSlot;
    if (!slot) return scope;
    for (let el: Element | null = slot; el; el = parentElementOf(el)) if (rules.block(el)) return Scope.Forced;
    return scopeAt(slot) === Scope.Forced ? Scope.Forced : scope;
  };

  /** A select shows its chosen options' text: masked when one of them is under mask or tainted. */
  const hiddenChoice = (el: Element): boolean => {
    const options = (el as HTMLSelectElement).options;
    for (let i = 0; options && i < options.length; i++) {
      const option = options[i];
      if (option.selected && (tainted.has(option) || scopeAt(option) === Scope.Forced)) return true;
    }
    return false;
  };
  const field = (el: Element, scope?: Scope): FieldValue => {
    const own = scope ?? scopeAt(el);
    const input = el as HTMLInputElement;
    const checkable = name(el) === 'input' && CHECKABLE.test(input.type);
    // Always ask isSensitive first, so a field seen once as sensitive stays masked.
    if (isSensitive(el) || own !== Scope.Unmasked || tainted.has(el) || (name(el) === 'select' && hiddenChoice(el))) {
      return { text: FIELD_PLACEHOLDER, isChecked: false, masked: true };
    }
    // A checkbox or radio says whether it is checked; its value attribute is not needed for that.
    if (checkable) return { text: '', isChecked: input.checked === true, masked: false };
    return { text: revealText(String(input.value ?? '')), isChecked: false, masked: false };
  };

  /**
   * A present attribute's value as it may leave (`lower`: its name lower-cased), or
   * undefined. A link whose URL may not leave keeps an empty `href`, so the replay still
   * shows it as a link (it fetches nothing, and nothing in a replay follows links).
   */
  const attributeValue = (el: Element, lower: string, value: string): string | undefined => {
    // A style attribute as the browser parsed it: invalid declarations are gone.
    const out = policy.value(lower, lower === 'style' ? ((el as HTMLElement).style?.cssText ?? '') : value);
    if (out === undefined) return lower === 'href' && LINKS.has(name(el)) ? '' : undefined;
    return clip(out);
  };

  // Element names are chosen too (custom elements, unknown tags): only the names of
  // known HTML and SVG elements leave; any other becomes `x-` and a pseudonym, the same
  // for the element and for its type selectors in the captured CSS.
  const win = doc.defaultView as (Window & typeof globalThis) | null;
  const unknown = (tag: string): string => 'x-' + pseudonyms.of(tag.toLowerCase());
  const tagName = (el: Element): string => {
    const tag = el.localName;
    const ns = el.namespaceURI;
    if (ns === SVG_NS) return SVG_TAGS.test(tag) ? tag : unknown(tag);
    if (ns !== HTML_NS || tag.indexOf('-') >= 0 || !win || el instanceof win.HTMLUnknownElement) return unknown(tag);
    return tag;
  };
  const cssTags = new Map<string, string>();
  const cssTag = (tag: string): string => {
    let out = cssTags.get(tag);
    if (out === undefined) {
      let known = SVG_TAGS.test(tag);
      if (!known && tag.indexOf('-') < 0 && win) {
        try {
          known = !(doc.createElement(tag) instanceof win.HTMLUnknownElement);
        } catch {
          known = false; // not even a valid name
        }
      }
      out = known ? tag : unknown(tag);
      cssTags.set(tag, out);
    }
    return out;
  };

  const isBlocked = (el: Element, tag?: string, bare?: boolean): boolean => rules.block(el, tag, bare);

  /** All recordable attributes of an element (`tag`: its lower-cased name; `bare`: it has none). */
  const attributes = (el: Element, scope: Scope, tag: string, bare: boolean): Attributes => {
    const out: Attributes = {};
    // Names first: the values of attributes we drop are never read.
    const names = bare ? [] : el.getAttributeNames();
    for (let i = 0; i < names.length; i++) {
      const attr = names[i];
      const lower = attr.toLowerCase();
      if (!policy.kept(lower)) continue;
      // getAttribute() lower-cases its argument on HTML elements: a name set with
      // capitals (setAttributeNS) is read from its own Attr instead.
      const raw = attr === lower ? el.getAttribute(attr) : (el.attributes[i]?.value ?? null);
      const value = raw === null ? undefined : attributeValue(el, lower, raw);
      if (value !== undefined) out[attr] = value;
    }
    if (FIELD_ELEMENTS.has(tag)) {
      const value = field(el, scope);
      const type = (el as HTMLInputElement).type;
      if (!CHECKABLE.test(type) || value.masked) out.value = value.text;
      if (value.isChecked) out.checked = true;
    } else if (tag === 'option' && scope === Scope.Unmasked && !tainted.has(el)) {
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

  // What is known of recorded text nodes, so that a burst of text edits skips the
  // ancestor walk: ALWAYS masked whatever their text (inside `mask`, or tainted), or
  // judged in the default masked scope with an ordinary parent (UI_TEXT_ONLY: shown
  // only if the new text is an interface string). Only ever a reason to mask: a stale
  // entry could hide text, never show more than `ui_text` allows anywhere. Forgotten on
  // any attribute or tree change (treeChanged), and not kept under rules with
  // pseudo-classes, whose state (:checked) changes without a mutation. Kept on the node
  // under a symbol of this masker's (cheaper than a WeakMap, see mirror.ts), tagged with
  // an epoch that forgetting bumps: `epoch * 2 + verdict`.
  const ALWAYS = 0;
  const UI_TEXT_ONLY = 1;
  const KNOWN = Symbol('phi-replay text verdict');
  let epoch = 1;
  let stable = false;
  const know = (node: Node, verdict: number): void => {
    (node as Node & Record<symbol, number>)[KNOWN] = epoch * 2 + verdict;
  };
  let uiText: ReadonlySet<string> = initial.uiText;
  const setRules = (next: CompiledRules): void => {
    rules = next;
    uiText = next.uiText;
    attributesOnly = next.mask.attributesOnly && next.unmask.attributesOnly;
    stable = next.mask.structural && next.unmask.structural;
    epoch++;
  };
  setRules(initial);

  /** Masked text, unless it is one of the application's interface strings. */
  const maskedOrUi = (data: string): string =>
    uiText.size > 0 && uiText.has(uiTextKey(data)) ? revealText(data) : maskText(data);

  const text = (node: Node, parentScope: Scope): string | null => {
    if (node.nodeType !== 3) return null;
    const data = (node as Text).data;
    const parent = node.parentElement;
    // The exact name: only a real <style> holds CSS. An unknown element that merely
    // looks like one (createElementNS(html, 'STYLE')) shows its text, so it is masked.
    const parentTag = parent !== null ? parent.localName : '';
    const spaceDropped = INVISIBLE_SPACE_PARENTS.has(parentTag);
    if (spaceDropped && COLLAPSIBLE_SPACE.test(data)) return null;
    if (parentScope === Scope.Forced || tainted.has(node)) {
      if (stable && !spaceDropped) know(node, ALWAYS);
      return maskText(data);
    }
    if (parentScope === Scope.Masked && uiText.size === 0) {
      if (stable && !spaceDropped) know(node, UI_TEXT_ONLY);
      return maskText(data);
    }
    // Titles and textareas are masked whatever the scope; so is the text of a select
    // (its options, or the chosen one shown in <selectedcontent>) wherever its value is.
    const parentName = parentTag.toLowerCase();
    if (parentName === 'title' || parentName === 'textarea') return maskText(data);
    const select = parent !== null ? parent.closest('select') : null;
    if (select && field(select).masked) return maskText(data);
    if (parentScope === Scope.Masked) {
      if (stable && !spaceDropped) know(node, UI_TEXT_ONLY);
      return maskedOrUi(data);
    }
    // What a user can edit (designMode, -webkit-user-modify) is a field value, however
    // it became editable, and stays masked once edited; PHI split over several text
    // nodes is PHI.
    if (editable(parent)) {
      addTaint(node);
      return maskText(data);
    }
    if (looksLikePhi(data) || splitPhi(parent)) return maskText(data);
    return clip(data);
  };

  /** Editable by the user: contenteditable or designMode (isContentEditable), or CSS user-modify. */
  const editable = (el: Element | null): boolean => {
    if (!el || !win) return false;
    if ((el as HTMLElement).isContentEditable) return true;
    const modify = (win.getComputedStyle(el) as CSSStyleDeclaration & { webkitUserModify?: string }).webkitUserModify;
    return typeof modify === 'string' && modify.indexOf('write') >= 0;
  };

  /** `node` and everything inside it, open shadow roots included. */
  const taint = (node: Node): void => {
    addTaint(node);
    for (let child = node.firstChild; child; child = child.nextSibling) taint(child);
    const shadow = node.nodeType === 1 ? (node as Element).shadowRoot : null;
    if (shadow) taint(shadow);
  };

  // Text that leaves from an unmask region is read with its neighbours: an SSN rendered
  // as five text nodes ({a}-{b}-{c}) or split by <b> or <wbr> is still an SSN. The
  // parent's whole text is checked, and the grandparent's when the parent is inline;
  // the verdict is kept per element for the current walk or batch (CONTEXT, epoch).
  const CONTEXT = Symbol('phi-replay text context');
  let walk = 1;
  const contextOf = (el: Element | null): boolean => {
    if (!el) return false;
    const tagged = el as Element & Record<symbol, number | undefined>;
    const known = tagged[CONTEXT];
    if (known !== undefined && known >> 1 === walk) return (known & 1) === 1;
    const found = looksLikePhi(el.textContent ?? '');
    tagged[CONTEXT] = walk * 2 + (found ? 1 : 0);
    return found;
  };
  const splitPhi = (parent: Element | null): boolean =>
    contextOf(parent) || (parent !== null && INLINE.has(parent.localName) && contextOf(parent.parentElement));

  /** Sensitive and tainted marks of `from` (and its subtree) carried over to its copy `to`. */
  const copied = (from: Node, to: Node): void => {
    if (!marked) return;
    if (tainted.has(from)) addTaint(to);
    if (alwaysMasked.has(from as Element) || (from.nodeType === 1 && isSensitive(from as Element))) addSensitive(to as Element);
    for (let a = from.firstChild, b = to.firstChild; a && b; a = a.nextSibling, b = b.nextSibling) copied(a, b);
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
        // A <style> leaves as its parsed sheet (_cssText), never as its text.
        childless: CHILDLESS_ELEMENTS.has(tag) || isStyleElement(el),
        sheet: tag === 'link' || tag === 'style',
      };
    },
    scopeAt,
    isBlocked,
    taint,
    taintFields(root) {
      // Every field there is: a script may write to any of them without an event.
      (root as ParentNode).querySelectorAll?.('input,textarea,select,option').forEach((el) => addTaint(el));
      const walker = doc.createTreeWalker(root, 1);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const shadow = (n as Element).shadowRoot;
        if (shadow) this.taintFields(shadow);
      }
    },
    copied,
    merged(nodes) {
      if (nodes.some((n) => tainted.has(n))) nodes.forEach((n) => addTaint(n));
    },
    noteField,
    attribute(el, attr) {
      const lower = attr.toLowerCase();
      if (!policy.kept(lower)) return undefined;
      const raw = el.getAttribute(attr);
      return raw === null ? null : (attributeValue(el, lower, raw) ?? null);
    },
    text,
    changedText(node, cache) {
      const known = (node as Node & Record<symbol, number | undefined>)[KNOWN];
      if (known !== undefined && known >> 1 === epoch) {
        const data = (node as Text).data;
        return (known & 1) === ALWAYS ? maskText(data) : maskedOrUi(data);
      }
      return text(node, slotted(node, scopeAt(node.parentNode, cache)));
    },
    slotted,
    treeChanged() {
      epoch++;
      walk++;
    },
    batch() {
      walk++;
    },
    setRules,
    field,
    pageUrl: (href) => (sanitizeUrl(href, href, rules.routes) ?? '').slice(0, MAX_HREF),
    cssText(el) {
      const tag = name(el);
      const isSheetLink = tag === 'link' && /(^|\s)stylesheet(\s|$)/i.test(el.getAttribute('rel') ?? '');
      if (!isSheetLink && tag !== 'style') return undefined;
      const origin = new URL(base()).origin;
      return sheetCss((el as HTMLStyleElement).sheet as CSSStyleSheet | null, origin, base(), (from) => hooks(() => from));
    },
    doctype(node) {
      // Only the identifiers of W3C's own document types, which set the rendering mode.
      return {
        name: /^html$/i.test(node.name) ? node.name : 'html',
        publicId: /^-\/\/W3C\/\/DTD X?HTML [\d.]+( (Transitional|Strict|Frameset))?\/\/EN$/i.test(node.publicId) ? node.publicId : '',
        systemId: /^https?:\/\/www\.w3\.org\/TR\/(html4|xhtml1|REC-html40)\/(DTD\/)?[\w-]+\.dtd$/i.test(node.systemId) ? node.systemId : '',
      };
    },
    newSession: () => pseudonyms.reset(),
    pseudonym: (token) => pseudonyms.known(token),
  };
}
