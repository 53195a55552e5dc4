// The CSS tokenizer and serializer against CSS Syntax Level 3 (§3.3, §4, §9), the
// recorder's CSS policy with canaries in every place a string or name can hide, and
// the player's inert pass on the same tokenizer.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CssHooks,
  type CssStream,
  CssToken,
  cssStream,
  sanitizeDeclarations,
  sanitizeStylesheet,
  sanitizeValue,
} from '../src/mask';
import { inertCss } from '../src/player/inert';

const NAMES = [
  'EOF', 'whitespace', 'ident', 'function', 'at-keyword', 'hash', 'string', 'bad-string', 'url', 'bad-url', 'delim',
  'number', 'percentage', 'dimension', 'CDO', 'CDC', ':', ';', ',', '[', ']', '(', ')', '{', '}',
];

/** The current token as a line: its type and what it carries. */
function describeToken(s: CssStream): string {
  const name = NAMES[s.type];
  switch (s.type) {
    case CssToken.Hash:
      return `hash ${JSON.stringify(s.value)} ${s.id ? 'id' : 'unrestricted'}`;
    case CssToken.Number:
    case CssToken.Percentage:
      return `${name} ${s.num}`;
    case CssToken.Dimension:
      return `dimension ${s.num} ${JSON.stringify(s.value)}`;
    case CssToken.Ident:
    case CssToken.Function:
    case CssToken.AtKeyword:
    case CssToken.String:
    case CssToken.Url:
    case CssToken.Delim:
      return `${name} ${JSON.stringify(s.value)}`;
    default:
      return name;
  }
}

function lex(css: string): string[] {
  const s = cssStream(css);
  const out: string[] = [];
  for (let t = s.next(); t !== CssToken.EOF; t = s.next()) out.push(describeToken(s));
  return out;
}

/** lex() with runs of whitespace as one, which is what the serializer promises. */
function lexMerged(css: string): string[] {
  return lex(css).filter((line, i, all) => !(line === 'whitespace' && all[i - 1] === 'whitespace'));
}

/** Every token written back: copied (source slices where it can) or put (from its value). */
function reserialize(css: string, how: 'copy' | 'put'): string {
  const s = cssStream(css);
  for (let t = s.next(); t !== CssToken.EOF; t = s.next()) {
    if (how === 'copy') s.copy();
    else s.put(s.type, s.value, s.num, s.id);
  }
  return s.text();
}

