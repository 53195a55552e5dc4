// The capture surface beyond DOM and input: shadow roots, stylesheets, pointer,
// scroll, viewport, media, SPA navigation, script-set values and custom events.
// Every path is fed canaries; none may reach the wire.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SerializedNode } from '../src/types';
import type { RrwebMutationData } from './unpack';
import { CANARY, CANARY_WORDS, element, fullSnapshot, incremental, nodes, record, textOf, tick, type Page } from './helpers';

async function settle(page: Page, ms = 0): Promise<void> {
  await tick(ms);
  await page.api.flush();
}

function noCanary(page: Page): void {
  assert.ok(!page.collector.wire.includes('CANARY'), 'a canary reached the wire');
}

describe('shadow roots', () => {
  it('records open shadow roots masked, in the snapshot and in later changes', async () => {
    const page = await record('<div id="host"></div><nav data-replay-unmask><span id="uhost"></span></nav>', {}, undefined);
    page.api.stop();
    const host = page.doc.getElementById('host')!;
    host.attachShadow({ mode: 'open' }).innerHTML = `<p title="${CANARY}">${CANARY}</p>`;
    page.doc.getElementById('uhost')!.attachShadow({ mode: 'open' }).innerHTML = '<b>Schedule</b>';
    page.collector.batches = [];
    await page.api.start(page.options());
    await settle(page);
    const snap = fullSnapshot(page);
    const serialHost = element(snap, 'div', 'host');
    assert.equal(serialHost.isShadowHost, true);
    const p = element(serialHost, 'p');
    assert.equal(p.isShadow, true);
    assert.deepEqual(p.attributes, {});
    assert.match(textOf(p), /^\*+$/);
    assert.equal(textOf(element(snap, 'span', 'uhost')), 'Schedule', 'unmask reaches into shadow roots');

    host.shadowRoot!.appendChild(page.doc.createElement('i')).textContent = CANARY;
    (host.shadowRoot!.firstChild as Element).firstChild!.textContent = `${CANARY} changed to a longer text`;
    await settle(page);
    const [m] = incremental(page, 0) as RrwebMutationData[];
    const added = m.adds.find((a) => a.node.type === 2)!;
    assert.equal(added.parentId, serialHost.id);
    assert.equal((added.node as { isShadow?: boolean }).isShadow, true);
    assert.ok(m.texts.length === 1 && /^\*+$/.test(m.texts[0].value));
    noCanary(page);
    page.close();
  });

  it('re-sends a recorded element that gets a shadow root later', async () => {
    const page = await record('<main><div id="late"></div></main>');
    const root = page.doc.getElementById('late')!.attachShadow({ mode: 'open' });
    root.innerHTML = `<em>${CANARY}</em>`;
    await settle(page);
    const [m] = incremental(page, 0) as RrwebMutationData[];
    assert.equal(m.removes.length, 1);
    const host = m.adds.find((a) => a.node.type === 2 && a.node.tagName === 'div')!.node as { isShadowHost?: boolean };
    assert.equal(host.isShadowHost, true);
    assert.ok(m.adds.some((a) => a.node.type === 2 && a.node.tagName === 'em' && a.node.isShadow));
    noCanary(page);
    page.close();
  });
});

