// Per-session pseudonyms for the identifiers a page chooses: class names, ids, names,
// `for`/`headers`/`list` references, in-page fragments, SVG references, grid area
// names. Applications put patient data in them (a row id built from a name, a
// diagnosis flag as a class), so none leaves verbatim. Each distinct token gets the
// next name from a counter (`p1`, `p2`, …, base 36): the same token always gets the
// same pseudonym within a session, so `label for` ↔ `id`, `href="#x"` ↔ `id="x"` and
// every stylesheet selector still match in the replay, while nothing about the token
// (its characters, length or shape) can be derived from its pseudonym — only the
// order in which the page first used it.
//
// The map lives in the recorder instance and only in the page. A new session starts a
// new map. Within a session the map outlives full snapshots and reconnects (every full
// snapshot re-sends the stylesheets, so each snapshot is consistent on its own), but
// not a page load: a reload starts afresh, and its first full snapshot carries its own
// stylesheets.

/** Distinct tokens remembered per session; later new tokens share one pseudonym. */
const MAX_TOKENS = 100_000;
/** Shared by every token beyond MAX_TOKENS: still masked, no longer distinct. */
const OVERFLOW = 'p_';
/** A run of ASCII whitespace, which separates tokens in class, headers, rel… */
const SPACES = /[ \t\n\r\f]+/;

/** Whole token lists remembered (a page repeats the same class attributes), then forgotten. */
const MAX_LISTS = 10_000;

export class Pseudonyms {
  #map = new Map<string, string>();
  #next = 0;
  /** `list()` results by input: one look-up instead of a split and one per token. */
  #lists = new Map<string, string>();

  /** The pseudonym of one token; an empty token stays empty. */
  of(token: string): string {
    if (token === '') return '';
    let name = this.#map.get(token);
    if (name === undefined) {
      name = this.#map.size < MAX_TOKENS ? 'p' + (++this.#next).toString(36) : OVERFLOW;
      if (name !== OVERFLOW) this.#map.set(token, name);
    }
    return name;
  }

  /** A whitespace-separated token list (`class`, `headers`), each token mapped. */
  list(value: string): string {
    let out = this.#lists.get(value);
    if (out !== undefined) return out;
    out = '';
    for (const token of value.split(SPACES)) {
      if (token !== '') out += (out ? ' ' : '') + this.of(token);
    }
    if (this.#lists.size >= MAX_LISTS) this.#lists.clear();
    this.#lists.set(value, out);
    return out;
  }

  /** The pseudonym already given to `token`, if any (the page's own look-up). */
  known(token: string): string | undefined {
    return this.#map.get(token);
  }

  /** A new session: nothing of the old map carries over. */
  reset(): void {
    this.#map = new Map();
    this.#lists = new Map();
    this.#next = 0;
  }
}