describe('CSS tokenizer (CSS Syntax §4)', () => {
  it('reads every token type', () => {
    assert.deepEqual(lex('a b( @c #d #1 "e" \'f\' url(g) 1 2% 3px <!-- --> : ; , [ ] ( ) { } ~'), [
      'ident "a"', 'whitespace', 'function "b"', 'whitespace', 'at-keyword "c"', 'whitespace', 'hash "d" id', 'whitespace',
      'hash "1" unrestricted', 'whitespace', 'string "e"', 'whitespace', 'string "f"', 'whitespace', 'url "g"', 'whitespace',
      'number 1', 'whitespace', 'percentage 2', 'whitespace', 'dimension 3 "px"', 'whitespace', 'CDO', 'whitespace', 'CDC',
      'whitespace', ':', 'whitespace', ';', 'whitespace', ',', 'whitespace', '[', 'whitespace', ']', 'whitespace', '(',
      'whitespace', ')', 'whitespace', '{', 'whitespace', '}', 'whitespace', 'delim "~"',
    ]);
    assert.deepEqual(lex('"a\nb'), ['bad-string', 'whitespace', 'ident "b"']);
    assert.deepEqual(lex('url(a b) c'), ['bad-url', 'whitespace', 'ident "c"']);
  });

  it('consumes comments, including one left open at the end', () => {
    assert.deepEqual(lex('a/* x */b/**/c/* open'), ['ident "a"', 'ident "b"', 'ident "c"']);
    assert.deepEqual(lex('a /* */ b'), ['ident "a"', 'whitespace', 'whitespace', 'ident "b"']);
    assert.deepEqual(lex('"/* not a comment */"'), ['string "/* not a comment */"']);
  });

  it('preprocesses: CR LF, CR and FF are newlines; NULL and lone surrogates are U+FFFD', () => {
    assert.deepEqual(lex('"a\r\nb"'), ['bad-string', 'whitespace', 'ident "b"', 'string ""']);
    assert.deepEqual(lex('a\rb\fc'), ['ident "a"', 'whitespace', 'ident "b"', 'whitespace', 'ident "c"']);
    assert.deepEqual(lex('a\0b \ud800 \udc00x'), ['ident "a\ufffdb"', 'whitespace', 'ident "\ufffd"', 'whitespace', 'ident "\ufffdx"']);
    assert.deepEqual(lex('\ud83d\ude00'), ['ident "\ud83d\ude00"'], 'a surrogate pair is one code point, kept');
  });

  it('decodes escapes: hex with one trailing whitespace, zero, surrogates and out of range as U+FFFD', () => {
    assert.deepEqual(lex('\\41 B \\41  B \\000041B \\0000411'), ['ident "AB"', 'whitespace', 'ident "A"', 'whitespace', 'ident "B"', 'whitespace', 'ident "AB"', 'whitespace', 'ident "A1"']);
    assert.deepEqual(lex('\\41\tx \\41\nx'), ['ident "Ax"', 'whitespace', 'ident "Ax"']);
    for (const zero of ['\\0', '\\000000', '\\d800', '\\dfff', '\\110000', '\\ffffff']) assert.deepEqual(lex(zero), ['ident "\ufffd"'], zero);
    assert.deepEqual(lex('\\10ffff'), ['ident "\u{10ffff}"']);
    assert.deepEqual(lex('\\1f600 x'), ['ident "\u{1f600}x"'], 'an astral code point');
    assert.deepEqual(lex('\\. a\\:b \\"'), ['ident "."', 'whitespace', 'ident "a:b"', 'whitespace', 'ident "\\""']);
    assert.deepEqual(lex('"a\\"b\\\\c\\\nd\\62"'), ['string "a\\"b\\\\cdb"'], 'in a string: escaped quote, backslash, newline (nothing), hex');
    assert.deepEqual(lex("'\\41\nB'"), ['string "AB"'], 'the whitespace ending a hex escape may be a newline, even in a string');
  });

  it('decodes escapes in function and at-keyword names, hash values, units and url contents', () => {
    assert.deepEqual(lex('\\66 oo( @\\6d edia #\\31 23 1\\70 x url(a\\29 b)'), [
      'function "foo"', 'whitespace', 'at-keyword "media"', 'whitespace', 'hash "123" id', 'whitespace',
      'dimension 1 "px"', 'whitespace', 'url "a)b"',
    ]);
  });

  it('handles EOF inside escapes, strings, urls and comments', () => {
    assert.deepEqual(lex('a\\'), ['ident "a\ufffd"'], 'an ident: U+FFFD');
    assert.deepEqual(lex('\\'), ['ident "\ufffd"']);
    assert.deepEqual(lex('"a\\'), ['string "a"'], 'a string: nothing');
    assert.deepEqual(lex("'abc"), ['string "abc"']);
    assert.deepEqual(lex('url(a\\'), ['url "a\ufffd"']);
    assert.deepEqual(lex('url(  abc  '), ['url "abc"']);
    assert.deepEqual(lex('url(a b'), ['bad-url']);
    assert.deepEqual(lex('a\\\nb'), ['ident "a"', 'delim "\\\\"', 'whitespace', 'ident "b"'], 'an escaped newline is no escape outside strings');
  });

  it('recognises url( however it is written, and url( with a string as a function', () => {
    for (const css of ['url(x)', 'URL(x)', 'uRl(x)', '\\75rl(x)', 'u\\72l(x)', 'u\\rl(x)', '\\55 \\52 \\4c (x)', 'url(  x  )']) {
      assert.deepEqual(lex(css), ['url "x"'], css);
    }
    assert.deepEqual(lex('url("x")'), ['function "url"', 'string "x"', ')']);
    assert.deepEqual(lex('\\75rl(  "x")'), ['function "url"', 'whitespace', 'string "x"', ')']);
    assert.deepEqual(lex('url(/*x*/)'), ['url "/*x*/"'], 'no comments inside a url token');
    assert.deepEqual(lex('url(a\\ ) url(\\ \t) url( a\\20  )'), ['url "a "', 'whitespace', 'url " "', 'whitespace', 'url "a "'], 'an escaped space is contents, not the whitespace before `)`');
  });

  it('recovers from a bad url at its closing parenthesis, escaped ones not counting', () => {
    assert.deepEqual(lex('url(a"b) c'), ['bad-url', 'whitespace', 'ident "c"']);
    assert.deepEqual(lex("url(a'b) c"), ['bad-url', 'whitespace', 'ident "c"']);
    assert.deepEqual(lex('url(a(b) c'), ['bad-url', 'whitespace', 'ident "c"']);
    assert.deepEqual(lex('url(a\\\nb) c'), ['bad-url', 'whitespace', 'ident "c"']);
    assert.deepEqual(lex('url(a b\\) c) d'), ['bad-url', 'whitespace', 'ident "d"']);
    assert.deepEqual(lex('url(a\u0001) b'), ['bad-url', 'whitespace', 'ident "b"']);
  });

  it('reads numbers: signs, decimals, exponents, percentages and dimensions', () => {
    assert.deepEqual(lex('1 +1 -1 .5 +.5 -.5 1.5 1e3 1E3 1e+3 1e-3 +.5e-2px 1e 1e-x 1.px 5% 2n+1'), [
      'number 1', 'whitespace', 'number +1', 'whitespace', 'number -1', 'whitespace', 'number .5', 'whitespace',
      'number +.5', 'whitespace', 'number -.5', 'whitespace', 'number 1.5', 'whitespace', 'number 1e3', 'whitespace',
      'number 1E3', 'whitespace', 'number 1e+3', 'whitespace', 'number 1e-3', 'whitespace', 'dimension +.5e-2 "px"',
      'whitespace', 'dimension 1 "e"', 'whitespace', 'dimension 1 "e-x"', 'whitespace', 'number 1', 'delim "."',
      'ident "px"', 'whitespace', 'percentage 5', 'whitespace', 'dimension 2 "n"', 'number +1',
    ]);
    assert.deepEqual(lex('+ - . +a -a'), ['delim "+"', 'whitespace', 'delim "-"', 'whitespace', 'delim "."', 'whitespace', 'delim "+"', 'ident "a"', 'whitespace', 'ident "-a"']);
  });

  it('sets the hash id flag when the value would start an identifier', () => {
    assert.deepEqual(lex('#a #-a #--a #\\31  #1 #-1 #- #'), [
      'hash "a" id', 'whitespace', 'hash "-a" id', 'whitespace', 'hash "--a" id', 'whitespace', 'hash "1" id', 'whitespace',
      'hash "1" unrestricted', 'whitespace', 'hash "-1" unrestricted', 'whitespace', 'hash "-" unrestricted', 'whitespace', 'delim "#"',
    ]);
  });

  it('reads custom properties, CDO and CDC', () => {
    assert.deepEqual(lex('--x --0 -- --> <!-- <!- ->'), [
      'ident "--x"', 'whitespace', 'ident "--0"', 'whitespace', 'ident "--"', 'whitespace', 'CDC', 'whitespace', 'CDO',
      'whitespace', 'delim "<"', 'delim "!"', 'delim "-"', 'whitespace', 'delim "-"', 'delim ">"',
    ]);
  });
});

