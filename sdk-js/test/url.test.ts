// The URL rule: origin and a path templated by the declared routes and the built-in
// vocabulary, nothing else. The shared cases (masking-rules/tests/paths.json) are the
// ones the collector's own implementation must agree with (tests/test_paths.py).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { compileRoutes, sanitizeSrcset, sanitizeUrl, templatePath } from '../src/mask';
import { CANARY } from './helpers';

const BASE = 'https://clinic.example.org/patients/12345/chart';
const NONE = compileRoutes([]);

interface Case {
  routes: string[];
  path: string;
  expected: string;
}

const shared = JSON.parse(readFileSync('../masking-rules/tests/paths.json', 'utf8')) as { cases: Case[] };

describe('templatePath', () => {
  it('agrees with every shared case', () => {
    assert.ok(shared.cases.length >= 20);
    const wrong = shared.cases
      .map((c) => ({ ...c, got: templatePath(c.path, compileRoutes(c.routes)) }))
      .filter((c) => c.got !== c.expected);
    assert.deepEqual(wrong, []);
  });

  it('passes no segment because of its shape: names, slugs and words alike become :id', () => {
    for (const segment of ['jane-roe', 'JaneRoe', 'roe', 'Smith_J', 'O%27Brien', 'mary.ann', 'x']) {
      assert.equal(templatePath(`/patients/${segment}`, NONE), '/patients/:id', segment);
    }
  });

  it('keeps a declared literal anywhere, and only the literals of the route that matched', () => {
    const routes = compileRoutes(['/studies/:study/arms/:arm', '/studies/:study/consent']);
    assert.equal(templatePath('/studies/CANARY-STUDY/arms/CANARY-ARM', routes), '/studies/:id/arms/:id');
    assert.equal(templatePath('/studies/consent/consent', routes), '/studies/:id/consent');
    assert.equal(templatePath('/arms', routes), '/arms');
  });
});

describe('sanitizeUrl', () => {
  it('keeps origin and templated path, drops query and fragment', () => {
    assert.equal(
      sanitizeUrl(`/patients/12345/notes?ssn=${CANARY}#${CANARY}`, BASE, NONE),
      'https://clinic.example.org/patients/:id/notes',
    );
    assert.equal(
      sanitizeUrl('https://cdn.example.org/visits/3f2504e0-4f89-11d3-9a0c-0305e82c3301/summary', BASE, NONE),
      'https://cdn.example.org/visits/:id/summary',
    );
    assert.equal(sanitizeUrl('/records/MRN0012345/scan.pdf', BASE, NONE), 'https://clinic.example.org/records/:id/:id.pdf');
    assert.equal(sanitizeUrl('/people/jane.doe@example.org', BASE, NONE), 'https://clinic.example.org/:id/:id');
    assert.equal(sanitizeUrl('/static/app.css?v=3', BASE, NONE), 'https://clinic.example.org/static/app.css');
    assert.equal(sanitizeUrl('/avatars/JaneRoe.png', BASE, NONE), 'https://clinic.example.org/:id/:id.png');
  });

  it('drops credentials and every scheme but http(s)', () => {
    assert.equal(sanitizeUrl('https://user:secret@clinic.example.org/a', BASE, NONE), 'https://clinic.example.org/:id');
    assert.equal(sanitizeUrl('javascript:alert(1)', BASE, NONE), undefined);
    assert.equal(sanitizeUrl(' JavaScript:alert(1)', BASE, NONE), undefined);
    assert.equal(sanitizeUrl('data:image/png;base64,AAAA', BASE, NONE), undefined);
    assert.equal(sanitizeUrl(`mailto:${CANARY}@example.org`, BASE, NONE), undefined);
    assert.equal(sanitizeUrl('http://[bad', BASE, NONE), undefined);
  });

  it('templates every candidate of a srcset and drops the unsafe ones', () => {
    assert.equal(
      sanitizeSrcset('/avatars/JaneRoe.png 1x, /static/logo.png?u=x 2x, javascript:x 3x', (raw) => sanitizeUrl(raw, BASE, NONE)),
      'https://clinic.example.org/:id/:id.png 1x, https://clinic.example.org/static/logo.png 2x',
    );
  });
});

describe('the parser-free path for plain links', () => {
  it('gives exactly what the URL parser gives', () => {
    const routes = compileRoutes(['/patients/:id/visits']);
    const samples = ['/patients/12/visits', '/patients/jane-roe/visits?x=1#y', '/a/./b', '/a/../b', '/a/%2e%2E/b', '/.well-known/x',
      "/it's/(x)/*/+/,/;/=/:/@/!/$/&", '/a%20b/c', '/a%zz', '/x.png', '/static/app.css?v=3', '//evil.example/x', '/a\\b', '/a b',
      '/ä', '/a\tb', '/a\nb', '/a|b', '/a`b', '/a{b}', '/a"b', '/a<b>', '/', '/?q', '/#f', '/a/', '/a//b', ' /patients/1 '];
    for (const raw of samples) {
      const fast = sanitizeUrl(raw, BASE, routes);
      const parsed = sanitizeUrl(raw, BASE, routes, () => undefined);
      assert.equal(fast, parsed, raw);
    }
  });
});
