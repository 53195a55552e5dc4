// Unit tests of the masking primitives: quantised masks, the ingest URL, route globs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIELD_PLACEHOLDER, maskText } from '../src/mask';
import { ingestUrl } from '../src/options';
import { globToRegExp } from '../src/rules';
import { CANARY, makePage } from './helpers';

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