// Inputs chosen to break a serializer: escapes of every kind, tokens that merge once
// the comment between them is gone, what EOF cuts short.
const CORPUS = [
  'a{color:red}', '.a .b>#c~d+e{}', '@media (min-width:1px){a{b:c}}', 'a/**/b', 'a/**/(b)', 'a/**/-b', '1/**/px', '1/**/%',
  '#a/**/b', '@a/**/b', '#/**/a', '-/**/a', '-/**/1', '@/**/a', './**/5', '+/**/5', '//**/*', '</**/!--', '<!/**/--',
  '--/**/>', '-/**/->', '-/**/-/**/>', 'a/**/url(b)', 'a/**/-->', '1/**/2', '1/**/.5', '1/**/e3', '\\31 a', '\\2d 1',
  '\\-', '\\-\\-', 'a\\ b', '\\\\', '"\\"\\\\\\a "', "'\"'", 'url(\\29 )', 'url(\\ )', 'url( a\\20 b )', '#\\31 23', '#123',
  '#-\\31', '1\\65 3', '1\\65 -3', '1\\45 3', '1\\65 x', '1e\\33', '"unterminated', 'url(unterminated', 'url(a b', '"bad\nstring',
  'a\\\nb', 'x\\', '"\\', 'u\\rl(x)', '\\75rl(x)', 'U\\52L( "x" )', 'a\u0001b', '"\u0001"', '\\1 ', '\\7f x', 'a\tb\n\nc',
  '@\\40 x', '\\@x', 'a(\\)', '[a=b]', '[a|="b" i]', 'a:not(.b,#c)', 'a{--x:{y}}', '\ud800', '\\\ud83d\ude00', '\u00e9\u4e2d',
  '!important', '@import "a" screen;', 'a:nth-child(2n+1)', '-1a', '--1', '-\\31', '.\\31', '5\\%', 'u\\72l(', '\\0',
];

