// Masking rules passed to start(): validated strictly, because an invalid rule must
// stop the recorder from starting (fail closed) rather than silently record more.

import { failure } from './errors';
import { compileRoutes, uiTextKey, type RouteTable } from './mask';

export interface Rules {
  mask?: string[];
  unmask?: string[];
  block?: string[];
  exclude_routes?: string[];
  /** Route templates whose literal segments may appear in URLs: "/patients/:id/visits". */
  routes?: string[];
  /** The application's own interface strings, shown wherever a text node equals one. */
  ui_text?: string[];
}

/** Whether an element matches one rule list (the element itself, not its ancestors). */
export interface Matcher {
  /**
   * `name` (the lower-cased local name) and `bare` (the element has no attributes) may
   * be passed by a caller that already knows them, so that they are read once per node.
   */
  (el: Element, name?: string, bare?: boolean): boolean;
  /** Only attribute selectors: an element without attributes never matches. */
  readonly attributesOnly: boolean;
  /**
   * No pseudo-class: whether an element matches depends only on the tree and its
   * attributes, which change only through mutations the recorder observes.
   */
  readonly structural: boolean;
}

export interface CompiledRules {
  /** Elements whose subtree is always masked (wins over unmask). */
  readonly mask: Matcher;
  /** Elements whose subtree text and field values are recorded. */
  readonly unmask: Matcher;
  /** Elements replaced by an empty placeholder. */
  readonly block: Matcher;
  excluded(pathname: string): boolean;
  /** Declared routes, for templating URL paths. */
  readonly routes: RouteTable;
  /** Interface strings (trimmed, inner whitespace collapsed) shown outside unmask regions. */
  readonly uiText: ReadonlySet<string>;
}

const RULE_KEYS = ['mask', 'unmask', 'block', 'exclude_routes', 'routes', 'ui_text'] as const;

// Markers an application puts in its markup; always part of the rule lists.
const MASK_MARKER = '[data-replay-mask]';
const UNMASK_MARKER = '[data-replay-unmask]';
const BLOCK_MARKER = '[data-replay-block]';
// `contenteditable="false"`, compared ASCII case-insensitively like CSS's `i` flag.
const NOT_EDITABLE = /^false$/i;
// Selectors checked without el.matches(): a bare attribute name, and (for mask and
// block only) a bare tag name. Anything else goes to el.matches() unchanged.
const ATTRIBUTE_ONLY = /^\[([a-z][a-z0-9_-]*)\]$/;
const TAG_ONLY = /^[a-zA-Z][a-zA-Z0-9-]*$/;

// Blocked whatever the rules say: media and embedded documents can show anything.
// `image` is SVG's <image>, which can show any picture just like <img>.
export const DEFAULT_BLOCK = ['img', 'video', 'audio', 'canvas', 'iframe', 'frame', 'object', 'embed', 'image'];

// Upper bound on entries per key, so a broken build cannot hand us megabytes of rules.
const MAX_ENTRIES = 500;
// Upper bound on one selector or route pattern.
const MAX_LENGTH = 1000;
// A translation catalogue is longer than a selector list: bounds of its own.
const MAX_UI_TEXT = 20_000;
const MAX_UI_TEXT_LENGTH = 500;
// A route template: segments that are literals (URL-safe characters), `:name` or `*`.
const ROUTE = /^(\/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_-]*|\*))+\/?$/;

type RuleKey = (typeof RULE_KEYS)[number];
/** Validated rule lists, every key present (empty when not given). */
export type RuleLists = Record<RuleKey, string[]>;

/** The application's rules (start options): any mistake, an unknown key included, throws. */
export function compileRules(input: unknown, doc: Document): CompiledRules {
  return buildRules(checkRules(input, doc));
}

export function checkRules(input: unknown, doc: Document): RuleLists {
  return readRules(input, doc, 'rules', false);
}

/**
 * The collector's additions (a welcome's `config`): mask, block and exclude_routes.
 * Unknown keys, `unmask`, `routes` and `ui_text` among them, are ignored, so the
 * collector can only tighten;
 * an invalid entry throws, naming the key and index.
 */
export function remoteRules(input: unknown, doc: Document): RuleLists {
  return readRules(input, doc, "the collector's config", true);
}

/** The application's own rules plus the collector's additions; `unmask` is only ever the application's. */
export function mergeRules(app: RuleLists, remote: RuleLists): RuleLists {
  return {
    ...app,
    mask: app.mask.concat(remote.mask),
    block: app.block.concat(remote.block),
    exclude_routes: app.exclude_routes.concat(remote.exclude_routes),
  };
}

