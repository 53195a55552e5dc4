// Unit tests of the masking primitives: quantised masks, URL and CSS sanitising.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIELD_PLACEHOLDER, maskText, sanitizeCss, sanitizeUrl } from '../src/mask';
import { ingestUrl } from '../src/options';
import { globToRegExp } from '../src/rules';
import { CANARY, makePage } from './helpers';

const BASE = 'https://clinic.example.org/patients/12345/chart';

describe('maskText', () => {
  it('carries no characters and no exact length', () => {
    const masked = maskText(CANARY);
    assert.match(masked, /^\*+$/);
    assert.equal(maskText('CANARY-SSN-900-00-0002x'), masked, 'similar lengths share a bucket');
    assert.equal(maskText('Al'), maskText('Bartholomew'.slice(0, 8)), 'short strings all look the same');
    assert.notEqual(masked.length, CANARY.length);
  });

  it('keeps whitespace-only text and at most one space around the mask', () => {
    assert.equal(maskText('\n    '), '\n    ');
    assert.equal(maskText('  Jane Doe  '), ' ******** ');
  });

  it('caps long text', () => {
    assert.equal(maskText('x'.repeat(5000)).length, 256);
  });

  it('rounds lengths down to a power-of-two bucket, never up to more than the text', () => {
    const lengths = (from: number, to: number): number[] =>
      Array.from({ length: to - from + 1 }, (_, i) => maskText('x'.repeat(from + i)).length);
    assert.deepEqual(new Set(lengths(1, 15)), new Set([8]), 'everything shorter than 16 looks the same');
    assert.deepEqual(new Set(lengths(16, 31)), new Set([16]));
    assert.deepEqual(new Set(lengths(32, 63)), new Set([32]));
    assert.deepEqual(new Set(lengths(256, 600)), new Set([256]));
    for (let n = 8; n < 600; n++) assert.ok(maskText('x'.repeat(n)).length <= n, `length ${n}`);
    assert.equal(maskText('\u00a0Jane Doe\u2003'), ' ******** ', 'Unicode spaces count as whitespace, like trim()');
  });

  it('uses a constant field placeholder', () => {
    assert.equal(FIELD_PLACEHOLDER, '*****');
  });
});

describe('sanitizeUrl', () => {
  it('keeps origin and path, drops query and fragment, templates ids', () => {
    assert.equal(
      sanitizeUrl(`/patients/12345/notes?ssn=${CANARY}#${CANARY}`, BASE),
      'https://clinic.example.org/patients/:id/notes',
    );
    assert.equal(
      sanitizeUrl('https://cdn.example.org/visits/3f2504e0-4f89-11d3-9a0c-0305e82c3301/summary', BASE),
      'https://cdn.example.org/visits/:id/summary',
    );
    assert.equal(sanitizeUrl('/records/MRN0012345/scan.pdf', BASE), 'https://clinic.example.org/records/:id/scan.pdf');
    assert.equal(sanitizeUrl('/files/20231231.pdf', BASE), 'https://clinic.example.org/files/:id.pdf');
    assert.equal(sanitizeUrl('/people/jane.doe@example.org', BASE), 'https://clinic.example.org/people/:id');
    assert.equal(sanitizeUrl('/static/app.css?v=3', BASE), 'https://clinic.example.org/static/app.css');
  });

  it('drops credentials and every scheme but http(s)', () => {
    assert.equal(sanitizeUrl('https://user:secret@clinic.example.org/a', BASE), 'https://clinic.example.org/a');
    assert.equal(sanitizeUrl('javascript:alert(1)', BASE), undefined);
    assert.equal(sanitizeUrl(' JavaScript:alert(1)', BASE), undefined);
    assert.equal(sanitizeUrl('data:image/png;base64,AAAA', BASE), undefined);
    assert.equal(sanitizeUrl(`mailto:${CANARY}@example.org`, BASE), undefined);
    assert.equal(sanitizeUrl('http://[bad', BASE), undefined);
  });
});

describe('sanitizeCss', () => {
  it('removes content strings, custom property strings and comments', () => {
    const css = `.a::before{content:"${CANARY}"} .b{--who:'${CANARY}';color:red} /* ${CANARY} */`;
    const out = sanitizeCss(css, BASE);
    assert.ok(!out.includes('CANARY'), out);
    assert.match(out, /content:""/);
    assert.match(out, /color:red/);
  });

  it('strips url() queries and fragments, drops data: and javascript: urls', () => {
    const css = `.a{background:url(/img/bg.png?u=${CANARY}#x)} .b{background:url("data:image/png;base64,${CANARY}")} @import "/theme.css?${CANARY}";`;
    const out = sanitizeCss(css, BASE);
    assert.ok(!out.includes('CANARY'), out);
    assert.match(out, /url\("https:\/\/clinic\.example\.org\/img\/bg\.png"\)/);
    assert.match(out, /url\(""\)/);
    assert.match(out, /@import url\("https:\/\/clinic\.example\.org\/theme\.css"\)/);
  });

  it('keeps the strings fonts need, and no attribute selector value (the default hooks keep none)', () => {
    const css = `input[type="checkbox"]{font-family:"Helvetica Neue";align-content:center}`;
    assert.equal(sanitizeCss(css, BASE), `input[type=""]{font-family:"Helvetica Neue";align-content:center}`);
  });

  it('reads escapes before deciding: an escaped url( and attribute selectors written at run time', () => {
    const css = `tr[data-patient="${CANARY}"]{color:red} .a{background:\\75rl(/x?ssn=${CANARY})} .b{background:u\\rl("/y?${CANARY}")}`;
    const out = sanitizeCss(css, BASE);
    assert.ok(!out.includes('CANARY'), out);
    assert.equal(
      out,
      'tr[data-patient=""]{color:red}.a{background:url("https://clinic.example.org/x")}.b{background:url("https://clinic.example.org/y")}',
    );
  });

  it('keeps in-page #fragment references, which the default hooks pass as they are', () => {
    assert.equal(sanitizeCss('a{mask:url(#m);filter:url("#f")}', BASE), 'a{mask:url("#m");filter:url("#f")}');
  });
});

describe('ingestUrl', () => {
  const { doc, close } = makePage('');
  it('derives ws(s)://…/v1/ingest from the collector base URL', () => {
    assert.equal(ingestUrl('http://127.0.0.1:8700', doc), 'ws://127.0.0.1:8700/v1/ingest');
    assert.equal(ingestUrl('https://replay.example.org/base/', doc), 'wss://replay.example.org/base/v1/ingest');
    assert.equal(ingestUrl('wss://replay.example.org/v1/ingest', doc), 'wss://replay.example.org/v1/ingest');
    assert.throws(() => ingestUrl('ftp://x', doc), /options\.endpoint/);
    assert.throws(() => ingestUrl(42, doc), /options\.endpoint/);
    close();
  });
});

describe('globToRegExp', () => {
  it('matches one segment with * and any depth with **', () => {
    const volunteers = globToRegExp('/volunteers/**');
    for (const path of ['/volunteers', '/volunteers/', '/volunteers/12/shifts', '/Volunteers/x']) {
      assert.ok(volunteers.test(path), path);
    }
    assert.ok(!volunteers.test('/volunteersx'));
    assert.ok(!volunteers.test('/patients/volunteers'));
    const one = globToRegExp('/patients/*/billing');
    assert.ok(one.test('/patients/12/billing'));
    assert.ok(!one.test('/patients/12/x/billing'));
  });
});
