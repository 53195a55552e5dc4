// The player's inert pass on whole events: every rule holds whatever element a node id
// turns out to be and in whatever order rrweb applies the adds, since both are the
// recording's claims (e2e/test_hostile_replay.py replays the same attacks in Chromium).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CssToken, cssStream } from '../src/mask';
import { inertEvents as inertEventsOf, inertText } from '../src/player/inert';

/** Whether the browser would fetch something for this stylesheet text. */
function fetches(css: string): boolean {
  const s = cssStream(css);
  for (let t = s.next(); t !== CssToken.EOF; t = s.next()) {
    const name = s.value.toLowerCase();
    if (t === CssToken.Url || t === CssToken.BadUrl) return true;
    if (t === CssToken.Function && ['url', 'image-set', '-webkit-image-set', 'image', 'src', 'cross-fade'].includes(name)) return true;
    if (t === CssToken.AtKeyword && name === 'import') return true;
  }
  return false;
}

type Json = Record<string, any>;

const EXPORT = '/console/sessions/s-victim/export';

function el(id: number, tagName: string, attributes: Json = {}, childNodes: Json[] = []): Json {
  return { type: 2, id, tagName, attributes, childNodes };
}

function snapshot(body: Json[] = [], head: Json[] = []): Json {
  const html = el(2, 'html', {}, [el(3, 'head', {}, head), el(4, 'body', {}, body)]);
  return { type: 2, timestamp: 1, data: { node: { type: 0, id: 1, childNodes: [html] }, initialOffset: { top: 0, left: 0 } } };
}

function mutation(timestamp: number, data: Json): Json {
  return { type: 3, timestamp, data: { source: 0, adds: [], removes: [], texts: [], attributes: [], ...data } };
}

/** The inert events, typed loosely for the assertions. */
function inertEvents(events: Json[]): Json[] {
  return inertEventsOf(events);
}

/** Everything the replay would be given, as one string to search. */
function inert(...events: Json[]): string {
  return JSON.stringify(inertEvents(events));
}

describe('the inert pass keeps no memory a recording could mislead', () => {
  it('a text added before its <style> parent in one add list is made inert', () => {
    const adds = [
      { parentId: 20, nextId: null, node: { type: 3, id: 21, textContent: `body{background:url(${EXPORT})}` } },
      { parentId: 3, nextId: null, node: el(20, 'style') },
    ];
    const out = inert(snapshot(), mutation(2, { adds }));
    assert.ok(!out.includes(EXPORT), out);
    assert.ok(out.includes('background:none'), out);
  });

  it('an add under a missing parent cannot re-label a <link> so that a later href is kept', () => {
    const relabel = mutation(2, { adds: [{ parentId: 999, nextId: null, node: el(10, 'a') }] });
    const change = mutation(3, { attributes: [{ id: 10, attributes: { href: EXPORT } }] });
    const events = inertEvents([snapshot([], [el(10, 'link', { rel: 'stylesheet' })]), relabel, change]);
    assert.deepEqual(events[2].data, { ...change.data, attributes: [{ id: 10, attributes: { href: null } }] });
  });

  it('a text change naming the <style> element itself is CSS', () => {
    const change = mutation(2, { texts: [{ id: 10, value: `@import url(${EXPORT}); p{background:url(${EXPORT})}` }] });
    const out = inert(snapshot([], [el(10, 'style')]), change);
    assert.ok(!out.includes(EXPORT), out);
  });

  it('refresh and animation attributes go from every element, handlers too', () => {
    const change = mutation(2, {
      attributes: [{ id: 10, attributes: { 'http-equiv': 'refresh', content: `0;url=${EXPORT}`, attributeName: 'href', onload: 'x()' } }],
    });
    const events = inertEvents([snapshot([], [el(10, 'div')]), change]);
    assert.deepEqual(events[1].data.attributes[0].attributes, { 'http-equiv': null, content: null, attributeName: null, onload: null });
  });

  it('keeps raster data: images and in-page fragments, nothing else that could fetch', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const svg = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'/>";
    const body = [
      el(10, 'img', { src: png }),
      el(11, 'img', { src: svg }),
      el(12, 'a', { href: '/patients/:id' }),
      el(13, 'use', { href: '#icon' }),
      el(14, 'link', { href: EXPORT, rel: 'stylesheet' }),
      el(15, 'form', { action: EXPORT }),
      el(16, 'img', { attributionsrc: EXPORT }),
    ];
    const [, full] = inertEvents([{ type: 4, timestamp: 0, data: { href: 'http://app.test/' } }, snapshot(body)]);
    const nodes = full.data.node.childNodes[0].childNodes[1].childNodes.map((n: Json) => n.attributes);
    assert.deepEqual(nodes, [
      { src: png },
      { src: null },
      { href: '#' }, // still a link, leading nowhere
      { href: '#icon' },
      { href: null, rel: 'stylesheet' },
      { action: null },
      { attributionsrc: null },
    ]);
  });

  it('leaves ordinary text as it reads', () => {
    for (const text of ['Patients', 'a:b; c{d}', "it's \"fine"]) assert.equal(inertText(text), text);
    // With a `(` or `@`, only a newline at each edge (which no CSS token crosses).
    for (const text of ["Patient's chart (draft) /* as typed */", 'Ward 3 (north): "fine', 'mail @ ward']) {
      assert.equal(inertText(text), `\n${text}\n`);
    }
  });

  it('texts joined in one <style> fetch nothing, whatever each leaves open', () => {
    const attacks = [
      ['ur', 'l(/x)'],
      ['u', 'r', 'l(/x)'],
      ['@', "import '/x';"],
      ['@imp', "ort '/x';"],
      ['a{content:"', '"; background: url(/x)}'],
      ["a{content:'", "x'; background: url(/x)}"],
      // An escaped newline continues a string: the newline at a text's edge must not.
      ['a{content:"abc\\', '\n"; background: url(/x)}'],
      ['/*', '"*/ a{background: url(/x)}"'],
      ['a{b:url(', '/x)}'],
      ['"', 'a{content:"url(/x)"}'],
      ['x{b:', 'image-set(', '"/x" 1x)}'],
    ];
    for (const parts of attacks) {
      const joined = parts.map(inertText).join('');
      assert.equal(fetches(joined), false, JSON.stringify([parts, joined]));
      // and the attack is real: the parts as they came do fetch
      assert.equal(fetches(parts.join('')), true, JSON.stringify(parts));
    }
  });
});
