// Attributes: which may leave, and what each value may become. Default-deny twice
// over: an attribute not listed here is dropped, and a listed one leaves only in the
// form its kind allows. Nothing passes because it looks harmless:
// - identifiers the page chose (`id`, `class`, `name`, `for`, `headers`, `list`, `role`,
//   `slot`, `part`, in-page `#fragments`) become per-session pseudonyms (pseudonyms.ts);
// - URLs follow the URL rule (url.ts), CSS the CSS policy (css.ts);
// - numbers, booleans, geometry and enumerated values pass only when they parse as
//   such; anything else is dropped (an `<input type="jane-roe">` loses its type).
// The same kinds judge the values of attribute selectors in captured CSS, so that a
// selector keeps matching the element it matched on the page.

import type { CssHooks } from './css';
import { sanitizeDeclarations } from './css';
import { looksLikePhi } from './detector';
import type { Pseudonyms } from './pseudonyms';

const enum Kind {
  /** A whitespace-separated list of page-chosen tokens: each a pseudonym. */
  Tokens,
  /** One page-chosen token: a pseudonym. */
  Token,
  /** A URL (or an in-page `#fragment`). */
  Url,
  Srcset,
  /** A declaration list (`style`). */
  Style,
  /** Paint: a colour, none, or a url(#id) reference. */
  Paint,
  /** A url(#id) reference or none (filter, clip-path, mask, markers). */
  Reference,
  /** Presence is what counts: recorded empty. */
  Bool,
  // The kinds from here on are plain values: an attribute selector keeps a value as the
  // attribute itself would.
  /** A media query list of known media types and features. */
  Media,
  Number,
  NumberList,
  /** Path data, point lists, view boxes, transforms, aspect ratios. */
  Geometry,
  /** One of a fixed set of values (ENUMS). */
  Enum,
  /** A list of values of a fixed set (`rel`): unknown ones dropped. */
  EnumList,
  Lang,
}

const KINDS = new Map<string, Kind>();
const kind = (k: Kind, names: string): void => names.split(' ').forEach((name) => KINDS.set(name, k));
kind(Kind.Tokens, 'class headers role part');
kind(Kind.Token, 'id name for list slot');
kind(Kind.Url, 'href src xlink:href');
kind(Kind.Srcset, 'srcset');
kind(Kind.Style, 'style');
kind(Kind.Paint, 'fill stroke stop-color');
kind(Kind.Reference, 'clip-path mask filter marker-start marker-mid marker-end');
kind(Kind.Media, 'media');
kind(
  Kind.Number,
  'colspan rowspan span width height cols rows size start border cellpadding cellspacing x y x1 y1 x2 ' +
    'y2 cx cy r rx ry fx fy stroke-width opacity fill-opacity stroke-opacity stop-opacity offset ' +
    'stroke-dashoffset stroke-miterlimit',
);
kind(Kind.NumberList, 'stroke-dasharray');
kind(Kind.Bool, 'disabled readonly hidden open multiple reversed');
kind(Kind.Geometry, 'd points viewbox transform gradienttransform preserveaspectratio');
kind(Kind.Lang, 'lang');

/**
 * Enumerated attributes (Kind.Enum, or EnumList for `rel`) and their allowed values,
 * compared lower-cased, except xmlns.
 */
const ENUMS: Record<string, ReadonlySet<string>> = {};
const values = (name: string, list: string, k = Kind.Enum): void => {
  KINDS.set(name, k);
  ENUMS[name] = new Set(list.split(' '));
};
values(
  'type',
  'text search email tel url number range date datetime-local month week time color checkbox radio ' +
    'submit button reset image password hidden file text/css 1 a A i I module image/svg+xml image/png image/x-icon',
);
values('dir', 'ltr rtl auto');
values('align', 'left right center justify char');
values('valign', 'top middle bottom baseline');
values('charset', 'utf-8');
values(
  'xmlns',
  'http://www.w3.org/2000/svg http://www.w3.org/1999/xhtml http://www.w3.org/1998/Math/MathML http://www.w3.org/1999/xlink',
);
values('gradientunits', 'userspaceonuse objectboundingbox');
values('stroke-linecap', 'butt round square');
values('stroke-linejoin', 'miter round bevel arcs miter-clip');
values('fill-rule', 'nonzero evenodd');
values('clip-rule', 'nonzero evenodd');
values(
  'rel',
  'stylesheet alternate icon preload prefetch preconnect dns-prefetch modulepreload manifest noopener ' +
    'noreferrer nofollow external help license next prev search author bookmark canonical tag',
  Kind.EnumList,
);