/** A small deterministic generator, for random token soup. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}
const ALPHABET = ['a', 'e', 'E', 'u', 'r', 'l', 'url(', '-', '_', '0', '1', '9', '.', '+', '%', '#', '@', '\\', '/', '*', '(', ')', '[', ']', '{', '}', '"', "'", ':', ';', ',', '<', '!', '>', ' ', '\n', '\t', '\r', '\f', '\0', '/**/', '\u00e9', '\ud83d\ude00', '\ud800', '\u0001', '\\41 ', 'f'];
function soup(random: () => number, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return out;
}

describe('CSS serializer (CSS Syntax §9)', () => {
  it('writes back what reads as the same tokens, copied or re-escaped from the values', () => {
    const random = rng(7);
    const inputs = [...CORPUS, ...Array.from({ length: 4000 }, () => soup(random, 1 + Math.floor(random() * 24)))];
    for (const css of inputs) {
      const tokens = lexMerged(css);
      for (const how of ['copy', 'put'] as const) {
        const out = reserialize(css, how);
        assert.deepEqual(lexMerged(out), tokens, `${how} ${JSON.stringify(css)} -> ${JSON.stringify(out)}`);
      }
    }
  });

  it('puts an empty comment only where two tokens would merge', () => {
    assert.equal(reserialize('a/**/b a/**/(b) a/**/,b 1/**/px 1/**/em- ./**/5 ./**/a #/**/a', 'copy'), 'a/**/b a/**/(b) a,b 1/**/px 1/**/em- ./**/5 .a #/**/a');
    assert.equal(reserialize('</**/!-- --/**/> a/**/{', 'copy'), '</**/!-- --/**/> a{');
  });

  it('writes escaped tokens afresh, with what is left escaped only where CSS needs it', () => {
    assert.equal(reserialize('\\75rl(x) \\.a \\31 23 #\\61  \\"', 'copy'), 'url(x) \\.a \\31 23 #a \\"');
    assert.equal(reserialize('"a\\62 c" "\\\n" \'it\\\'s\' \'a"b\' x', 'copy'), '"abc" "" "it\'s" \'a"b\' x');
    assert.equal(reserialize('\'a"b\'', 'put'), '"a\\"b"');
    assert.equal(reserialize('1\\65 3 1\\45 3', 'copy'), '1\\65 3 1\\45 3', 'a unit that reads as an exponent');
  });

  it('collapses whitespace runs and keeps a delim backslash with its newline', () => {
    assert.equal(reserialize('a \n\t b', 'put'), 'a b');
    assert.equal(reserialize('a\\\n b', 'put'), 'a\\\nb');
  });
});

