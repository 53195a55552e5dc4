// Builds the recorder, dist/phi-replay.mjs (ES module exporting start, flush, stop,
// identify, addEvent, pseudonym) and dist/phi-replay.min.js (the same code as a
// classic script defining window.PhiReplay), and the support
// console's replay player, dist/player.js (IIFE, rrweb's Replayer inside) with
// dist/player.css; then reports sizes.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { minify } from 'terser';

// Size budget for the recorder entry (ARCHITECTURE.md: at most 15 KB gzip). It is not met
// since the default-deny masking of issue 10 (a CSS Syntax tokenizer, per-attribute value
// kinds, pseudonyms, the URL vocabulary, a data-driven detector: about 7 KB gzip on top
// of 14 KB), so the build reports it and fails only above CEILING_GZIP_BYTES, which
// stops the bundle from growing unnoticed while the budget is decided (bench/README.md).
const BUDGET_GZIP_BYTES = 15 * 1024;
const CEILING_GZIP_BYTES = 22 * 1024;

/**
 * Property names that only the recorder's own objects carry: the record context, the
 * masker and its policies, the mirror, the rules, the transport's options, the CSS
 * stream. esbuild renames them in the recorder bundle (about 320 bytes gzip). None is
 * a key of anything that leaves the page or comes in (events, hello, batches, the
 * session in sessionStorage, start options, rules, the welcome), nor of the public
 * API; checkInternalProps() below refuses any that TypeScript's DOM and JavaScript
 * libraries know, or that the code uses as a string.
 */
const INTERNAL_PROPS = [
  // RecordContext
  'win', 'doc', 'mirror', 'emit', 'incremental', 'capturing', 'excluded', 'domChanged', 'drain',
  'navigated', 'watchRoot', 'onRoot',
  // Masker, ElementInfo, FieldValue, AttributePolicy, CssHooks, Pseudonyms
  'scopeAt', 'isBlocked', 'taint', 'noteField', 'attribute', 'changedText', 'treeChanged',
  'setRules', 'pageUrl', 'newSession', 'isSVG', 'childless', 'masked', 'kept', 'known',
  // CompiledRules, Matcher, RouteTable
  'uiText', 'attributesOnly', 'structural', 'literals', 'bySize',
  // Mirror
  'getId', 'forget', 'getText', 'setText', 'markOpaque', 'isOpaque', 'wasBlocked', 'successor',
  // Config, TransportOptions, Transport, batches
  'beaconUrl', 'firstSeq', 'retryFirst', 'onSeq', 'onWelcome', 'onFatal', 'onFull', 'sendNow', 'beaconed',
  // RouteGate, the mutation observer's extra changes, CssStream
  'route', 'hosts', 'sheets', 'num', 'skip', 'undo',
];

/** Fails the build when a name of INTERNAL_PROPS could be someone else's too. */
function checkInternalProps(unmangled) {
  const lib = 'node_modules/typescript/lib/';
  const known = new Set();
  for (const name of readdirSync(lib).filter((file) => /^lib\..*\.d\.ts$/.test(file))) {
    const text = readFileSync(lib + name, 'utf8').replace(/\/\*[^]*?\*\//g, '').replace(/\/\/.*/g, '');
    for (const [word] of text.matchAll(/[\w$]+/g)) known.add(word);
  }
  for (const name of INTERNAL_PROPS) {
    if (known.has(name)) throw new Error(`build: "${name}" is a DOM or JavaScript name; it cannot be renamed`);
    if (new RegExp(`["'\`]${name}["'\`]`).test(unmangled)) throw new Error(`build: the recorder uses "${name}" as a string`);
  }
}

const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  // ES2022 (private methods: Chrome 84, Firefox 90, Safari 15; every browser since
  // 2021): native `#private` fields and methods, which esbuild shortens safely (ES2020
  // output spells them out as WeakMaps); and native `?.` and `??`, which ES2019 output
  // spells out at every use (about 430 bytes gzip).
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
  minify: true,
  write: false,
};
// V8's explicit compile hint (Chromium 136+; a plain comment elsewhere): compile every
// function while the script loads, off the main thread when streamed, instead of
// lazily inside PhiReplay.start(), where it delayed the first snapshot by several ms.
// It must stay the first line, so terser writes it.
const COMPILE_HINT = '//# allFunctionsCalledOnLoad';

