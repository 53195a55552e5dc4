// Builds and runs one test file, like scripts/test.mjs does for all of them:
//   node scripts/test-one.mjs attack.test.ts ['name pattern']
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

const file = process.argv[2] ?? 'attack.test.ts';
const outdir = '.test-build';
await build({
  entryPoints: [`test/${file}`],
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
const args = ['--enable-source-maps', '--test', '--test-reporter=spec', '--test-force-exit', '--test-timeout=30000'];
if (process.argv[3]) args.push(`--test-name-pattern=${process.argv[3]}`);
const run = spawnSync(process.execPath, [...args, `${outdir}/${file.replace(/\.ts$/, '.mjs')}`], { stdio: 'inherit' });
process.exit(run.status ?? 1);
