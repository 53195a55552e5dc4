// The shipped rule files (masking-rules/) are valid and agree with the recorder.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { buildRules, checkRules, compileRules, DEFAULT_BLOCK, mergeRules, remoteRules } from '../src/rules';
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
    assert.deepEqual(keys, ['block', 'exclude_routes', 'mask', 'routes', 'ui_text', 'unmask']);
    assert.doesNotThrow(() => compileRules(Object.fromEntries(keys.map((k) => [k, []])), page.doc));
    assert.throws(() => compileRules({ $schema: 'x' }, page.doc), /unknown key/);
    page.close();
  });

  it("the schema's route pattern accepts exactly the route templates the recorder accepts", () => {
    const page = makePage('<p>x</p>');
    const schema = load('schema.json') as { properties: { routes: { items: { pattern: string } } } };
    const pattern = new RegExp(schema.properties.routes.items.pattern);
    const candidates = ['/patients/:id/visits', '/', '/a/*/b', '/a/', '/a//b', 'patients', '/a b', '/a?x', '/a#x',
      '/:', '/:1x', '/pat%69ents', '/a/**', '/ä', '/a.b~c_d-e', '/a/:id/', '/*x'];
    const accepted = (route: string): boolean => {
      try {
        compileRules({ routes: [route] }, page.doc);
        return true;
      } catch {
        return false;
      }
    };
    assert.deepEqual(candidates.filter((c) => pattern.test(c) !== accepted(c)), []);
    page.close();
  });
});

describe('rule lists', () => {
  it('refuses a selector left open at its end: joined with others it would swallow them', () => {
    const page = makePage('<div class="a">A</div><div class="dx">D</div>');
    for (const open of ['div:not(.a', '[title="x', '[title', 'div\\']) {
      assert.throws(() => compileRules({ mask: [open, '.dx'] }, page.doc), /rules\.mask\[0\] is not a valid CSS selector/, open);
    }
    assert.ok(compileRules({ mask: ['div:not(.a)', '.dx'] }, page.doc).mask(page.doc.querySelector('.dx')!));
    page.close();
  });

  it("the collector's config adds mask, block and exclude_routes, and can never unmask", () => {
    const page = makePage('<p class="dx">x</p>');
    const remote = remoteRules({ mask: ['.dx'], unmask: ['*'], block: ['.chart'], exclude_routes: ['/v/**'], other: 1 }, page.doc);
    assert.deepEqual(remote.unmask, []);
    const app = checkRules({ unmask: ['p'], mask: ['.own'] }, page.doc);
    const merged = mergeRules(app, remote);
    assert.deepEqual(merged, {
      mask: ['.own', '.dx'],
      unmask: ['p'],
      block: ['.chart'],
      exclude_routes: ['/v/**'],
      routes: [],
      ui_text: [],
    });
    assert.deepEqual(mergeRules(app, { ...remote, unmask: ['*'] }).unmask, ['p'], 'merging never takes an unmask');
    const rules = buildRules(merged);
    assert.ok(rules.mask(page.doc.querySelector('.dx')!));
    assert.ok(rules.excluded('/v/1'));
    assert.throws(() => remoteRules(null, page.doc), /the collector's config must be an object/);
    const empty = { mask: [], unmask: [], block: [], exclude_routes: [], routes: [], ui_text: [] };
    assert.deepEqual(remoteRules(undefined, page.doc), empty);
    assert.deepEqual(
      remoteRules({ routes: ['/patients/:id'], ui_text: ['Jane Roe'] }, page.doc),
      empty,
      'the collector cannot declare route literals or interface strings: both would reveal',
    );
    page.close();
  });
});