describe('stylesheets', () => {
  it('sends CSSOM rules of an empty <style> as sanitised _cssText, and later insertRule changes', async () => {
    const page = makeStyled();
    await page.ready;
    const style = element(fullSnapshot(page.page), 'style', 'dyn');
    const css = style.attributes._cssText as string;
    assert.ok(css.includes(`.${page.page.api.pseudonym('a')}::before`), css);
    assert.ok(!css.includes('CANARY'), 'content: strings are removed');
    const sheet = (page.page.doc.getElementById('dyn') as HTMLStyleElement).sheet!;
    sheet.insertRule(`.b::after { content: "${CANARY}"; background: url(/img/9912345/x.png?who=${CANARY}) }`, 0);
    sheet.deleteRule(1);
    await settle(page.page);
    const [m] = incremental(page.page, 0) as RrwebMutationData[];
    const changed = m.attributes[0].attributes._cssText as string;
    assert.ok(changed.includes(`.${page.page.api.pseudonym('b')}::after`), changed);
    assert.match(changed, /url\("https:\/\/clinic\.example\.org\/img\/:id\/:id\.png"\)/);
    noCanary(page.page);
    page.page.close();
  });

  it('re-sends a <style> as its parsed sheet when its CSSOM or its text changes', async () => {
    const page = await record('<style id="s">.x { color: red }</style><p>x</p>');
    const style = page.doc.getElementById('s') as HTMLStyleElement;
    style.sheet!.insertRule(`.y { --who: "${CANARY}" }`, 1);
    await settle(page);
    style.firstChild!.textContent = `.z { color: blue } .w { content: "${CANARY}" }`;
    await settle(page);
    const sent = (incremental(page, 0) as RrwebMutationData[]).flatMap((m) => m.attributes.map((a) => a.attributes._cssText));
    assert.equal(sent.length, 2, 'one _cssText per change, never the text itself');
    assert.ok(String(sent[0]).includes(`.${page.api.pseudonym('y')} `), String(sent[0]));
    assert.ok(String(sent[1]).includes(`.${page.api.pseudonym('z')} `), String(sent[1]));
    noCanary(page);
    page.close();
  });
});

function makeStyled() {
  const html = '<style id="dyn"></style><p>x</p>';
  let page!: Page;
  const ready = (async () => {
    const { makePage } = await import('./helpers');
    page = makePage(html);
    const sheet = (page.doc.getElementById('dyn') as HTMLStyleElement).sheet!;
    sheet.insertRule(`.a::before { content: "${CANARY}"; color: red }`, 0);
    await page.api.start(page.options());
    await page.api.flush();
  })();
  return {
    ready,
    get page() {
      return page;
    },
  };
}

describe('pointer, scroll, viewport and media', () => {
  it('sends sampled mouse positions in one batched event, and focus/blur', async () => {
    const page = await record('<main id="m"><input id="f"></main>');
    const main = page.doc.getElementById('m')!;
    for (let i = 0; i < 3; i++) {
      main.dispatchEvent(new page.win.MouseEvent('mousemove', { bubbles: true, clientX: 10 + i, clientY: 20 }));
      await tick(60);
    }
    page.doc.getElementById('f')!.focus();
    page.doc.getElementById('f')!.blur();
    await settle(page, 600);
    const moves = incremental(page, 1) as { positions: { x: number; y: number; id: number; timeOffset: number }[] }[];
    assert.equal(moves.length, 1);
    assert.equal(moves[0].positions.length, 3);
    assert.ok(moves[0].positions.every((p) => p.timeOffset <= 0 && p.y === 20 && p.id > 0));
    const interactions = (incremental(page, 2) as { type: number }[]).map((e) => e.type);
    assert.deepEqual(interactions, [5, 6]);
    page.close();
  });

  it('sends page and element scroll positions, viewport size and media state', async () => {
    const page = await record('<div id="box" style="overflow:auto"></div><video id="v" src="/v/123.mp4"></video>');
    const box = page.doc.getElementById('box')!;
    box.scrollTop = 40;
    box.dispatchEvent(new page.win.Event('scroll'));
    page.doc.dispatchEvent(new page.win.Event('scroll'));
    (page.win as unknown as { innerWidth: number }).innerWidth = 500;
    page.win.dispatchEvent(new page.win.Event('resize'));
    page.doc.getElementById('v')!.dispatchEvent(new page.win.Event('play'));
    page.doc.getElementById('v')!.dispatchEvent(new page.win.Event('pause'));
    await settle(page, 250);
    const scrolls = incremental(page, 3) as { id: number; y: number }[];
    assert.equal(scrolls.length, 2);
    assert.ok(scrolls.some((s) => s.y === 40));
    assert.deepEqual(incremental(page, 4), [{ source: 4, width: 500, height: page.win.innerHeight }]);
    const media = incremental(page, 7) as { type: number }[];
    assert.deepEqual(media.map((m) => m.type), [0, 1]);
    assert.ok(!page.collector.wire.includes('123.mp4'));
    page.close();
  });
});