const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?(%|px|em|rem|ex|ch|pt|pc|cm|mm|in|q|vw|vh|vmin|vmax)?\s*$/i;
const NUMBER_LIST = /^[\s\d.,+eE%-]*$/;
const PATH_DATA = /^[\s\d.,+eEMmLlHhVvCcSsQqTtAaZz-]*$/;
const TRANSFORM = /^(\s*(matrix|translate|translatex|translatey|scale|rotate|skewx|skewy)\s*\([\s\d.,+e-]*\)\s*,?)*\s*$/i;
const ASPECT = /^\s*(none|x(min|mid|max)y(min|mid|max))(\s+(meet|slice))?\s*$/i;
/** A language and a region (en, en-GB): no room for a word. */
const LANG = /^[a-z]{2}(-[a-z]{2})?$/i;
/** A run of six digits or more that is not a decimal fraction: an identifier, a date, a phone number. */
const LONG_NUMBER = /(^|[^\d.])\d{6}/;
/** A colour (hex, rgb/hsl functional notation, a few names), none, currentColor, or a reference. */
const PAINT =
  /^\s*(none|currentcolor|transparent|inherit|context-(fill|stroke)|black|white|red|green|blue|yellow|orange|purple|gr[ae]y|silver|navy|teal|maroon|olive|lime|aqua|fuchsia|#[\da-f]{3,8}|(rgba?|hsla?)\([\d\s.,%/+-]*\)|url\(\s*['"]?#[^'")\s]+['"]?\s*\))\s*$/i;
/** `url(#id)`, whose id is a pseudonym on the wire. */
const FRAGMENT_URL = /^(\s*url\(\s*['"]?)#([^'")\s]+)(['"]?\s*\)\s*)$/i;
/** Media types and features with their values: a query list with nothing else in it. */
const MEDIA =
  /^(\s*(only |not )?(all|screen|print)?( ?(and )?\((min-|max-)?(width|height|resolution|aspect-ratio|orientation|prefers-color-scheme|prefers-reduced-motion|hover|pointer)(: ?([\d.]+(px|em|rem|dppx|dpi|x)?|\d+ ?\/ ?\d+|portrait|landscape|dark|light|reduce|no-preference|none|hover|fine|coarse))?\))*\s*(,|$))+$/i;
/** The application's replay markers survive, empty, so the replay shows its regions. */
const MARKERS = new Set(['data-replay-mask', 'data-replay-unmask', 'data-replay-block']);

export interface AttributePolicy {
  /** Whether an attribute (lower-cased name) is recorded at all. */
  kept(name: string): boolean;
  /** A recorded attribute's value as it may leave, or undefined to drop it. */
  value(name: string, value: string): string | undefined;
  /** An attribute selector's value (operator `op`), or undefined when it cannot be kept. */
  selector(name: string, op: string, value: string): string | undefined;
}

/**
 * `url(raw)` is the URL rule for the document's base; `css` the hooks the CSS policy
 * uses (the same pseudonyms, so `style="fill:url(#g)"` and `id="g"` still match).
 */
export function attributePolicy(
  pseudonyms: Pseudonyms,
  url: (raw: string) => string | undefined,
  srcset: (raw: string) => string,
  css: CssHooks,
): AttributePolicy {
  const value = (name: string, raw: string): string | undefined => {
    if (MARKERS.has(name)) return '';
    const k = KINDS.get(name);
    switch (k) {
      case Kind.Tokens:
        return pseudonyms.list(raw);
      case Kind.Token:
        return pseudonyms.of(raw);
      case Kind.Url:
        return url(raw);
      case Kind.Srcset:
        return srcset(raw);
      case Kind.Style:
        return sanitizeDeclarations(raw, css);
      case Kind.Paint:
      case Kind.Reference: {
        const ref = FRAGMENT_URL.exec(raw);
        if (ref) return ref[1] + '#' + pseudonyms.of(ref[2]) + ref[3];
        return (k === Kind.Paint ? PAINT.test(raw) : /^\s*none\s*$/i.test(raw)) ? raw : undefined;
      }
      case Kind.Media:
        return MEDIA.test(raw) ? raw : undefined;
      // Numbers and geometry carry no identifier: no long digit run, nothing PHI-shaped.
      case Kind.Number:
        return NUMBER.test(raw) && !LONG_NUMBER.test(raw) ? raw : undefined;
      case Kind.NumberList:
      case Kind.Geometry: {
        const shape =
          name === 'd' ? PATH_DATA : name.indexOf('transform') >= 0 ? TRANSFORM : name === 'preserveaspectratio' ? ASPECT : NUMBER_LIST;
        return shape.test(raw) && !LONG_NUMBER.test(raw) && !looksLikePhi(raw) ? raw : undefined;
      }
      case Kind.Bool:
        return '';
      case Kind.Enum: {
        const v = raw.trim();
        return ENUMS[name].has(v) || ENUMS[name].has(v.toLowerCase()) ? v : undefined;
      }
      case Kind.EnumList: {
        const kept = raw.split(/\s+/).filter((token) => ENUMS[name].has(token.toLowerCase()));
        return kept.length ? kept.join(' ') : undefined;
      }
      case Kind.Lang:
        return LANG.test(raw.trim()) ? raw.trim() : undefined;
      default:
        return undefined;
    }
  };
  return {
    kept: (name) => KINDS.has(name) || MARKERS.has(name),
    value,
    selector(name, op, raw) {
      const k = KINDS.get(name);
      if (k === Kind.Tokens || k === Kind.Token) {
        // Only whole-token comparisons survive pseudonyms; a prefix or substring of a
        // pseudonym means nothing, so such a selector is left to match nothing.
        if (op === '~=' || op === '|=' || (op === '=' && k === Kind.Token)) return pseudonyms.of(raw);
        return op === '=' ? pseudonyms.list(raw) : undefined;
      }
      if (k === Kind.Url && op === '=') return url(raw);
      // Markers have no kind; a boolean, CSS or srcset value cannot be compared as text.
      return k !== undefined && k > Kind.Bool ? value(name, raw) : undefined;
    },
  };
}
