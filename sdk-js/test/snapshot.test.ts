// Full snapshot masking: every path a string can take out of the initial page.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SerializedElement } from '../src/types';
import { CANARY, CANARY_WORDS, element, fullSnapshot, nodes, record, textOf } from './helpers';

const CLINICAL_RULES = { unmask: ['nav', 'button', 'label', 'h1', 'th'] };

describe('full snapshot', () => {
  it('starts with Meta (sanitised page URL) then a FullSnapshot', async () => {
    const page = await record('<p>hello</p>');
    const [meta, full] = page.collector.events;
    assert.equal(meta.type, 4);
    assert.equal(full.type, 2);
    if (meta.type !== 4 || full.type !== 2) return;
    assert.equal(meta.data.href, 'https://clinic.example.org/patients/:id/chart');
    assert.deepEqual(Object.keys(full.data.initialOffset).sort(), ['left', 'top']);
    assert.equal(full.data.node.type, 0);
    assert.ok(!page.collector.wire.includes('CANARY'), 'URL query, fragment and MRN must not leave');
    page.close();
  });

  it('masks text by default and keeps unmasked labels readable', async () => {
    const page = await record(
      `<nav>Patients</nav><h1>Chart</h1><p id="p">${CANARY}</p>
       <div data-replay-unmask><span id="ok">Ward 4 rota</span></div>`,
      { rules: CLINICAL_RULES },
    );
    const root = fullSnapshot(page);
    assert.equal(textOf(element(root, 'nav')), 'Patients');
    assert.equal(textOf(element(root, 'h1')), 'Chart');
    assert.equal(textOf(element(root, 'span', 'ok')), 'Ward 4 rota');
    assert.match(textOf(element(root, 'p', 'p')), /^\*{8,}$/);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('lets mask win over unmask, and masks detector hits inside unmask regions', async () => {
    const page = await record(
      `<div data-replay-unmask><span class="pii" id="a">${CANARY_WORDS}</span>
        <span id="b">SSN 900-00-0001</span><span id="c">jane@example.org</span></div>
       <section data-replay-mask><nav id="d">${CANARY_WORDS}</nav></section>`,
      { rules: { mask: ['.pii'], unmask: ['nav'] } },
    );
    const root = fullSnapshot(page);
    for (const id of ['a', 'b', 'c']) assert.match(textOf(element(root, 'span', id)), /^\*+$/, id);
    assert.match(textOf(element(root, 'nav', 'd')), /^\*+$/);
    assert.ok(!page.collector.wire.includes('CANARY'));
    assert.ok(!page.collector.wire.includes('900-00-0001'));
    page.close();
  });

  it('masks form values with a constant placeholder, even inside unmask regions for sensitive fields', async () => {
    const page = await record(
      `<form>
         <input id="plain" value="${CANARY}-1">
         <textarea id="notes">${CANARY}-2</textarea>
         <select id="sel"><option value="${CANARY}-3" selected>${CANARY}-4</option></select>
         <input id="box" type="checkbox" checked>
         <div data-replay-unmask>
           <input id="room" value="Room 4">
           <input id="pw" type="password" value="${CANARY_WORDS}-5">
           <input id="hid" type="hidden" value="${CANARY_WORDS}-6">
           <input id="card" autocomplete="cc-number" value="${CANARY_WORDS}-7">
           <input id="otp" autocomplete="one-time-code" value="${CANARY_WORDS}-8">
           <input id="weird" type="ssn" value="${CANARY_WORDS}-9">
           <input id="ok" type="checkbox" checked>
           <select id="grade"><option value="1">Low</option><option value="2" selected>High</option></select>
           <select id="cc" autocomplete="cc-exp-month"><option value="${CANARY_WORDS}" selected>${CANARY_WORDS}</option></select>
         </div>
       </form>`,
    );
    const root = fullSnapshot(page);
    for (const [tag, id] of [
      ['input', 'plain'],
      ['textarea', 'notes'],
      ['select', 'sel'],
      ['input', 'pw'],
      ['input', 'hid'],
      ['input', 'card'],
      ['input', 'otp'],
      ['input', 'weird'],
    ]) {
      assert.equal(element(root, tag, id).attributes.value, '*****', `${tag}#${id}`);
    }
    assert.equal(element(root, 'textarea', 'notes').childNodes.length, 0, 'textarea text child is not recorded');
    assert.match(textOf(element(root, 'select', 'sel')), /^\*+$/);
    assert.equal(element(root, 'input', 'box').attributes.checked, undefined, 'masked checked state must not leak');
    assert.equal(element(root, 'input', 'room').attributes.value, 'Room 4');
    assert.equal(element(root, 'input', 'ok').attributes.checked, true);
    assert.equal(textOf(element(root, 'select', 'grade')), 'LowHigh');
    assert.equal(element(root, 'select', 'grade').attributes.value, '2');
    assert.deepEqual(element(root, 'option').attributes, {}, 'masked option: no value, no selected');
    const options = nodes(element(root, 'select', 'grade')).filter((n) => n.type === 2 && n.tagName === 'option');
    assert.deepEqual(
      options.map((n) => n.type === 2 && n.attributes),
      [{ value: '1' }, { value: '2', selected: true }],
    );
    assert.equal(element(root, 'select', 'cc').attributes.value, '*****');
    assert.match(textOf(element(root, 'select', 'cc')), /^\*+$/);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('passes only allow-listed attributes, sanitising URLs and styles', async () => {
    const page = await record(
      `<a id="link" class="nav-link" href="/patients/12345/notes?ssn=${CANARY}#${CANARY}" title="${CANARY}"
          aria-label="${CANARY}" data-patient="${CANARY}" onclick="alert('${CANARY}')" data-replay-unmask="${CANARY}">x</a>
       <a id="js" href="javascript:alert('${CANARY}')">y</a>
       <input id="f" placeholder="${CANARY}" name="dob">
       <div id="s" role="note" style="background:url(/bg.png?${CANARY});--n:'${CANARY}'" lang="en"></div>
       <link rel="stylesheet" href="/app.css?v=${CANARY}">`,
    );
    const root = fullSnapshot(page);
    assert.deepEqual(element(root, 'a', 'link').attributes, {
      id: page.api.pseudonym('link'),
      class: page.api.pseudonym('nav-link'),
      href: 'https://clinic.example.org/patients/:id/notes',
      'data-replay-unmask': '',
    });
    assert.equal(element(root, 'a', 'js').attributes.href, '', 'a link whose URL may not leave is still a link, to nowhere');
    assert.deepEqual(Object.keys(element(root, 'input', 'f').attributes).sort(), ['id', 'name', 'value']);
    const div = element(root, 'div', 's');
    assert.equal(div.attributes.role, page.api.pseudonym('note'));
    assert.equal(div.attributes.lang, 'en');
    assert.equal(div.attributes.style, `background: url("https://clinic.example.org/:id.png");--${page.api.pseudonym('n')}: "";`);
    assert.equal(element(root, 'link').attributes.href, 'https://clinic.example.org/app.css');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('replaces blocked elements by an empty sized placeholder', async () => {
    const page = await record(
      `<img id="photo" src="/photos/12345.jpg?${CANARY}" alt="${CANARY}" class="avatar">
       <div id="blk" class="card" data-replay-block>${CANARY}<b>${CANARY}</b></div>
       <section id="chart" class="chart">${CANARY}</section>
       <iframe srcdoc="${CANARY}" src="/embed?${CANARY}"></iframe>
       <video src="/v.mp4?${CANARY}"><track src="/t?${CANARY}"></video>`,
      { rules: { block: ['.chart'] } },
    );
    const root = fullSnapshot(page);
    const placeholders = nodes(root).filter(
      (n): n is SerializedElement => n.type === 2 && String(n.attributes.style).startsWith('width'),
    );
    assert.deepEqual(
      placeholders.map((n) => n.tagName),
      ['img', 'div', 'section', 'video'],
    );
    for (const node of placeholders) {
      assert.deepEqual(node.attributes, { style: 'width:0px;height:0px' });
      assert.deepEqual(node.childNodes, []);
    }
    const iframe = nodes(root).find((n) => n.type === 2 && n.attributes.style === 'display:inline-block;width:0px;height:0px');
    assert.ok(iframe && iframe.type === 2 && iframe.tagName === 'div' && iframe.childNodes.length === 0);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('drops comments, scripts, noscript, template content and meta content; masks the title', async () => {
    const page = await record(
      `<!doctype html><html data-replay-unmask><head><title>${CANARY_WORDS}</title>
       <meta name="description" content="${CANARY_WORDS}"><script>var ssn = "${CANARY_WORDS}"</script>
       <style>.x::after{content:"${CANARY_WORDS}"}.y{color:red}</style></head>
       <body><!-- ${CANARY_WORDS} --><noscript>${CANARY_WORDS}</noscript><template><p>${CANARY_WORDS}</p></template>
       <p id="p">Visible label</p></body></html>`,
    );
    const root = fullSnapshot(page);
    assert.equal(nodes(root)[1].type, 1, 'doctype kept');
    assert.match(textOf(element(root, 'title')), /^\*+$/);
    assert.deepEqual(element(root, 'meta').attributes, { name: page.api.pseudonym('description') });
    assert.ok(!nodes(root).some((n) => n.type === 2 && (n.tagName === 'script' || n.tagName === 'noscript')));
    assert.deepEqual(element(root, 'template').childNodes, []);
    const style = element(root, 'style');
    assert.deepEqual(style.childNodes, [], 'a <style> leaves as its parsed sheet, not its text');
    assert.match(String(style.attributes._cssText), /color: red/);
    assert.equal(textOf(element(root, 'p', 'p')), 'Visible label');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('fails closed: a node whose masking throws is dropped, not passed through', async () => {
    const page = await record('<p id="ok">a</p>');
    page.api.stop();
    const doc = page.doc;
    const bad = doc.createElement('div');
    bad.id = 'bad';
    bad.setAttribute('data-replay-block', '');
    bad.textContent = CANARY;
    bad.getBoundingClientRect = () => {
      throw new Error('layout failed');
    };
    doc.body.appendChild(bad);
    page.collector.batches = [];
    await page.api.start(page.options());
    await page.api.flush();
    const root = fullSnapshot(page);
    assert.throws(() => element(root, 'div', 'bad'));
    assert.ok(element(root, 'p', 'ok'));
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('masks the text of an element that only looks like <style>', async () => {
    const page = await record('<p id="p"></p><style id="real">p{color:red}</style>');
    page.api.stop();
    const fake = page.doc.createElementNS('http://www.w3.org/1999/xhtml', 'STYLE');
    fake.textContent = CANARY_WORDS;
    page.doc.getElementById('p')?.appendChild(fake);
    page.collector.batches = [];
    await page.api.start(page.options());
    await page.api.flush();
    const root = fullSnapshot(page);
    // An element of no known kind is recorded under a pseudonym, its text masked.
    const unknown = nodes(root).find((n) => n.type === 2 && /^x-p/.test(n.tagName));
    assert.ok(unknown && /^\*+$/.test(textOf(unknown)));
    assert.equal(element(root, 'style', 'real').attributes._cssText, 'p {color: red;}', 'a real <style> leaves as its parsed sheet');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('drops whitespace-only text where it cannot render, and keeps it elsewhere', async () => {
    const page = await record('<table id="t">\n  <tbody>\n    <tr><td> </td></tr>\n  </tbody>\n</table><p id="p"> </p>');
    const root = fullSnapshot(page);
    const texts = (el: SerializedElement): string[] => el.childNodes.flatMap((n) => (n.type === 3 ? [n.textContent] : []));
    assert.deepEqual(texts(element(root, 'table', 't')), []);
    assert.deepEqual(texts(element(root, 'tbody')), []);
    assert.deepEqual(texts(element(root, 'td')), [' ']);
    assert.deepEqual(texts(element(root, 'p', 'p')), [' ']);
    page.close();
  });

  it('applies selector rules of every form: tags, attributes, classes, combinators', async () => {
    const page = await record(
      `<section data-note><p id="a">${CANARY_WORDS}</p></section>
       <div class="open"><p id="b">Ward 4</p><div contenteditable="FALSE"><p id="c">Ward 5</p></div>
         <div contenteditable><p id="d">${CANARY_WORDS}</p></div><aside><p id="e">${CANARY_WORDS}</p></aside>
         <ul><li id="f">${CANARY_WORDS}</li></ul></div>
       <div id="gw"><div data-hide>${CANARY_WORDS}</div></div>`,
      { rules: { unmask: ['.open', '[data-note]'], mask: ['ASIDE', 'ul > li', '[data-note]'], block: ['[data-hide]'] } },
    );
    const root = fullSnapshot(page);
    assert.equal(textOf(element(root, 'p', 'b')), 'Ward 4');
    assert.equal(textOf(element(root, 'p', 'c')), 'Ward 5', 'contenteditable=false is not editable');
    for (const id of ['a', 'd', 'e']) assert.match(textOf(element(root, 'p', id)), /^\*+$/, id);
    assert.match(textOf(element(root, 'li', 'f')), /^\*+$/);
    const [blocked] = element(root, 'div', 'gw').childNodes as SerializedElement[];
    assert.deepEqual(blocked.childNodes, [], 'blocked by an attribute rule');
    assert.deepEqual(Object.keys(blocked.attributes), ['style']);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('assigns unique numeric ids to every node', async () => {
    const page = await record('<ul><li>a</li><li>b</li></ul>');
    const ids = nodes(fullSnapshot(page)).map((n) => n.id);
    assert.ok(ids.every((id) => Number.isInteger(id) && id > 0));
    assert.equal(new Set(ids).size, ids.length);
    page.close();
  });
});
