// Compiles test/*.test.ts with esbuild and runs them with node's test runner.
// Exits with the runner's status, so a failing test fails `npm test`.
//   node scripts/test.mjs                         every test file
//   node scripts/test.mjs attack.test.ts ['ATK-0'] one file [, tests whose name matches]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';

const outdir = '.test-build';
const [only, pattern] = process.argv.slice(2);
const tests = only ? [only] : readdirSync('test').filter((name) => name.endsWith('.test.ts'));
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: tests.map((name) => `test/${name}`),
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  packages: 'external',
  target: 'node20',
  sourcemap: 'inline',
  logLevel: 'warning',
});
const files = tests.map((name) => `${outdir}/${name.replace(/\.ts$/, '.mjs')}`);
const run = spawnSync(process.execPath, [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  // A leaked timer or socket must fail the run, not hang it.
  '--test-force-exit',
  '--test-timeout=30000',
  ...(pattern ? [`--test-name-pattern=${pattern}`] : []),
  ...files,
], {
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