function readRules(input: unknown, doc: Document, label: string, remote: boolean): RuleLists {
  const rules = input === undefined ? {} : input;
  if (typeof rules !== 'object' || rules === null || Array.isArray(rules)) {
    throw failure(`${label} must be an object`);
  }
  const record = rules as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!remote && !(RULE_KEYS as readonly string[]).includes(key)) {
      throw failure(`rules has an unknown key "${key.slice(0, 40)}"; expected ${RULE_KEYS.join(', ')}`);
    }
  }
  const list = (
    key: RuleKey,
    check: (item: string) => boolean,
    problem: string,
    entries = MAX_ENTRIES,
    length = MAX_LENGTH,
  ): string[] => {
    // Only the application may reveal: the collector's config cannot unmask, declare
    // route literals or interface strings.
    const value = remote && LOOSENING.includes(key) ? undefined : record[key];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length > entries) {
      throw failure(`${label}.${key} must be an array of at most ${entries} strings`);
    }
    value.forEach((item, i) => {
      if (typeof item !== 'string' || item.trim() === '' || item.length > length) {
        throw failure(`${label}.${key}[${i}] must be a non-empty string of at most ${length} characters`);
      }
      if (!check(item)) throw failure(`${label}.${key}[${i}] ${problem}`);
    });
    // A copy: the application may change its arrays later, unvalidated.
    return (value as string[]).slice();
  };
  const probe = doc.createDocumentFragment();
  const parses = (selector: string): boolean => {
    try {
      probe.querySelector(selector);
      return true;
    } catch {
      return false;
    }
  };
  // A selector left open at its end (`div:not(.a`, `[title="x`) is valid alone, but
  // joined into one list it would swallow the selectors after it: refused.
  const selector = (s: string): boolean => parses(s) && !parses(s + ')') && !parses(s + ']');
  const invalid = 'is not a valid CSS selector';
  return {
    mask: list('mask', selector, invalid),
    unmask: list('unmask', selector, invalid),
    block: list('block', selector, invalid),
    exclude_routes: list(
      'exclude_routes',
      (glob) => /^\/[^\s?#]*$/.test(glob),
      'must be a path like "/a/**", without ? or #',
    ),
    routes: list(
      'routes',
      (route) => ROUTE.test(route),
      'must be a route like "/patients/:id/visits"',
    ),
    ui_text: list('ui_text', () => true, '', MAX_UI_TEXT, MAX_UI_TEXT_LENGTH),
  };
}

/** Keys only the application's own rules may set: each can reveal something. */
const LOOSENING: readonly RuleKey[] = ['unmask', 'routes', 'ui_text'];


/** Matchers for validated rule lists (the built-in markers and block list added). */
export function buildRules(lists: RuleLists): CompiledRules {
  const routes = lists.exclude_routes.map(globToRegExp);
  return {
    // What a user types into an editable region is a field value: masked even inside unmask.
    mask: compileMatcher([MASK_MARKER].concat(lists.mask), true, true),
    unmask: compileMatcher([UNMASK_MARKER].concat(lists.unmask), false, false),
    block: compileMatcher(DEFAULT_BLOCK.concat(BLOCK_MARKER, lists.block), true, false),
    excluded: (pathname) => routes.length > 0 && routeMatches(routes, pathname),
    routes: compileRoutes(lists.routes),
    uiText: new Set(lists.ui_text.map(uiTextKey)),
  };
}

/**
 * One rule list as a function, because el.matches() with a long selector list on every
 * node was the snapshot's largest cost. Bare `[attr]` selectors become hasAttribute()
 * (the same case rules as CSS); with `byTag`, bare tag names compare lower-cased, which
 * can only match more elements than CSS would, so it is used for mask and block, never
 * for unmask. Every other selector is kept, joined, for one el.matches() call.
 */
function compileMatcher(selectors: string[], byTag: boolean, editable: boolean): Matcher {
  const tags = new Set<string>();
  const attributes: string[] = [];
  const rest: string[] = [];
  for (const selector of selectors) {
    const trimmed = selector.trim();
    const attribute = ATTRIBUTE_ONLY.exec(trimmed);
    if (attribute) attributes.push(attribute[1]);
    else if (byTag && TAG_ONLY.test(trimmed)) tags.add(trimmed.toLowerCase());
    else rest.push(selector);
  }
  const others = rest.join(',');
  const matcher = (el: Element, name?: string, bare?: boolean): boolean => {
    if (tags.size > 0 && tags.has(name ?? el.localName.toLowerCase())) return true;
    if (!(bare ?? !el.hasAttributes())) {
      for (let i = 0; i < attributes.length; i++) if (el.hasAttribute(attributes[i])) return true;
      // `[contenteditable]:not([contenteditable="false" i])`
      const value = editable ? el.getAttribute('contenteditable') : null;
      if (value !== null && !NOT_EDITABLE.test(value)) return true;
    }
    return others !== '' && el.matches(others);
  };
  return Object.assign(matcher, { attributesOnly: tags.size === 0 && others === '', structural: !others.includes(':') });
}

/**
 * `*` matches within one path segment, `**` across segments; `/a/**` also matches `/a`.
 * Matching ignores case and a trailing slash, so that `/Volunteers/` cannot slip past
 * `/volunteers/**`.
 */
export function globToRegExp(glob: string): RegExp {
  const escape = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  let source = glob
    .split('**')
    .map((part) => part.split('*').map(escape).join('[^/]*'))
    .join('.*');
  source = source.replace(/\/\.\*$/, '(?:/.*)?').replace(/\/$/, '');
  return new RegExp(`^${source}/?$`, 'i');
}

function routeMatches(routes: RegExp[], pathname: string): boolean {
  // Also each segment as a server may read it: percent-decoded where it decodes (one
  // malformed escape does not stop the others), without path parameters (;jsessionid=…).
  const read = pathname
    .split('/')
    .map((segment) => {
      const bare = segment.split(';')[0];
      try {
        return decodeURIComponent(bare);
      } catch {
        return bare;
      }
    })
    .join('/');
  return [pathname, read].some((path) => {
    const normal = path.replace(/\/{2,}/g, '/');
    return routes.some((re) => re.test(normal));
  });
}
