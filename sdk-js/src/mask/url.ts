// URLs as they may leave the page: origin and templated path, no query, no fragment.
//
// The path is default-deny. A segment passes only when it is a literal of a route the
// application declared (`routes`, e.g. "/patients/:id/visits") or a word of the small
// built-in vocabulary (masking-rules/vocabulary.json: interface words, no personal
// names); every other segment becomes `:id`. It does not matter what a segment looks
// like: `jane-roe` and `12345` are both `:id`. The collector applies the same rule
// again before it indexes a page path (collector/paths.py; masking-rules/tests/paths.json
// holds the cases both must agree on).
//
// 1. A path that matches a declared route (same number of segments, literals equal
//    ignoring case, `:name` and `*` matching any one segment) becomes that route, with
//    its literals (lower-cased) and its parameters as `:id`; of several matches the one
//    with most literals wins, then the first declared.
// 2. Otherwise each segment is judged alone: a vocabulary word or any route's literal
//    (compared lower-cased, after percent-decoding) is kept as that word, lower-cased;
//    the last segment may keep a known file extension (`:id.png`, `app.css`).

// Named imports: the bundler keeps these two lists of the file and drops the rest.
import { extensions, words } from '../../../masking-rules/vocabulary.json';

/** Declared routes, compiled for `templatePath`. */
export interface RouteTable {
  /** Routes by segment count: each a list of lower-cased literals, or null for a parameter. */
  readonly bySize: ReadonlyMap<number, readonly (readonly (string | null)[])[]>;
  /** Every literal of every route, lower-cased. */
  readonly literals: ReadonlySet<string>;
}

const WORDS: ReadonlySet<string> = new Set(words);
const EXTENSIONS: ReadonlySet<string> = new Set(extensions);
/** What every other segment becomes. */
const ID = ':id';
/** A `srcset` candidate's descriptor (`2x`, `640w`). */
/** A `srcset` candidate's descriptor (`2x`, `640w`): five digits at most, no room for an identifier. */
const SRCSET_DESCRIPTOR = /^\d{1,5}(\.\d{1,3})?[wx]$/i;
/** A file name's extension, to be judged apart from its stem. */
const EXTENSION = /^(.+)\.([a-z0-9]{1,5})$/i;

/** `routes` as validated by rules.ts: "/a/:param/b", "*" for any one segment. */
export function compileRoutes(routes: readonly string[]): RouteTable {
  const bySize = new Map<number, (string | null)[][]>();
  const literals = new Set<string>();
  for (const route of routes) {
    const parts = route
      .split('/')
      .filter((part) => part !== '')
      .map((part) => (part === '*' || part.charAt(0) === ':' ? null : part.toLowerCase()));
    parts.forEach((part) => part !== null && literals.add(part));
    const list = bySize.get(parts.length) ?? [];
    list.push(parts);
    bySize.set(parts.length, list);
  }
  return { bySize, literals };
}

function decode(segment: string): string | null {
  if (segment.indexOf('%') < 0) return segment.toLowerCase();
  try {
    return decodeURIComponent(segment).toLowerCase();
  } catch {
    return null;
  }
}

/**
 * A pathname with every segment that is not a declared literal or a vocabulary word
 * replaced by `:id`, e.g. with routes ["/patients/:id/visits"]:
 * `/patients/jane-roe/visits` → `/patients/:id/visits`; `/avatars/JaneRoe.png` →
 * `/:id/:id.png` ("avatars" is not a vocabulary word); `/static/app.css` unchanged.
 */
export function templatePath(pathname: string, routes: RouteTable): string {
  // The segments after the leading slash; a trailing slash is kept, as are empty
  // segments in between.
  const raw = pathname.split('/').slice(1);
  const trailing = raw.length > 1 && raw[raw.length - 1] === '';
  const decoded = (trailing ? raw.slice(0, -1) : raw).map(decode);
  const out = matchRoute(decoded, routes) ?? decoded.map((segment, i) => judge(segment, routes, i === decoded.length - 1));
  return '/' + out.join('/') + (trailing ? '/' : '');
}

function matchRoute(segments: (string | null)[], routes: RouteTable): string[] | null {
  let best: readonly (string | null)[] | null = null;
  let bestLiterals = -1;
  for (const route of routes.bySize.get(segments.length) ?? []) {
    let literals = 0;
    const fits = route.every((part, i) => {
      const segment = segments[i];
      if (part === null) return segment !== '';
      literals++;
      return segment === part;
    });
    if (fits && literals > bestLiterals) {
      best = route;
      bestLiterals = literals;
    }
  }
  return best && best.map((part) => part ?? ID);
}

function known(word: string, routes: RouteTable): boolean {
  return WORDS.has(word) || routes.literals.has(word);
}

function judge(segment: string | null, routes: RouteTable, last: boolean): string {
  if (segment === null) return ID;
  if (segment === '' || known(segment, routes)) return segment;
  const file = last ? EXTENSION.exec(segment) : null;
  if (file && EXTENSIONS.has(file[2])) return (known(file[1], routes) ? file[1] : ID) + '.' + file[2];
  return ID;
}

/**
 * A path-absolute reference (`/patients/12?x#y`) of characters the URL parser leaves as
 * they are, and no `.` segment to resolve: most links. Its path is known without the
 * parser (which was a tenth of the recorder's time on a page of links).
 */
const PLAIN_PATH = /^\/(?!\/)[\w.\-~!$&'()*+,;=:@%/]*(?=[?#]|$)/;
const DOT_SEGMENT = /\/\.|%2e/i;

/**
 * Origin + templated path; no query, no fragment; `undefined` for anything but http(s).
 * `originOf(base)` may give the base's origin from a cache.
 */
export function sanitizeUrl(
  raw: string,
  base: string,
  routes: RouteTable,
  originOf: (base: string) => string | undefined = (b) => originOfUrl(b),
): string | undefined {
  const value = raw.trim();
  const plain = PLAIN_PATH.exec(value);
  if (plain && !DOT_SEGMENT.test(plain[0])) {
    const origin = originOf(base);
    if (origin !== undefined) return origin + templatePath(plain[0], routes);
  }
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return url.origin + templatePath(url.pathname, routes);
}

/** The origin of an http(s) URL, or undefined (then a path cannot be resolved against it quickly). */
export function originOfUrl(base: string): string | undefined {
  try {
    const url = new URL(base);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Each candidate's URL through `url` (the URL rule); a candidate that cannot be made safe is dropped. */
export function sanitizeSrcset(srcset: string, url: (raw: string) => string | undefined): string {
  return srcset
    .split(/,\s+|,(?=\S)/)
    .flatMap((candidate) => {
      const [raw, descriptor] = candidate.trim().split(/\s+/);
      const safe = raw ? url(raw) : undefined;
      if (!safe) return [];
      return [descriptor && SRCSET_DESCRIPTOR.test(descriptor) ? `${safe} ${descriptor}` : safe];
    })
    .join(', ');
}
