// Captured CSS through the recorder's own hooks: the pseudonyms of the page's
// identifiers, the URL rule, and attribute selectors judged like the attributes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { element, fullSnapshot, record, tick } from './helpers';

const CANARY = 'CANARY-CSS-HOOKS-01';

describe('captured CSS', () => {
  it('rewrites selectors with the same pseudonyms as the markup, so styling still applies', async () => {
    const page = await record(`<style>
        .dx-flag { color: red } #row-roe > td { padding: 2px } label[for="dob"] { font-weight: bold }
        input[type="checkbox"] { margin: 0 } tr[data-patient="${CANARY}"] { color: blue }
        .icon { fill: url(#grad-roe) } .a { background: \\75rl(/avatars/${CANARY}.png?q=${CANARY}) }
      </style>
      <table><tr id="row-roe"><td class="dx-flag">x</td></tr></table>
      <label for="dob">Date</label><input id="dob"><input type="checkbox">
      <svg><linearGradient id="grad-roe"></linearGradient></svg>`);
    const css = String(element(fullSnapshot(page), 'style').attributes._cssText);
    const p = (token: string): string => page.api.pseudonym(token) ?? `(none for ${token})`;
    assert.ok(css.includes(`.${p('dx-flag')}{`) || css.includes(`.${p('dx-flag')} {`), css);
    assert.ok(css.includes(`#${p('row-roe')}`), css);
    assert.ok(css.includes(`label[for="${p('dob')}"]`), css);
    assert.ok(css.includes('input[type="checkbox"]'), 'an attribute the recorder keeps, with a value of its kind');
    assert.ok(css.includes(`tr[${p('data-patient')}=""]`), 'an attribute the recorder drops: its name a pseudonym, no value');
    assert.ok(css.includes(`url("#${p('grad-roe')}")`), css);
    assert.ok(css.includes('url("https://clinic.example.org/:id/:id.png")'), css);
    for (const token of ['dx-flag', 'row-roe', 'grad-roe', 'CANARY']) assert.ok(!page.collector.wire.includes(token), token);
    page.close();
  });

  it('sends a CSSOM rule added at run time through the same policy', async () => {
    const page = await record('<style id="s"></style><p class="status">x</p>');
    const sheet = (page.doc.getElementById('s') as HTMLStyleElement).sheet!;
    sheet.insertRule(`p.status[data-patient="${CANARY}"]::after { content: "${CANARY}"; color: green }`, 0);
    await tick();
    await page.api.flush();
    assert.ok(page.collector.wire.includes(`.${page.api.pseudonym('status')}`));
    assert.ok(!page.collector.wire.includes('CANARY') && !page.collector.wire.includes('status'));
    page.close();
  });
});
