// CSS as it may leave the page. One CSS Syntax Level 3 tokenizer and serializer
// (https://www.w3.org/TR/css-syntax-3/ §3.3, §4, §9), shared with the player's inert
// pass, and on top of it the recorder's default-deny policy: escapes are decoded before
// any decision, strings are removed unless a short allow-list needs them, selectors go
// through the pseudonym map, URLs through the URL rule.

import { clip } from './text';

/** Token types of CSS Syntax §4. Openers are one less than their closers. */
export const enum CssToken {
  EOF, Whitespace, Ident, Function, AtKeyword, Hash, String, BadString, Url, BadUrl, Delim,
  Number, Percentage, Dimension, CDO, CDC,
  Colon, Semicolon, Comma, LBracket, RBracket, LParen, RParen, LBrace, RBrace,
}

/**
 * The serialization table (§9): each token has a column bit, and a row mask of the
 * columns that may not directly follow it (an empty comment goes between). Bang and Gt,
 * and the row of `!` after `<`, are ours: the table misses that `<` `!` `--` would read
 * back as CDO, and an ident `--` then `>` as CDC.
 */
const enum Col {
  Ident = 1, Function = 2, Url = 4, Minus = 8, Number = 16, Percentage = 32, Dimension = 64,
  CDC = 128, Paren = 256, Star = 512, PercentSign = 1024, Bang = 2048, Gt = 4096,
  /** The row of at-keyword, hash, dimension, `#` and `-`. */
  NameRow = Ident | Function | Url | Minus | Number | Percentage | Dimension | CDC,
  NumberRow = (NameRow & ~Minus) | PercentSign,
  /** `.` and `+` */
  SignRow = Number | Percentage | Dimension,
}
const COL = [0, 0, Col.Ident, Col.Function, 0, 0, 0, 0, Col.Url, Col.Url, 0, Col.Number, Col.Percentage, Col.Dimension, 0, Col.CDC, 0, 0, 0, 0, 0, Col.Paren];
const ROW = [0, 0, Col.NameRow | Col.Paren, 0, Col.NameRow, Col.NameRow, 0, 0, 0, 0, 0, Col.NumberRow, 0, Col.NameRow];
const DELIM_COL: Record<string, number> = { '-': Col.Minus, '*': Col.Star, '%': Col.PercentSign, '!': Col.Bang, '>': Col.Gt };
const DELIM_ROW: Record<string, number> = {
  '#': Col.NameRow, '-': Col.NameRow, '@': Col.Ident | Col.Function | Col.Url | Col.Minus | Col.CDC,
  '.': Col.SignRow, '+': Col.SignRow, '/': Col.Star, '<': Col.Bang, '<!': Col.Ident | Col.Function | Col.CDC,
};
/** What a token is written as around its escaped value: PRE[type] value POST[type]. */
const PRE = ['', '', '', '', '@', '#', '"', '"', 'url(', 'url(()', '', '', '', '', '<!--', '-->', ':', ';', ',', '[', ']', '(', ')', '{', '}'];
const POST = ['', '', '', '(', '', '', '"', '\n', ')', '', '', '', '%'];
/** The punctuation characters, in the order of their token types from CssToken.Colon on. */
const PUNCTUATION = ':;,[](){}';