describe('values set by script, without events', () => {
  const HTML = `<input id="m"><textarea id="t"></textarea><input id="c" type="checkbox">
    <select id="s"><option>${CANARY}</option><option>b</option></select>
    <div data-replay-unmask><input id="u"><input id="p" type="password"></div>`;

  it('sends the placeholder (once) for masked fields and the value for unmasked ones', async () => {
    const page = await record(HTML);
    const get = <T>(id: string) => page.doc.getElementById(id) as T;
    get<HTMLInputElement>('m').value = CANARY;
    get<HTMLInputElement>('m').value = `${CANARY}2`;
    get<HTMLTextAreaElement>('t').value = CANARY;
    get<HTMLInputElement>('c').checked = true;
    get<HTMLSelectElement>('s').selectedIndex = 1;
    get<HTMLInputElement>('p').value = CANARY_WORDS;
    get<HTMLInputElement>('u').value = 'Ward 4';
    await settle(page);
    const events = incremental(page, 5) as { text: string; isChecked: boolean }[];
    assert.equal(events.length, 6, 'one per field');
    assert.equal(events.filter((e) => e.text === '*****' && !e.isChecked).length, 5);
    assert.ok(events.some((e) => e.text === 'Ward 4'));
    noCanary(page);
    page.close();
  });

  it('puts the original setters back on stop', async () => {
    const page = await record(HTML);
    page.api.stop();
    const proto = page.win.HTMLInputElement.prototype;
    const before = page.collector.events.length;
    (page.doc.getElementById('m') as HTMLInputElement).value = CANARY;
    assert.equal(Object.getOwnPropertyDescriptor(proto, 'value')!.set!.name, 'set value');
    assert.equal(page.collector.events.length, before);
    page.close();
  });
});

describe('single-page navigation', () => {
  it('sends a new Meta with the sanitised URL on pushState, replaceState and popstate', async () => {
    const page = await record('<p>x</p>');
    page.win.history.pushState({}, '', `/patients/98765/visits?q=${CANARY}#${CANARY}`);
    page.win.history.replaceState({}, '', '/schedule');
    await settle(page);
    const metas = page.collector.events.filter((e) => e.type === 4).map((e) => (e.data as { href: string }).href);
    assert.deepEqual(metas.slice(1), ['https://clinic.example.org/patients/:id/visits', 'https://clinic.example.org/schedule']);
    noCanary(page);
    page.close();
  });

  it('stops capture before the first mutation of an excluded route entered by pushState', async () => {
    const page = await record('<main id="m"><p>x</p></main>', { rules: { exclude_routes: ['/volunteers/**'] } });
    const main = page.doc.getElementById('m')!;
    // A router that renders first and pushes the URL in the same task.
    main.innerHTML = `<p>${CANARY}</p>`;
    page.win.history.pushState({}, '', '/volunteers/3');
    main.appendChild(page.doc.createElement('p')).textContent = CANARY;
    await settle(page);
    assert.equal(incremental(page, 0).length, 0);
    page.win.history.pushState({}, '', '/patients');
    await settle(page);
    const types = page.collector.events.map((e) => e.type);
    assert.deepEqual(types.slice(-2), [4, 2], 'leaving it starts a fresh Meta + full snapshot');
    noCanary(page);
    page.close();
  });

  it('puts history.pushState and replaceState back on stop', async () => {
    const page = await record('<p>x</p>');
    const { pushState, replaceState } = page.win.History.prototype;
    assert.notEqual(page.win.history.pushState, pushState);
    page.api.stop();
    assert.equal(page.win.history.pushState, pushState);
    assert.equal(page.win.history.replaceState, replaceState);
    assert.ok(!Object.prototype.hasOwnProperty.call(page.win.history, 'pushState'));
    page.close();
  });
});

