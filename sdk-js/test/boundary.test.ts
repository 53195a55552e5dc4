// Import boundaries of the recorder: the masking module has one door. Anything outside
// src/mask/ that imports a file inside it other than src/mask/index.ts fails this test,
// so that no observer, serializer or player can reach a masking part directly and
// bypass the policy (STYLE.md, habit 10).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = resolve(process.cwd());
const MASK = join(ROOT, 'src', 'mask');
// `import … from '…'`, `export … from '…'`, `import '…'` and dynamic `import('…')`.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
}

/** Specifiers of `file` that resolve inside src/mask/ to anything but its door. */
export function pastTheDoor(file: string, text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const spec = match[1];
    if (!spec.startsWith('.')) continue;
    const target = resolve(dirname(file), spec).replace(/\.(ts|js)$/, '');
    const inside = relative(MASK, target);
    if (inside.startsWith('..') || inside === '' || inside === 'index') continue;
    out.push(spec);
  }
  return out;
}

describe('import boundaries', () => {
  it('nothing outside src/mask/ imports past src/mask/index.ts', () => {
    const files = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'test'))].filter(
      (file) => !file.startsWith(MASK + '/'),
    );
    assert.ok(files.length > 10, 'the scan found the sources');
    const offenders = files.flatMap((file) =>
      pastTheDoor(file, readFileSync(file, 'utf8')).map((spec) => `${relative(ROOT, file)} imports ${spec}`),
    );
    assert.deepEqual(offenders, []);
  });

  it('the check itself catches a deep import', () => {
    const file = join(ROOT, 'src', 'observers', 'x.ts');
    assert.deepEqual(pastTheDoor(file, "import { maskText } from '../mask/text';"), ['../mask/text']);
    assert.deepEqual(pastTheDoor(file, "export * from '../mask/css.ts';"), ['../mask/css.ts']);
    assert.deepEqual(pastTheDoor(file, "import { x } from '../mask';\nimport y from '../mask/index';"), []);
    // Built by concatenation, so that this file's own scan does not see an import here.
    const deep = '../src/mask' + '/url';
    assert.deepEqual(pastTheDoor(join(ROOT, 'test', 'a.test.ts'), `import { t } from '${deep}';`), [deep]);
  });
});