// What must be escaped on output (CSSOM's "serialize an identifier" / "a string"): in an
// identifier, a leading digit (after an optional `-`) and anything but a name code point;
// in an unrestricted hash, anything but a name code point; in a string, `"` `\` and
// controls; in a url token, also quotes, parentheses and spaces.
const IDENT_ESCAPES = /^-?\d|[^-\w\u0080-\uffff]/g;
const NAME_ESCAPES = /[^-\w\u0080-\uffff]/g;
const STRING_ESCAPES = /["\\\0-\x1f\x7f]/g;
const URL_ESCAPES = /["'()\\\0- \x7f]/g;
/** A unit that would read as an exponent (`e3`, `e-3`): its `e` is escaped. */
const EXPONENT_UNIT = /^e-?\d/i;
/** An escape (§4.3.7), to decode; a `\` at the end stands for U+FFFD, an escaped newline (in a string) for nothing. */
const ESCAPE = /\\(?:([\da-fA-F]{1,6})[ \t\n]?|([^]?))/g;

/** §3.3: CR LF, CR and FF become LF; NULL and lone surrogates U+FFFD (the slower `u` pattern only when there are surrogates). */
const PREPROCESS = /\r\n?|[\f\0]/g;
const SURROGATE = /[\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udfff]/gu;

const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isNameStart = (c: number): boolean => ((c | 32) >= 97 && (c | 32) <= 122) || c === 95 || c >= 128;
const isName = (c: number): boolean => isNameStart(c) || isDigit(c) || c === 45;
const isSpace = (c: number): boolean => c === 32 || c === 10 || c === 9;
const rowOf = (t: CssToken, v: string): number => (t === CssToken.Delim ? DELIM_ROW[v] : ROW[t] | (t === CssToken.Ident && v === '--' ? Col.Gt : 0)) | 0;
const colOf = (t: CssToken, v: string): number => (t === CssToken.Delim ? DELIM_COL[v] : COL[t]) | 0;

/** `value` with what `escapes` matches escaped. */
function escapeBy(value: string, escapes: RegExp): string {
  if (value === '-' && escapes === IDENT_ESCAPES) return '\\-';
  return value.replace(escapes, (m) => {
    const c = m.charCodeAt(m.length - 1);
    return (m.length > 1 ? '-\\' : '\\') + (c <= 32 || c === 127 || isDigit(c) ? c.toString(16) + ' ' : m);
  });
}

/**
 * A cursor over the tokens of one piece of CSS, and the CSS written back from them.
 * `next()` reads one token into `type`/`value`/`num`/`id` (no token objects; comments
 * skipped); `copy()` writes it back and `put()` writes a token of one's own, so that
 * reading the output again gives the same tokens (runs of whitespace as one). A token
 * with no escape in it is copied as the slice of the source it is (contiguous ones as
 * one slice, whitespace as written); one with escapes, and every `put`, is written from
 * its value, escaped afresh (whitespace as one space); `/**\/` goes between two tokens
 * that would otherwise merge (§9).
 *
 *     const s = cssStream('a{b:\\75rl(x)}');
 *     s.next(); // Ident 'a'; then LBrace, Ident 'b', Colon, Url 'x', RBrace, EOF
 */
export interface CssStream {
  type: CssToken;
  /** Escapes decoded: the name of an ident, function, at-keyword or hash; a string's or url's contents; a delim; a dimension's unit. */
  value: string;
  /** A number, percentage or dimension's number as written (`+.5e-2`). */
  num: string;
  /** A hash token's "id" type flag: its value would read as an identifier. */
  id: boolean;
  /** Where the current token starts, for `seek`. */
  start: number;
  /** Reads the next token; at the end, EOF again and again. */
  next(): CssToken;
  /** Reads the token at `pos` (an earlier `start`) again. */
  seek(pos: number): CssToken;
  /** Moves past the current token, and past the block it opens (a function, `(`, `[` or `{`) with what is in it. */
  drop(): void;
  /** Drops tokens up to the `closer` of the block the cursor is in, and the closer. */
  skip(closer: CssToken): void;
  copy(): void;
  put(type: CssToken, value?: string, num?: string, id?: boolean): void;
  /** Remembers what is written so far (one mark at a time), for `undo`. */
  mark(): void;
  /** Takes back what was written since `mark`. */
  undo(): void;
  text(): string;
}

export function cssStream(css: string): CssStream {
  const preprocessed = css.replace(PREPROCESS, (m) => (m === '\0' ? '\ufffd' : '\n'));
  const src = SURROGATE.test(preprocessed) ? preprocessed.replace(LONE_SURROGATE, '\ufffd') : preprocessed;
  // Sticky patterns for how far a token reaches from a given position (§4.3).
  const NAME = /(?:[-\w\u0080-\uffff]|\\(?:[\da-fA-F]{1,6}[ \t\n]?|[^\n]|$))*/y;
  const NUMBER = /[+-]?(\d*\.)?\d+(e[+-]?\d+)?/iy;
  const DOUBLE_QUOTED = /(?:[^"\\\n]|\\(?:[\da-fA-F]{1,6}[ \t\n]?|[^]))*/y;
  const SINGLE_QUOTED = /(?:[^'\\\n]|\\(?:[\da-fA-F]{1,6}[ \t\n]?|[^]))*/y;
  const URL_CHARS = /(?:[^"'()\\ \t\n\0-\x08\x0b\x0e-\x1f\x7f]|\\(?:[\da-fA-F]{1,6}[ \t\n]?|[^\n]|$))*/y;
  const BAD_URL = /(?:[^)\\]|\\[^\n]?)*\)?/y;
  const out: string[] = [];
  let pos = 0;
  /** The current token had an escape: it is written from its value. */
  let escaped = false;
  /** The source slice written last and not yet pushed to `out` (none when runEnd < 0). */
  let runStart = 0;
  let runEnd = -1;
  /** The last token written, for what may follow it. */
  let lastType = CssToken.EOF;
  let lastValue = '';
  /** What `mark` saw: out's length, the pending run, the last token. */
  let markedLength = 0;
  let markedRun = 0;
  let markedEnd = -1;
  let markedType = CssToken.EOF;
  let markedValue = '';

  const code = (i: number): number => src.charCodeAt(i);
  const escapeAt = (i: number): boolean => code(i) === 92 && code(i + 1) !== 10;
  const startsIdent = (i: number): boolean =>
    code(i) === 45 ? isNameStart(code(++i)) || code(i) === 45 || escapeAt(i) : isNameStart(code(i)) || escapeAt(i);
  /** Where `pattern` (sticky) matching from `i` ends, or -1. */
  const reach = (pattern: RegExp, i: number): number => {
    pattern.lastIndex = i;
    return pattern.test(src) ? pattern.lastIndex : -1;
  };
  /** `src` from `from` to `pos`, escapes decoded. */
  const decoded = (from: number): string => {
    const raw = src.slice(from, pos);
    if (raw.indexOf('\\') < 0) return raw;
    escaped = true;
    return raw.replace(ESCAPE, (_, hex: string | undefined, char: string) => {
      const n = hex ? parseInt(hex, 16) : 0;
      return hex ? (n === 0 || (n >= 0xd800 && n <= 0xdfff) || n > 0x10ffff ? '\ufffd' : String.fromCodePoint(n)) : char === '\n' ? '' : char || '\ufffd';
    });
  };
  /** An ident sequence from `pos`, into `value`. */
  const name = (): void => {
    const from = pos;
    let i = pos;
    while (isName(src.charCodeAt(i))) i++;
    pos = src.charCodeAt(i) === 92 ? reach(NAME, i) : i;
    s.value = decoded(from);
  };

  const read = (c: number): CssToken => {
    const i = pos++;
    if (isSpace(c)) {
      let j = pos;
      while (isSpace(src.charCodeAt(j))) j++;
      pos = j;
      return CssToken.Whitespace;
    }
    if (c === 34 || c === 39) {
      pos = reach(c === 34 ? DOUBLE_QUOTED : SINGLE_QUOTED, pos);
      s.value = decoded(i + 1);
      if (code(pos) === 10) return CssToken.BadString;
      if (pos < src.length) pos++; // the closing quote, or a `\` at the end (which stands for nothing)
      return CssToken.String;
    }
    if ((isDigit(c) || c === 43 || c === 45 || c === 46) && (pos = reach(NUMBER, i)) > 0) {
      s.num = src.slice(i, pos);
      if (startsIdent(pos)) {
        name();
        return CssToken.Dimension;
      }
      if (code(pos) !== 37) return CssToken.Number;
      pos++;
      return CssToken.Percentage;
    }
    pos = i + 1;
    if (c === 45 && src.startsWith('->', pos)) {
      pos += 2;
      return CssToken.CDC;
    }
    if (startsIdent(i)) {
      pos = i;
      name();
      if (code(pos) !== 40) return CssToken.Ident;
      const from = ++pos;
      if (!/^url$/i.test(s.value)) return CssToken.Function;
      while (isSpace(code(pos))) pos++;
      c = code(pos);
      if (c === 34 || c === 39) {
        pos = Math.max(from, pos - 1); // `url(` then at most one whitespace, then the string
        return CssToken.Function;
      }
      // §4.3.6: a url token, through its `)`, or a bad url.
      const start = pos;
      pos = reach(URL_CHARS, pos);
      s.value = decoded(start);
      let end = pos;
      while (isSpace(code(end))) end++;
      c = code(end);
      if (c === 41 || c !== c) {
        pos = end + 1;
        return CssToken.Url;
      }
      s.value = '';
      pos = reach(BAD_URL, end);
      return CssToken.BadUrl;
    }
    const punctuation = PUNCTUATION.indexOf(src[i]);
    if (punctuation >= 0) return CssToken.Colon + punctuation;
    if (c === 35 && (isName(code(pos)) || escapeAt(pos))) {
      s.id = startsIdent(pos);
      name();
      return CssToken.Hash;
    }
    if (c === 64 && startsIdent(pos)) {
      name();
      return CssToken.AtKeyword;
    }
    if (c === 60 && src.startsWith('!--', pos)) {
      pos += 3;
      return CssToken.CDO;
    }
    if (c !== c) {
      pos = i;
      return CssToken.EOF;
    }
    s.value = src[i];
    return CssToken.Delim;
  };

  const next = (): CssToken => {
    let c: number;
    while ((c = code(pos)) === 47 && code(pos + 1) === 42) {
      const end = src.indexOf('*/', pos + 2);
      pos = end < 0 ? src.length : end + 2;
    }
    s.start = pos;
    s.value = s.num = '';
    escaped = false;
    return (s.type = read(c));
  };

  /** Notes the last token written; a `!` after a `<` as `<!`. */
  const wrote = (t: CssToken, v: string): void => {
    lastValue = t === CssToken.Delim && v === '!' && lastValue === '<' && lastType === t ? '<!' : v;
    lastType = t;
  };

  const flush = (): void => {
    if (runEnd >= 0) out.push(src.slice(runStart, runEnd));
    runEnd = -1;
  };

  const put = (type: CssToken, value = '', num = '', id = true): void => {
    flush();
    if (
      type === CssToken.Whitespace &&
      (lastType === CssToken.Whitespace || lastType === CssToken.BadString || (lastType === CssToken.Delim && lastValue === '\\'))
    ) {
      return; // the output already ends in whitespace
    }
    if (rowOf(lastType, lastValue) & colOf(type, value)) out.push('/**/');
    out.push(
      type === CssToken.Whitespace
        ? ' '
        : PRE[type] +
            num +
            (type === CssToken.Delim
              ? value + (value === '\\' ? '\n' : '') // §9: a `\` delim is written with the newline that made it one
              : type === CssToken.Dimension && EXPONENT_UNIT.test(value)
                ? '\\' + value.charCodeAt(0).toString(16) + ' ' + escapeBy(value.slice(1), NAME_ESCAPES)
                : escapeBy(
                    value,
                    type === CssToken.String || type === CssToken.BadString ? STRING_ESCAPES
                    : type === CssToken.Url ? URL_ESCAPES
                    : type === CssToken.Hash && !id ? NAME_ESCAPES
                    : IDENT_ESCAPES,
                  )) +
            (POST[type] || ''),
    );
    wrote(type, value);
  };

  const s: CssStream = {
    type: CssToken.EOF,
    value: '',
    num: '',
    id: false,
    start: 0,
    next,
    seek(at) {
      pos = at;
      return next();
    },
    drop() {
      const t = s.type;
      next();
      if (t === CssToken.Function) s.skip(CssToken.RParen);
      else if (t === CssToken.LBracket || t === CssToken.LParen || t === CssToken.LBrace) s.skip(t + 1);
    },
    skip(closer) {
      while (s.type !== closer && s.type) s.drop();
      next();
    },
    copy() {
      const t = s.type;
      const v = s.value;
      if (!t) return;
      // Written from the value: what an escape was in, what is cut short by the end
      // (an unclosed string or url), and what the source does not show whole.
      if (escaped || pos >= src.length || t === CssToken.BadString || v === '\\' || (s.start !== runEnd && t === CssToken.Whitespace)) {
        put(t, v, s.num, s.id);
        return;
      }
      if (s.start !== runEnd) {
        flush();
        if (rowOf(lastType, lastValue) & colOf(t, v)) out.push('/**/');
        runStart = s.start;
      }
      runEnd = pos;
      wrote(t, v);
    },
    put,
    mark() {
      markedLength = out.length;
      markedRun = runStart;
      markedEnd = runEnd;
      markedType = lastType;
      markedValue = lastValue;
    },
    undo() {
      out.length = markedLength;
      runStart = markedRun;
      runEnd = markedEnd;
      lastType = markedType;
      lastValue = markedValue;
    },
    text: () => (flush(), out.join('')),
  };
  return s;
}

// ---------------------------------------------------------------------------------
// The recorder's policy. The CSS it reads is what the browser parsed (CSSOM cssText;
// policy.ts never hands it raw text), so invalid declarations, unknown properties,
// units and functions are gone already; what is left that a page can choose are
// names: classes, ids, attribute values, element names, custom properties, and the
// <custom-ident>s of animations, containers, layers, counters, view transitions,
// timelines, grid areas. Every one of them goes through the pseudonym map, or is
// dropped, unless it is a keyword of the property it stands in.

export interface CssHooks {
  /** A URL (already unescaped, as written in url()/string) as it may leave: returns the replacement URL text, or undefined to drop it (emit url("")). `#frag` in-page references are passed here too. */
  url(raw: string): string | undefined;
  /** The per-session pseudonym of an identifier the page chose (class name, id, grid area/line name, part name). Same input, same output. */
  ident(token: string): string;
  /** An attribute selector's value as it may leave: `name` lower-cased attribute name, `op` one of = ~= |= ^= $= *=, `value` unescaped. undefined: emit "" (which for ^= $= *= matches nothing). */
  attribute(name: string, op: string, value: string): string | undefined;
  /** An attribute selector's name (lower-cased) as it may leave: itself if the recorder keeps that attribute, else a pseudonym. */
  attributeName(name: string): string;
  /** A type selector as it may leave: a known element's name, or the name unknown elements are recorded as. */
  tag(name: string): string;
}

/** What a run of tokens is, for what its idents, hashes and strings may become. */
const enum Mode {
  Selector = 1, // a selector: `.class`, `#id`, type selectors, attribute selectors, pseudo-class arguments
  UrlStrings = 2, // strings are URLs (@import, image-set())
  Names = 4, // idents are names the page chose, but for the keywords of where they stand
  Grid = 8, // a grid property's value: idents are area and line names
  Prelude = 16, // an at-rule's prelude: `.class` and `#id` mapped, idents kept (media features)
  Custom = 32, // a custom property's value: any tokens, so every name is the page's
}

const GRID_KEYWORD = /^(auto(-flow|-fill|-fit)?|span|dense|row|column|none|subgrid|masonry|(min|max)-content|inherit|initial|unset|revert(-layer)?)$/i;
const HEX_COLOUR = /^([\da-f]{3,4}|[\da-f]{6}|[\da-f]{8})$/i;
/** A run of six digits or more that is not a decimal fraction. */
const LONG_NUMBER = /(^|[^\d.])\d{6}/;
/**
 * Keywords that stand beside names in the properties and at-rules whose values name
 * things (NAMED), and the commonest keywords of custom property values; any other
 * ident there is the page's own name.
 */
const KEYWORD = /^(none|auto|all|normal|inherit|initial|unset|revert(-layer)?|infinite|reverse|alternate(-reverse)?|forwards|backwards|both|running|paused|linear|ease(-in|-out|-in-out)?|step-(start|end)|jump-(start|end|none|both)|size|inline-size|scroll-state|match-element|block|inline|x|y|and|or|not|only|style|disc|circle|square|decimal(-leading-zero)?|(lower|upper)-(roman|alpha|latin|greek)|inside|outside|flex|grid|inline-(block|flex|grid)|contents|hidden|visible|absolute|relative|fixed|sticky|static|solid|dashed|dotted|transparent|currentcolor|center|left|right|top|bottom|start|end|row|column|wrap|nowrap|pointer|default|bold|italic|uppercase|lowercase|underline|cover|contain|opacity|transform|color|background(-color)?|serif|sans-serif|monospace|cursive|fantasy|system-ui|ui-(serif|sans-serif|monospace|rounded)|math|emoji|white|black|red|green|blue|gr[ae]y|orange|yellow|purple|pink|silver|navy|teal)$/i;
/** Properties whose idents are names the page chose (but for KEYWORD). */
const NAMED = /^(animation(-name|-timeline)?|container(-name)?|view-transition-(name|class)|counter-(reset|increment|set)|(scroll|view)-timeline(-name)?|timeline-scope|list-style(-type)?|will-change|transition(-property)?|page)$/i;
/** At-rules whose prelude names something: a keyframes, counter style, layer, container, page. */
const NAMING_AT_RULE = /^(-webkit-)?(keyframes|counter-style|layer|container|page|position-try|font-palette-values|property|view-transition)$/i;
/** Pseudo-classes whose arguments are selectors (or an+b, which has no names). */
const SELECTOR_ARGUMENTS = /^(is|where|not|has|matches|any|-webkit-any|host|host-context|slotted|nth-(last-)?(child|of-type|col)|current|past|future|cue(-region)?)$/i;
/** Language tags in :lang(): a language and a region, no room for words. */
const LANGUAGE = /^[a-z]{2}(-[a-z]{2})?$/i;

/** A sheet's text (CSSOM cssText) as it may leave. */
export function sanitizeStylesheet(css: string, hooks: CssHooks): string {
  const s = cssStream(css);
  s.next();
  statements(s, hooks, false);
  return s.text();
}

/**
 * A style="" attribute (its CSSOM cssText) as it may leave. Read like the contents of a
 * rule's block, so the same as a sheet.
 */
export function sanitizeDeclarations(css: string, hooks: CssHooks): string {
  return sanitizeStylesheet(css, hooks);
}

/** One value (SVG fill="url(#g)", a media="" query list) as it may leave. */
export function sanitizeValue(css: string, hooks: CssHooks): string {
  const s = cssStream(css);
  s.next();
  tokens(s, hooks, 0, '', CssToken.EOF);
  return s.text();
}

/** A name the page chose, `--dashed` ones with their dashes. */
function name(h: CssHooks, v: string): string {
  return v.startsWith('--') ? '--' + h.ident(v.slice(2)) : h.ident(v);
}

/**
 * Statements up to the `}` closing the block (left unconsumed), or the end. Each is
 * what CSS Nesting makes of it: an at-rule; a declaration (`name:` reaching `;` or `}`
 * first); or a rule, its prelude a selector. Whitespace and CDO/CDC between statements,
 * and a stray `}` at the top level, are dropped.
 */
function statements(s: CssStream, h: CssHooks, nested: boolean): void {
  for (let t = s.type; t && !(nested && t === CssToken.RBrace); t = s.type) {
    if (t === CssToken.Whitespace || t === CssToken.Semicolon || t === CssToken.RBrace || t === CssToken.CDO || t === CssToken.CDC) {
      s.next();
      continue;
    }
    if (t === CssToken.AtKeyword) {
      const at = s.value;
      s.copy();
      s.next();
      const mode =
        Mode.Prelude | (/^import$/i.test(at) ? Mode.UrlStrings : 0) | (NAMING_AT_RULE.test(at) ? Mode.Names : 0) |
        (/^scope$/i.test(at) ? Mode.Selector : 0);
      t = tokens(s, h, mode, '', CssToken.Semicolon);
    } else {
      t = CssToken.EOF; // not known yet
      let declaration = false;
      if (s.type === CssToken.Ident) {
        const start = s.start;
        const property = s.value;
        s.mark();
        if (property.startsWith('--')) s.put(CssToken.Ident, name(h, property));
        else s.copy();
        let u = s.next();
        if (u === CssToken.Whitespace) {
          s.copy();
          u = s.next();
        }
        if (u === CssToken.Colon) {
          s.copy();
          s.next();
          const mode = property.startsWith('--')
            ? Mode.Custom
            : (property.charCodeAt(0) | 32) === 103 && /^grid/i.test(property)
              ? Mode.Grid
              : NAMED.test(property)
                ? Mode.Names
                : 0;
          t = tokens(s, h, mode, property, CssToken.Semicolon);
          declaration = t !== CssToken.LBrace; // reaching `{` makes it a nested rule (`a:hover {`) after all
          if (!declaration) t = CssToken.EOF;
        }
        if (!declaration) {
          // Not a declaration: read it again, as a selector.
          s.undo();
          s.seek(start);
        }
      }
      if (!declaration) t = tokens(s, h, Mode.Selector, '', CssToken.Semicolon);
    }
    if (t === CssToken.LBrace || t === CssToken.Semicolon) {
      s.copy();
      s.next();
      if (t === CssToken.LBrace) {
        statements(s, h, true);
        s.copy(); // its `}`, unless at the end
        s.next();
      }
    }
  }
}

/**
 * Copies tokens under the policy up to `closer` (consumed) or, for `closer` Semicolon, up
 * to a `;`, `{` or `}` (not consumed); returns the token it stopped at. `property` is the
 * declaration's, for the strings it keeps.
 */
function tokens(s: CssStream, h: CssHooks, mode: number, property: string, closer: CssToken): CssToken {
  // In a selector: after `.` an ident is a class, after `:` a pseudo-class.
  for (let dot = false, colon = false; ; ) {
    const t = s.type;
    const v = s.value;
    if (!t || (closer === CssToken.Semicolon ? t === closer || t === CssToken.LBrace || t === CssToken.RBrace : t === closer)) {
      if (t && closer !== CssToken.Semicolon) {
        s.copy();
        s.next();
      }
      return t;
    }
    if (t === CssToken.Function) {
      const fn = v.toLowerCase();
      if (fn === 'url' || fn === 'src') {
        // The URL is the first argument, a string; anything after it (modifiers) goes.
        if (s.next() === CssToken.Whitespace) s.next();
        const raw = s.type === CssToken.String ? s.value : undefined;
        s.skip(CssToken.RParen);
        putUrl(s, h, raw);
      } else {
        s.copy();
        s.next();
        let inner: number;
        if (mode & Mode.Selector && colon) {
          // A pseudo-class's arguments: selectors, a language, or names (::part, :state, ::highlight).
          inner = SELECTOR_ARGUMENTS.test(fn) ? Mode.Selector : fn === 'lang' || fn === 'dir' ? -1 : Mode.Names;
        } else if (mode & (Mode.Prelude | Mode.Selector)) {
          inner = fn === 'selector' ? Mode.Selector : fn === 'layer' ? Mode.Names : Mode.Prelude;
        } else {
          inner =
            fn === 'counter' || fn === 'counters' || fn === 'layer'
              ? Mode.Names
              : fn === 'repeat'
                ? mode & Mode.Grid
                : /^(-webkit-)?image-set$/.test(fn)
                  ? Mode.UrlStrings
                  : mode & Mode.Custom;
        }
        if (inner < 0) language(s, h);
        else tokens(s, h, inner, property, CssToken.RParen);
      }
      dot = colon = false;
      continue;
    }
    if (t === CssToken.LBracket || t === CssToken.LParen || t === CssToken.LBrace) {
      s.copy();
      s.next();
      // In a selector `[` opens an attribute selector; in a value it holds grid line names.
      if (t === CssToken.LBracket && mode & Mode.Selector) attribute(s, h);
      else tokens(s, h, t === CssToken.LParen && mode & Mode.Prelude ? mode & (Mode.Prelude | Mode.Selector) : mode & ~Mode.UrlStrings, property, t + 1);
      dot = colon = false;
      continue;
    }
    if (t === CssToken.Ident) {
      s.put(t, ident(h, mode, v, dot, colon));
    } else if (t === CssToken.Hash && (mode & (Mode.Selector | Mode.Prelude) || !HEX_COLOUR.test(v))) {
      s.put(t, h.ident(v));
    } else if (t === CssToken.BadString || t === CssToken.String) {
      if (t === CssToken.String && mode & Mode.UrlStrings) putUrl(s, h, v);
      else s.put(CssToken.String, t === CssToken.BadString || mode & (Mode.Selector | Mode.Prelude) ? '' : kept(property.toLowerCase(), v, h));
    } else if (t === CssToken.Url || t === CssToken.BadUrl) {
      putUrl(s, h, t === CssToken.Url ? v : undefined);
    } else if ((t === CssToken.Number || t === CssToken.Percentage || t === CssToken.Dimension) && LONG_NUMBER.test(s.num)) {
      s.put(t, v, '0'); // six digits and more: an identifier, a date, a phone number, not a length
    } else if (t !== CssToken.CDO && t !== CssToken.CDC) {
      s.copy();
    }
    dot = (t === CssToken.Delim && v === '.') || (dot && t === CssToken.Whitespace);
    colon = t === CssToken.Colon;
    s.next();
  }
}

/** What an ident becomes where it stands (`dot`: after a `.`; `colon`: after a `:`). */
function ident(h: CssHooks, mode: number, v: string, dot: boolean, colon: boolean): string {
  if (v.startsWith('--')) return name(h, v); // a custom property or a dashed name: always the page's
  if (mode & Mode.Selector) {
    if (dot) return h.ident(v);
    if (colon || /^(odd|even|of|n|-n|from|to)$/i.test(v)) return v; // a pseudo-class, an+b, a keyframe, @scope's `to`
    return h.tag(v); // a type selector
  }
  if (mode & Mode.Prelude) return mode & Mode.Names && !KEYWORD.test(v) ? h.ident(v) : v;
  if (mode & Mode.Grid) {
    // `main-start` is a line of area `main`.
    return GRID_KEYWORD.test(v) ? v : v.replace(/^(.+?)(-start|-end)?$/, (_, stem: string, edge = '') => h.ident(stem) + edge);
  }
  return mode & (Mode.Names | Mode.Custom) && !KEYWORD.test(v) ? h.ident(v) : v;
}

/** `:lang()` and `:dir()` arguments after their `(`, through the `)`: language tags and directions stay, anything else is a name. */
function language(s: CssStream, h: CssHooks): void {
  for (let t = s.type; t && t !== CssToken.RParen; t = s.type) {
    if (t === CssToken.Ident) s.put(t, LANGUAGE.test(s.value) || /^(ltr|rtl)$/i.test(s.value) ? s.value : h.ident(s.value));
    else if (t === CssToken.String) s.put(t, LANGUAGE.test(s.value) ? s.value : '');
    else if (t === CssToken.Whitespace || t === CssToken.Comma || t === CssToken.Delim) s.copy();
    else {
      s.drop();
      continue;
    }
    s.next();
  }
  s.copy();
  s.next();
}

/** `url("<hooks.url(raw)>")`, or `url("")` when there is no URL or it may not leave. */
function putUrl(s: CssStream, h: CssHooks, raw: string | undefined): void {
  s.put(CssToken.Function, 'url');
  s.put(CssToken.String, (raw !== undefined && h.url(raw)) || '');
  s.put(CssToken.RParen);
}

/** A string in a declaration's value as it may leave: only what fonts and grids need. */
function kept(property: string, value: string, h: CssHooks): string {
  if (property === 'font-family' || property === 'font') return value;
  if (/^font-(feature|variation)-settings$/.test(property)) return /^[ -~]{4}$/.test(value) ? value : ''; // an OpenType tag
  if (!/^grid(-template(-areas)?)?$/.test(property)) return '';
  // grid-template-areas: each word a run of `.` or an area name, else the string goes.
  const words = value.match(/[^ \t\n]+/g) || [];
  for (let i = 0; i < words.length; i++) {
    if (/^[-\w\u0080-\uffff]+$/.test(words[i])) words[i] = h.ident(words[i]);
    else if (!/^\.+$/.test(words[i])) return '';
  }
  return words.join(' ');
}

/**
 * An attribute selector after its `[`, through its `]`: `[ns|name op value flag]`, the
 * name through hooks.attributeName, the value through hooks.attribute. Whatever else
 * stands there becomes `""`.
 */
function attribute(s: CssStream, h: CssHooks): void {
  let attr = '';
  let op: string | undefined; // undefined before the operator; '' for one that is not
  let valued = false;
  let previous = ''; // the delim before, for `~=` and the like
  for (let t = s.type; t && t !== CssToken.RBracket; t = s.type) {
    const v = s.value;
    if (op === undefined) {
      if (t === CssToken.Ident) {
        attr = v.toLowerCase();
        s.put(t, h.attributeName(attr));
        previous = '';
        s.next();
        continue;
      }
      if (v === '=' && t === CssToken.Delim) op = '~|^$*'.indexOf(previous) < 0 ? '' : previous + '=';
    }
    if (op !== undefined && !valued && (t === CssToken.Ident || t === CssToken.String)) {
      s.put(CssToken.String, (op && h.attribute(attr, op, v)) || '');
      valued = true;
    } else if (
      t === CssToken.Whitespace || t === CssToken.Delim || t === CssToken.Colon || t === CssToken.Semicolon || t === CssToken.Comma ||
      (t === CssToken.Ident && valued && /^[is]$/i.test(v))
    ) {
      s.copy();
    } else {
      s.drop();
      s.put(CssToken.String);
      previous = '';
      continue;
    }
    previous = t === CssToken.Delim ? v : '';
    s.next();
  }
  s.copy();
  s.next();
}

/**
 * The rules of a same-origin stylesheet as sanitised CSS, or `undefined` when they
 * cannot be read (cross-origin, not loaded) or there are none. `hooksFor(base)`: the
 * hooks for URLs relative to the sheet's own address.
 */
export function sheetCss(
  sheet: CSSStyleSheet | null,
  origin: string,
  base: string,
  hooksFor: (base: string) => CssHooks,
): string | undefined {
  if (!sheet) return undefined;
  const href = sheet.href;
  if (href && !sameOrigin(href, base, origin)) return undefined;
  let rules: CSSRuleList;
  try {
    rules = sheet.cssRules;
  } catch {
    return undefined;
  }
  let css = '';
  for (let i = 0; i < rules.length; i++) css += rules[i].cssText + '\n';
  return css ? clip(sanitizeStylesheet(css, hooksFor(href ?? base))) : undefined;
}

function sameOrigin(href: string, base: string, origin: string): boolean {
  try {
    return new URL(href, base).origin === origin;
  } catch {
    return false;
  }
}