describe('custom events and identify', () => {
  it('masks payload values unless marked safe; safe values still meet the detector', async () => {
    const page = await record('<p>x</p>');
    assert.equal(
      page.api.addEvent(
        'checkout.step',
        { step: 'review', note: CANARY_WORDS, count: 3, ssn: '900-00-0001', nested: { a: CANARY } as never, ok: true },
        { safe: ['step', 'ssn', 'ok'] },
      ),
      true,
    );
    await settle(page);
    const custom = page.collector.events.find((e) => e.type === 5)!;
    const data = custom.data as { tag: string; payload: Record<string, unknown> };
    assert.equal(data.tag, 'checkout.step');
    assert.equal(data.payload.step, 'review');
    assert.equal(data.payload.ok, true);
    assert.match(String(data.payload.note), /^\*+$/);
    assert.match(String(data.payload.count), /^\*+$/, 'numbers are masked too unless safe');
    assert.match(String(data.payload.ssn), /^\*+$/, 'the detector masks a safe SSN');
    assert.ok(!('nested' in data.payload));
    assert.throws(() => page.api.addEvent(`bad tag ${CANARY}`, {}), /tag must be/);
    noCanary(page);
    page.close();
  });

  it('identify() with a new user starts a new session under that user', async () => {
    const page = await record('<p>x</p>');
    page.api.identify('nurse.demo');
    assert.equal(page.collector.hellos.length, 1, 'same user: same session');
    page.api.identify('dr.smith');
    await settle(page, 20);
    const [first, second] = page.collector.hellos;
    assert.equal(second.user, 'dr.smith');
    assert.notEqual(second.session_id, first.session_id);
    assert.throws(() => page.api.identify(''), /user must be/);
    page.close();
  });
});

describe('more masking paths', () => {
  it('masks contenteditable inside unmask, submit values, srcset queries, cleared textareas', async () => {
    const page = await record(`<div data-replay-unmask>
        <div contenteditable id="ce">${CANARY_WORDS}</div>
        <input type="submit" id="sub" value="Save">
        <button value="${CANARY}">Go</button>
      </div>
      <input type="submit" id="sub2" value="${CANARY}">
      <picture><source srcset="/img/a.png?u=${CANARY} 2x, /img/b.png 640w"></picture>
      <textarea id="ta">${CANARY}</textarea>`);
    const snap = fullSnapshot(page);
    assert.match(textOf(element(snap, 'div', 'ce')), /^\*+$/);
    assert.equal(element(snap, 'input', 'sub').attributes.value, 'Save');
    assert.equal(element(snap, 'input', 'sub2').attributes.value, '*****');
    assert.deepEqual(element(snap, 'button').attributes, {});
    assert.equal(element(snap, 'source').attributes.srcset, 'https://clinic.example.org/img/:id.png 2x, https://clinic.example.org/img/:id.png 640w');
    assert.equal(element(snap, 'textarea', 'ta').attributes.value, '*****');
    const ta = page.doc.getElementById('ta') as HTMLTextAreaElement;
    ta.setRangeText('', 0, ta.value.length);
    ta.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    page.doc.getElementById('ce')!.firstChild!.textContent = `${CANARY_WORDS} more`;
    await settle(page);
    assert.deepEqual((incremental(page, 5) as { text: string }[]).map((e) => e.text), ['*****']);
    noCanary(page);
    page.close();
  });

  it('masks document.title set by script, and attributes set by script', async () => {
    const page = await record('<head><title>Chart</title></head><body><p id="p">x</p></body>');
    page.doc.title = CANARY;
    const p = page.doc.getElementById('p')!;
    p.setAttribute('title', CANARY);
    p.setAttribute('data-mrn', CANARY);
    p.setAttribute('onclick', CANARY);
    p.setAttribute('aria-label', CANARY);
    p.setAttribute('class', 'ok');
    await settle(page);
    const all = (incremental(page, 0) as RrwebMutationData[]).flatMap((m) => [...m.adds, ...m.texts, ...m.attributes]);
    assert.ok(all.length > 0);
    assert.deepEqual(
      (incremental(page, 0) as RrwebMutationData[]).flatMap((m) => m.attributes.map((a) => a.attributes)),
      [{ class: page.api.pseudonym('ok') }],
    );
    noCanary(page);
    page.close();
  });

  it('drops SVG text content into masks and keeps scripts, comments and templates out', async () => {
    const page = await record(`<svg><text>${CANARY}</text></svg><!-- ${CANARY} --><script>var a="${CANARY}"</script>
      <template><p>${CANARY}</p></template><noscript>${CANARY}</noscript>`);
    const all: SerializedNode[] = nodes(fullSnapshot(page));
    assert.ok(all.every((n) => n.type !== 2 || !['script', 'noscript'].includes(n.tagName)));
    noCanary(page);
    page.close();
  });
});