/** Hooks that make every mapping visible: names become p0, p1, ...; URLs lose their query. */
function fakeHooks(): CssHooks & { seen: { urls: string[]; attributes: string[] } } {
  const names = new Map<string, string>();
  const seen = { urls: [] as string[], attributes: [] as string[] };
  const ident = (token: string): string => {
    if (!names.has(token)) names.set(token, `p${names.size}`);
    return names.get(token) as string;
  };
  return {
    seen,
    ident,
    url(raw) {
      seen.urls.push(raw);
      if (raw.charAt(0) === '#') return '#' + ident(raw.slice(1));
      return raw.startsWith('data:') ? undefined : 'https://clinic.example.org/' + raw.split(/[?#]/)[0].replace(/^\//, '');
    },
    attributeName: (name) => (/^(type|for|id|class|href|lang|disabled)$/.test(name) ? name : ident(name)),
    tag: (name) => (/^(a|p|div|span|input|label|tr|td|li|ul|h1|x-y|svg|rect)$/i.test(name) ? name : 'x-' + ident(name)),
    attribute(name, op, value) {
      seen.attributes.push(`${name} ${op} ${value}`);
      if (name === 'type') return value; // a value from the application's own vocabulary
      if (name === 'for' || name === 'id') return ident(value);
      return undefined;
    },
  };
}

const sheet = (css: string): string => sanitizeStylesheet(css, fakeHooks());

describe('the recorder CSS policy: what must not leave', () => {
  const leaks: [string, string][] = [
    ['attribute selector, quoted', 'tr[data-patient="CANARY-CSS-ATTR-01"]{color:red}'],
    ['attribute selector, single-quoted', "tr[data-patient='CANARY-CSS-ATTR-02']{}"],
    ['attribute selector, unquoted', '[data-x=CANARY-CSS-ATTR-03]{}'],
    ['attribute selector, with flag and operators', '[data-x^="CANARY-CSS-ATTR-04" i],[data-x|=CANARY-CSS-ATTR-05 s],[a$="CANARY-CSS-ATTR-06"]{}'],
    ['attribute selector, escaped name and value', '[data-\\70 atient="\\43 ANARY-CSS-ATTR-07"]{}'],
    ['attribute selector, namespaced', '[*|title="CANARY-CSS-ATTR-08"],[svg|title="CANARY-CSS-ATTR-09"]{}'],
    ['attribute selector, extra words', '[title=x CANARY-CSS-ATTR-10]{}'],
    ['attribute selector, number value', '[data-mrn=12345678]{}'],
    ['attribute selector in :is()', ':is([title="CANARY-CSS-IS"]) a{}'],
    ['attribute selector in :not() :where() :has()', 'a:not([x="CANARY-CSS-NOT"]):where([x="CANARY-CSS-WHERE"]):has(> [x="CANARY-CSS-HAS"]){}'],
    ['attribute selector in :nth-child(of S)', 'li:nth-child(2n+1 of [x="CANARY-CSS-NTH"]){}'],
    ['@supports selector()', '@supports selector([x="CANARY-CSS-SUPPORTS"]){a{}}'],
    ['@scope', '@scope ([x="CANARY-CSS-SCOPE"]) to ([y="CANARY-CSS-SCOPE2"]){a{}}'],
    ['a nested rule in a block', '.a{color:red;&[title="CANARY-CSS-NEST-1"]{color:blue}div[title="CANARY-CSS-NEST-2"]{}}'],
    ['a nested rule that starts like a declaration', '.a{a:hover[title="CANARY-CSS-NEST-3"]{color:blue}}'],
    ['a rule in @media', '@media screen{a[title="CANARY-CSS-MEDIA"]{}}'],
    ['content', '.a::before{content:"CANARY-CSS-CONTENT"}'],
    ['quotes', 'q{quotes:"CANARY-CSS-QUOTES" "\\201D"}'],
    ['list-style-type', 'ol{list-style-type:"CANARY-CSS-LIST"}'],
    ['counter strings', 'li::marker{content:counter(n) "CANARY-CSS-CTR"; content:counters(n,"CANARY-CSS-CTRS")}'],
    ['custom property strings', '.a{--who:"CANARY-CSS-VAR";--nested:{"CANARY-CSS-VAR2"};--deep:x("CANARY-CSS-VAR3")}'],
    ['@import string', '@import "/theme.css?CANARY-CSS-IMPORT";'],
    ['@import url and its conditions', '@import url(/theme.css?CANARY-CSS-IMPORT2) supports(font-family:"CANARY-CSS-IMPORT3") screen;'],
    ['image-set()', '.a{background:image-set("x.png?CANARY-CSS-IMGSET" 1x, url(y.png?CANARY-CSS-IMGSET2) 2x)}'],
    ['-webkit-image-set()', '.a{background:-webkit-image-set("x.png?CANARY-CSS-WKSET" 1x)}'],
    ['src()', '.a{background:src("x.png?CANARY-CSS-SRC")}'],
    ['url() query and fragment', '.a{background:url(/x.png?u=CANARY-CSS-URL#CANARY-CSS-FRAG)}'],
    ['escaped \\75rl(', '.a{background:\\75rl(/x?ssn=CANARY-CSS-ESC-1)}'],
    ['escaped u\\rl(', '.a{background:u\\rl(/x?ssn=CANARY-CSS-ESC-2)}'],
    ['escaped u\\72l( with a string', '.a{background:u\\72l("/x?ssn=CANARY-CSS-ESC-3")}'],
    ['a data: url', '.a{background:url("data:image/png;base64,CANARY-CSS-DATA")}'],
    ['a comment', '/* CANARY-CSS-COMMENT */a{b:c/* CANARY-CSS-COMMENT2 */}'],
    ['@namespace', '@namespace x "CANARY-CSS-NS";'],
    ['a bad string', 'a{content:"CANARY-CSS-BAD\n}'],
    ['a bad url', 'a{background:url(x?CANARY-CSS-BADURL y)}'],
    ['font-feature-settings that is no tag', 'a{font-feature-settings:"CANARY-CSS-FFS" 1}'],
    ['a grid area string that is no list of names', 'a{grid-template-areas:"a CANARY-CSS.GRID"}'],
    [':lang() string', ':lang("CANARY-CSS-LANG"){}'],
    ['@keyframes name string', '@keyframes "CANARY-CSS-KF"{from{}}'],
    ['@container style()', '@container style(--x:"CANARY-CSS-CQ"){a{}}'],
    ['@font-face format()', '@font-face{src:url(/f.woff?CANARY-CSS-FONT) format("CANARY-CSS-FMT")}'],
    ['@page margin box', '@page :first{@top-center{content:"CANARY-CSS-PAGE"}}'],
    ['@property syntax', '@property --x{syntax:"CANARY-CSS-PROP";inherits:false}'],
    ['@counter-style', '@counter-style c{symbols:"CANARY-CSS-CS"}'],
    ['a string in a selector', 'a"CANARY-CSS-SEL"{}'],
    ['a stray string at the top level', '"CANARY-CSS-TOP";a{}'],
    ['CDO/CDC around', '<!-- a{content:"CANARY-CSS-CDO"} -->'],
  ];
  for (const [where, css] of leaks) {
    it(`removes it from ${where}`, () => {
      const out = sheet(css);
      assert.ok(!/CANARY|12345678/.test(out), out);
      assert.deepEqual(lexMerged(out).length > 0, true);
    });
  }

  it('removes canaries from a style attribute and from single values', () => {
    const hooks = fakeHooks();
    const out = sanitizeDeclarations('color:red;background:url("x?CANARY-CSS-STYLE");content:"CANARY-CSS-STYLE2"', hooks);
    assert.equal(out, 'color:red;background:url("https://clinic.example.org/x");content:""');
    assert.equal(sanitizeValue('"CANARY-CSS-VALUE" url(/x?CANARY-CSS-VALUE2)', hooks), '"" url("https://clinic.example.org/x")');
    assert.equal(sanitizeValue('url(#grad)', hooks), 'url("#p0")');
    assert.equal(sanitizeValue('#abc #CANARY', hooks), '#abc #p1', 'a hex colour stays, another hash is a name');
  });

  it('decides on decoded text, so escapes hide nothing', () => {
    const hooks = fakeHooks();
    sanitizeStylesheet('[d\\61ta-x="\\43 ANARY"]{} .\\31 23{} #\\41{} a{b:\\75 rl(\\2f x)}', hooks);
    assert.deepEqual(hooks.seen.attributes, ['data-x = CANARY']);
    assert.deepEqual(hooks.seen.urls, ['/x']);
    // p0 went to the attribute name data-x, which the recorder does not keep.
    assert.equal(sanitizeStylesheet('.\\31 23{}#\\41{}', hooks), '.p1{}#p2{}');
  });
});

describe('the recorder CSS policy: what keeps working', () => {
  it('keeps font-family and font strings, and OpenType tags', () => {
    const css = 'a{font-family:"Helvetica Neue",Arial,sans-serif;font:12px/1.5 "Open Sans";font-feature-settings:"liga" 1,"ss01";font-variation-settings:"wght" 400}';
    assert.equal(sheet(css), css);
  });

  it('keeps colours, keywords, numbers, functions and !important', () => {
    const css = 'a{color:#fff;background:#AABBCC linear-gradient(to right,#1234 0%,#12345678 100%);margin:0 auto!important;width:calc(100% - 2*1em);transform:rotate(45deg)}';
    assert.equal(sheet(css), css);
  });

  it('maps class names, ids and part names through hooks.ident, leaving type selectors and pseudo-classes', () => {
    assert.equal(sheet('.a .b #c, div.a > p:hover::before, x-y::part(thumb label){}'), '.p0 .p1 #p2, div.p0 > p:hover::before, x-y::part(p3 p4){}');
    assert.equal(sheet(':is(.a, .b) :not(#c) li:nth-child(2n+1 of .row):lang(en):dir(rtl){}'), ':is(.p0, .p1) :not(#p2) li:nth-child(2n+1 of .p3):lang(en):dir(rtl){}');
  });

  it('maps attribute selector values through hooks.attribute', () => {
    const hooks = fakeHooks();
    assert.equal(
      sanitizeStylesheet('label[for=email],input[type="checkbox" i],[ID~="x"],a[href^="https"],[disabled]{}', hooks),
      'label[for="p0"],input[type="checkbox" i],[id~="p1"],a[href^=""],[disabled]{}',
    );
    assert.deepEqual(hooks.seen.attributes, ['for = email', 'type = checkbox', 'id ~= x', 'href ^= https']);
  });

  it('maps grid area and line names consistently between the template and the items', () => {
    const css =
      '.g{grid-template-areas:"head head" "nav main" ". main";grid-template-columns:[full-start] minmax(1em,1fr) [main-start] repeat(auto-fill,[col] 2fr) [main-end full-end]}' +
      '.h{grid-area:head}.m{grid-row:main-start/main-end;grid-column:span 2/auto}.n{grid-area:nav;grid-auto-flow:row dense}';
    assert.equal(
      sheet(css),
      '.p0{grid-template-areas:"p1 p1" "p2 p3" ". p3";grid-template-columns:[p4-start] minmax(1em,1fr) [p3-start] repeat(auto-fill,[p5] 2fr) [p3-end p4-end]}' +
        '.p6{grid-area:p1}.p7{grid-row:p3-start/p3-end;grid-column:span 2/auto}.p8{grid-area:p2;grid-auto-flow:row dense}',
    );
  });

  it('keeps the shape of nested rules, at-rules and declarations', () => {
    assert.equal(
      sheet('.card{color:red;&:hover{color:blue}.title{font-weight:bold}a:focus{outline:none}}'),
      '.p0{color:red;&:hover{color:blue}.p1{font-weight:bold}a:focus{outline:none}}',
    );
    assert.equal(sheet('a:hover{color:red}'), 'a:hover{color:red}');
    assert.equal(
      sheet('@media (max-width:600px){.a{color:red}}@supports (display:grid){.b{display:grid}}@layer base{p{margin:0}}'),
      // A layer's name is the page's own: a pseudonym.
      '@media (max-width:600px){.p0{color:red}}@supports (display:grid){.p1{display:grid}}@layer p2{p{margin:0}}',
    );
    // Keyframes names and their uses are the page's own names: the same pseudonym in both.
    assert.equal(
      sheet('@keyframes spin{from{transform:rotate(0)}50%{opacity:.5}}a{animation:spin 1s linear infinite}'),
      '@keyframes p0{from{transform:rotate(0)}50%{opacity:.5}}a{animation:p0 1s linear infinite}',
    );
    assert.equal(sheet('@font-face{font-family:"Inter";src:url(/f/inter.woff2)}'), '@font-face{font-family:"Inter";src:url("https://clinic.example.org/f/inter.woff2")}');
  });

  it('writes URLs through hooks.url as url("…"), dropped ones as url("")', () => {
    const hooks = fakeHooks();
    assert.equal(
      sanitizeStylesheet('a{background:url(/img/a.png?x=1),url("data:image/png;base64,AA"),url(#clip)}@import "/t.css";', hooks),
      'a{background:url("https://clinic.example.org/img/a.png"),url(""),url("#p0")}@import url("https://clinic.example.org/t.css");',
    );
    assert.deepEqual(hooks.seen.urls, ['/img/a.png?x=1', 'data:image/png;base64,AA', '#clip', '/t.css']);
  });

  it('drops comments, CDO/CDC and whitespace between statements', () => {
    assert.equal(sheet('<!--\n/* a */\n.a  {\n  color :  red ;\n}\n-->\n'), '.p0 {color :  red ;}');
  });
});

describe('the player inert pass on the same tokenizer', () => {
  it('makes url() and the functions that fetch none, however escaped', () => {
    for (const css of ['url(/x.png)', '\\75rl(/x)', 'u\\72l("/x")', 'URL(x)', 'url(/*x*/)', 'url(x y)', 'url("\\a0 #x")', 'image-set("a.png" 1x)', 'src("x")', 'cross-fade(url(a), url(b))']) {
      assert.equal(inertCss(`a{b:${css} red}`), 'a{b:none red}', css);
    }
    assert.equal(inertCss('a{b:-webkit-cross-fade(url(a),url(b),50%)}'), 'a{b:-webkit-cross-fade(none,none,50%)}');
  });

  it('keeps data: urls and in-page #fragments', () => {
    const css = 'a{mask:url(#m);filter:url( "#f" );b:url(data:image/png;base64,AA);c:image-set(url(data:x) 1x);d:element(#e);e:image("#i")}';
    assert.equal(inertCss(css), css);
    assert.equal(inertCss('a{b:image-set("data:x" 1x)}'), 'a{b:none}', 'data: only inside url()');
  });

  it('removes @import rules, and keeps a @namespace url, which fetches nothing', () => {
    assert.equal(inertCss('@import url(/a.css) screen;@import "b.css";a{b:c}'), 'a{b:c}');
    assert.equal(inertCss('@media x{@import "a.css";a{b:c}}'), '@media x{a{b:c}}');
    assert.equal(inertCss('@namespace svg url(http://www.w3.org/2000/svg);svg|a{}'), '@namespace svg url(http://www.w3.org/2000/svg);svg|a{}');
  });

  it('leaves no url but in-page ones, and is stable on its own output', () => {
    const random = rng(11);
    for (const css of [...CORPUS, ...Array.from({ length: 2000 }, () => soup(random, 1 + Math.floor(random() * 24)))]) {
      const out = inertCss(css);
      const s = cssStream(out);
      for (let t = s.next(), inUrl = false; t !== CssToken.EOF; t = s.next()) {
        assert.notEqual(t, CssToken.BadUrl, out);
        if (t === CssToken.Url || (inUrl && t === CssToken.String)) assert.match(s.value, /^[\0- ]*(#|data:)/i, out);
        if (t !== CssToken.Whitespace) inUrl = t === CssToken.Function && /^url$/i.test(s.value);
      }
      assert.deepEqual(lexMerged(inertCss(out)), lexMerged(out), JSON.stringify(css));
    }
    assert.equal(inertCss('a /* c */ { b: c }'), 'a { b: c }');
  });
});
