// Builds dist/phi-replay.min.js (IIFE defining window.PhiReplay) and
// dist/phi-replay.mjs (ES module exporting start, flush, stop), then reports sizes.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

// Size budget for the recorder entry (ARCHITECTURE.md: at most 15 KB gzip).
const BUDGET_GZIP_BYTES = 15 * 1024;

const common = {
  entryPoints: ['src/index.ts'],
  bundle: true,
  target: ['es2019'],
  platform: 'browser',
  legalComments: 'none',
  logLevel: 'warning',
  // V8's explicit compile hint (Chromium 136+; a plain comment elsewhere): compile every
  // function while the script loads, off the main thread when streamed, instead of
  // lazily inside PhiReplay.start(), where it delayed the first snapshot by several ms.
  banner: { js: '//# allFunctionsCalledOnLoad' },
};

await Promise.all([
  build({ ...common, format: 'iife', globalName: 'PhiReplay', minify: true, outfile: 'dist/phi-replay.min.js' }),
  build({ ...common, format: 'esm', minify: true, outfile: 'dist/phi-replay.mjs' }),
]);

for (const file of ['dist/phi-replay.min.js', 'dist/phi-replay.mjs']) {
  const bytes = readFileSync(file);
  const gzip = gzipSync(bytes, { level: 9 }).length;
  console.log(`${file}: ${bytes.length} bytes, ${gzip} bytes gzip (budget ${BUDGET_GZIP_BYTES})`);
  if (gzip > BUDGET_GZIP_BYTES) {
    console.error(`${file} is over its size budget`);
    process.exitCode = 1;
  }
}
