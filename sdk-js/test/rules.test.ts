// The shipped rule files (masking-rules/) are valid and agree with the recorder.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { compileRules, DEFAULT_BLOCK } from '../src/rules';
import { makePage } from './helpers';

const dir = resolve(process.cwd(), '../masking-rules');
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(resolve(dir, name), 'utf8'));

describe('masking-rules files', () => {
  const page = makePage('');

  it('default.json and the clinical example compile', () => {
    const base = compileRules(load('default.json'), page.doc);
    assert.deepEqual(load('default.json').block, DEFAULT_BLOCK, 'default.json lists the built-in block list');
    assert.equal(base.excluded('/volunteers'), false);
    const clinical = compileRules(load('examples/clinical-app.json'), page.doc);
    assert.ok(clinical.excluded('/volunteers/12/shifts'));
    assert.ok(!clinical.excluded('/patients/12'));
  });

  it('the schema names exactly the keys the recorder accepts', () => {
    const schema = load('schema.json') as { properties: object; additionalProperties: boolean };
    assert.equal(schema.additionalProperties, false);
    const keys = Object.keys(schema.properties).sort();
    assert.deepEqual(keys, ['block', 'exclude_routes', 'mask', 'unmask']);
    assert.doesNotThrow(() => compileRules(Object.fromEntries(keys.map((k) => [k, []])), page.doc));
    assert.throws(() => compileRules({ $schema: 'x' }, page.doc), /unknown key/);
    page.close();
  });
});
