// Mutations: added nodes, text changes and attribute changes go through the same mask.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MutationData } from '../src/types';
import { CANARY, CANARY_WORDS, fullSnapshot, incremental, nodes, record, tick, type Page } from './helpers';

async function mutations(page: Page, change: (doc: Document) => void): Promise<MutationData[]> {
  const before = incremental(page, 0).length;
  change(page.doc);
  await tick();
  await page.api.flush();
  return incremental(page, 0).slice(before) as MutationData[];
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
      class: 'highlight',
      style: 'background:url("https://clinic.example.org/x.png")',
    });
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

  it('sends an added subtree as one add per node, in an order rrweb can replay', async () => {
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
});
