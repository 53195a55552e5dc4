// Mutations: added nodes, text changes and attribute changes go through the same mask.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PackedElement } from '../src/types';
import type { RrwebMutationData } from './unpack';
import { CANARY, CANARY_WORDS, fullSnapshot, incremental, nodes, record, tick, type Page } from './helpers';

async function mutations(page: Page, change: (doc: Document) => void): Promise<RrwebMutationData[]> {
  const before = incremental(page, 0).length;
  change(page.doc);
  await tick();
  await page.api.flush();
  return incremental(page, 0).slice(before) as RrwebMutationData[];
}

const HTML = `<nav data-replay-unmask id="nav">Home</nav><main id="main"><p id="p">x</p></main>
  <div id="blk" data-replay-block></div>`;

describe('mutations', () => {
  it('masks the text of added nodes and keeps unmasked additions readable', async () => {
    const page = await record(HTML);
    const [m] = await mutations(page, (doc) => {
      const p = doc.createElement('p');
      p.textContent = CANARY;
      p.setAttribute('title', CANARY);
      doc.getElementById('main')!.appendChild(p);
      const link = doc.createElement('a');
      link.textContent = 'Schedule';
      doc.getElementById('nav')!.appendChild(link);
    });
    const texts = m.adds.flatMap((add) => (add.node.type === 3 ? [add.node.textContent] : []));
    assert.equal(texts.length, 2);
    assert.ok(texts.includes('Schedule'));
    assert.ok(texts.some((t) => /^\*+$/.test(t)));
    for (const add of m.adds) {
      if (add.node.type === 2) assert.deepEqual(add.node.attributes, {});
    }
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('masks changed text and sends an unchanged mask only once', async () => {
    const page = await record(HTML);
    const text = page.doc.getElementById('p')!.firstChild as Text;
    const [m] = await mutations(page, () => {
      text.data = CANARY;
    });
    assert.equal(m.texts.length, 1);
    assert.match(m.texts[0].value, /^\*+$/);
    const again = await mutations(page, () => {
      text.data = 'CANARY-SSN-900-00-0009';
    });
    assert.equal(again.length, 0, 'same bucket: nothing to send, no keystroke timing');
    const nav = await mutations(page, (doc) => {
      doc.getElementById('nav')!.firstChild!.textContent = 'Patients';
    });
    assert.equal(nav[0].texts[0].value, 'Patients');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('sends allow-listed attribute changes only, sanitised', async () => {
    const page = await record(HTML);
    const [m] = await mutations(page, (doc) => {
      const p = doc.getElementById('p')!;
      p.setAttribute('title', CANARY);
      p.setAttribute('data-patient', CANARY);
      p.setAttribute('class', 'highlight');
      p.setAttribute('style', `background:url(/x.png?${CANARY})`);
      doc.getElementById('nav')!.setAttribute('aria-label', CANARY);
    });
    assert.equal(m.attributes.length, 1);
    assert.deepEqual(m.attributes[0].attributes, {
      class: page.api.pseudonym('highlight'),
      style: 'background: url("https://clinic.example.org/:id.png");', // as the browser parsed it
    });
    assert.ok(!page.collector.wire.includes('highlight'), 'a class name leaves only as its pseudonym');
    const removed = await mutations(page, (doc) => doc.getElementById('p')!.removeAttribute('class'));
    assert.deepEqual(removed[0].attributes[0].attributes, { class: null });
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('records removals and ignores changes inside blocked elements', async () => {
    const page = await record(HTML);
    const [m] = await mutations(page, (doc) => {
      doc.getElementById('p')!.remove();
      const inside = doc.createElement('span');
      inside.textContent = CANARY;
      doc.getElementById('blk')!.appendChild(inside);
    });
    assert.equal(m.removes.length, 1);
    assert.equal(m.adds.length, 0);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('replaces an element that becomes blocked by its placeholder', async () => {
    const page = await record(`<div data-replay-unmask><section id="s">Readable</section></div>`);
    const [m] = await mutations(page, (doc) => {
      const s = doc.getElementById('s')!;
      s.setAttribute('data-replay-block', '');
      s.appendChild(doc.createTextNode(CANARY_WORDS));
    });
    assert.equal(m.removes.length, 1);
    assert.equal(m.adds.length, 1);
    assert.deepEqual(m.adds[0].node, { ...m.adds[0].node, tagName: 'section', childNodes: [] });
    const later = await mutations(page, (doc) => {
      (doc.getElementById('s')!.firstChild as Text).data = 'Also readable';
    });
    assert.equal(later.length, 0, 'text inside a now-blocked element is not sent');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('sends an added subtree as one packed add, which expands to one add per node in an order rrweb can replay', async () => {
    const page = await record(HTML);
    const known = new Set(nodes(fullSnapshot(page)).map((n) => n.id));
    const [m] = await mutations(page, (doc) => {
      const main = doc.getElementById('main')!;
      main.insertBefore(doc.createElement('hr'), main.firstChild);
      const list = doc.createElement('ul');
      list.innerHTML = '<li>Triage</li><!-- note --><li>Ward <b>4</b></li>';
      doc.getElementById('nav')!.appendChild(list);
      main.appendChild(doc.createElement('hr'));
    });
    // On the wire: one add per subtree, descendants inside it, no empty fields.
    const sent = page.collector.batches.flatMap((b) => b.wire).find((e) => e.type === 3 && e.data.source === 0);
    assert.ok(sent && sent.type === 3 && sent.data.source === 0);
    assert.equal(sent.data.adds.length, 3, 'hr, ul (with its items), hr');
    const ul = sent.data.adds.map((add) => add.node).find((node) => 'n' in node && node.n === 'ul') as PackedElement;
    assert.deepEqual(Object.keys(ul).sort(), ['c', 'i', 'n'], 'no empty attributes');
    assert.deepEqual(
      ul.c!.map((li) => (li as PackedElement).n),
      ['li', 'li'],
    );
    assert.deepEqual((ul.c![0] as PackedElement).c, [{ i: (ul.c![0] as PackedElement).i + 1, x: 'Triage' }]);
    // As the collector expands it for the player.
    assert.equal(m.adds.length, 9, 'hr, ul, li, text, li, text, b, text, hr');
    for (const add of m.adds) {
      assert.ok(known.has(add.parentId), 'parent is known before its child');
      if (add.nextId !== null) assert.ok(known.has(add.nextId), 'next sibling is known before');
      if ('childNodes' in add.node) assert.deepEqual(add.node.childNodes, []);
      known.add(add.node.id);
    }
    const texts = m.adds.flatMap((add) => (add.node.type === 3 ? [add.node.textContent] : []));
    assert.deepEqual(texts.sort(), ['4', 'Triage', 'Ward ']);
    page.close();
  });

  it('judges a text change in the scope it has now, after an ancestor gained or lost unmask', async () => {
    const page = await record(HTML);
    const nav = page.doc.getElementById('nav')!;
    const label = nav.firstChild as Text;
    const first = await mutations(page, () => {
      label.data = 'Patients';
    });
    assert.equal(first[0].texts[0].value, 'Patients', 'readable inside unmask');
    // The unmask marker goes in one batch, the text changes in the next.
    await mutations(page, () => nav.removeAttribute('data-replay-unmask'));
    const after = await mutations(page, () => {
      label.data = CANARY_WORDS;
    });
    assert.match(after[0].texts[0].value, /^\*+$/, 'masked once the region is no longer unmasked');
    // Both in one batch.
    nav.setAttribute('data-replay-unmask', '');
    const same = await mutations(page, () => {
      nav.setAttribute('data-replay-mask', '');
      label.data = `${CANARY_WORDS} again`;
    });
    assert.ok(same.every((m) => m.texts.every((t) => /^\*+$/.test(t.value))));
    // And the other way: a region that becomes unmasked shows its next change.
    const p = page.doc.getElementById('p')!;
    await mutations(page, () => p.setAttribute('data-replay-unmask', ''));
    const shown = await mutations(page, () => {
      (p.firstChild as Text).data = 'Ward 4';
    });
    assert.equal(shown[0].texts[0].value, 'Ward 4');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('judges a moved text node in its new place', async () => {
    const page = await record(HTML);
    const label = page.doc.getElementById('nav')!.firstChild as Text;
    await mutations(page, () => {
      label.data = 'Home page';
    });
    await mutations(page, (doc) => doc.getElementById('main')!.appendChild(label));
    const moved = await mutations(page, () => {
      label.data = CANARY_WORDS;
    });
    assert.match(moved[0].texts[0].value, /^\*+$/);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('re-checks rules with pseudo-classes on every change: a state change is no mutation', async () => {
    const page = await record('<input type="checkbox" id="c" checked><span id="s">Consent given</span>', {
      rules: { unmask: ['input:checked + span'] },
    });
    const span = page.doc.getElementById('s')!;
    const shown = await mutations(page, () => {
      (span.firstChild as Text).data = 'Consent given today';
    });
    assert.equal(shown[0].texts[0].value, 'Consent given today');
    (page.doc.getElementById('c') as HTMLInputElement).checked = false; // a property: no record
    const hidden = await mutations(page, () => {
      (span.firstChild as Text).data = CANARY_WORDS;
    });
    assert.match(hidden[0].texts[0].value, /^\*+$/);
    (page.doc.getElementById('c') as HTMLInputElement).checked = true;
    const again = await mutations(page, () => {
      (span.firstChild as Text).data = 'Consent given again';
    });
    assert.equal(again[0].texts[0].value, 'Consent given again', 'readable again, not kept masked');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });
});