/**
 * A second minifier pass over esbuild's output. terser's mangler picks names that
 * gzip better than esbuild's (about 600 bytes gzip on the recorder), and its
 * compressor finds about 250 more; together they take the recorder from 19,612 to
 * 18,746 bytes gzip. esbuild still bundles, strips types and does the first pass.
 */
async function terse(code, module) {
  const out = await minify(code, {
    ecma: 2020,
    module,
    // reduce_funcs off: terser would otherwise paste a function used once into its call
    // site as a closure created at every call (the CSS tokenizer's read() into next(),
    // once per token). 46 bytes gzip buy the hot paths their shape.
    compress: { passes: 2, reduce_funcs: false },
    mangle: true,
    // ASCII only, as esbuild writes it: a page that loads the script in another charset
    // still reads U+FFFD and the detector's ä as such (terser would write them raw).
    format: { preamble: COMPILE_HINT, ascii_only: true },
  });
  return out.code;
}

/**
 * The IIFE is the ES module's code inside a function that returns its exports as one
 * object, `var PhiReplay = (() => { …; return { addEvent, flush, … }; })()`: the same
 * six functions in the same order, without the module-namespace helpers that
 * esbuild's own IIFE format adds (about 180 bytes gzip).
 */
function iife(esm) {
  const exports = /export\s*\{([^}]*)\};?\s*$/.exec(esm);
  if (!exports) throw new Error('build: the ES module does not end with its export statement');
  const entries = exports[1].split(',').map((entry) => {
    const [local, name = local] = entry.trim().split(/\s+as\s+/);
    return `${name}:${local}`;
  });
  return `var PhiReplay=(()=>{"use strict";${esm.slice(0, exports.index)}return{${entries.join(',')}}})();`;
}

async function buildRecorder() {
  const unmangled = await build({ ...common, format: 'esm', outfile: 'dist/phi-replay.mjs' });
  checkInternalProps(unmangled.outputFiles[0].text);
  const mangleProps = new RegExp(`^(${INTERNAL_PROPS.join('|')})$`);
  const result = await build({ ...common, format: 'esm', outfile: 'dist/phi-replay.mjs', mangleProps });
  const esm = result.outputFiles[0].text;
  mkdirSync('dist', { recursive: true });
  writeFileSync('dist/phi-replay.mjs', await terse(esm, true));
  writeFileSync('dist/phi-replay.min.js', await terse(iife(esm), false));
}

// The player runs in the console only (support staff's browsers), so it has no size
// budget; it is mostly rrweb's Replayer. No eval or inline script: the console's CSP
// allows only script-src 'self'.
const player = {
  bundle: true,
  minify: true,
  target: ['es2020'],
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
};

await Promise.all([
  buildRecorder(),
  build({ ...player, entryPoints: ['src/player/index.ts'], format: 'iife', outfile: 'dist/player.js' }),
  build({ ...player, entryPoints: ['src/player/player.css'], outfile: 'dist/player.css' }),
]);

const sizes = (file) => {
  const bytes = readFileSync(file);
  return { bytes: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
};

for (const file of ['dist/phi-replay.min.js', 'dist/phi-replay.mjs']) {
  const { bytes, gzip } = sizes(file);
  const verdict = gzip <= BUDGET_GZIP_BYTES ? 'met' : 'NOT met';
  console.log(`${file}: ${bytes} bytes, ${gzip} bytes gzip (budget ${BUDGET_GZIP_BYTES}: ${verdict}; ceiling ${CEILING_GZIP_BYTES})`);
  if (gzip > CEILING_GZIP_BYTES) {
    console.error(`${file} is over its size ceiling`);
    process.exitCode = 1;
  }
}
for (const file of ['dist/player.js', 'dist/player.css']) {
  const { bytes, gzip } = sizes(file);
  console.log(`${file}: ${bytes} bytes, ${gzip} bytes gzip (no budget)`);
}
