// The collector's per-instance configuration (docs/protocol.md, `welcome.config`): its
// rules only add masking, blocking and excluded routes to the application's own; an
// invalid one stops the recorder; `disabled` stops it quietly and sends nothing more.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SerializedNode } from '../src/types';
import {
  CANARY,
  CANARY_WORDS,
  DISABLED,
  element,
  makePage,
  nodes,
  textOf,
  tick,
  type CollectorBehaviour,
  type Page,
} from './helpers';

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(10);
  }
}

/** Start recording with a collector whose every welcome carries `config`. */
async function recordWith(html: string, config: unknown, rules?: object, url?: string): Promise<Page> {
  const page = makePage(html, { config: () => config }, url);
  await page.api.start(page.options(rules ? { rules } : {}));
  await page.api.flush();
  return page;
}

/** The full snapshots received, in order. */
function snapshots(page: Page): SerializedNode[] {
  return page.collector.events.flatMap((e) => (e.type === 2 ? [e.data.node] : []));
}

/** Console output of the page, by level. */
function watchConsole(page: Page): Record<'warn' | 'error' | 'debug', string[]> {
  const seen = { warn: [] as string[], error: [] as string[], debug: [] as string[] };
  for (const level of ['warn', 'error', 'debug'] as const) {
    page.win.console[level] = (...args: unknown[]) => seen[level].push(args.map(String).join(' '));
  }
  return seen;
}

/** Frames a socket sent after its hello. */
const afterHello = (page: Page, socket = page.collector.last) => socket.sent.filter((f) => !f.includes('"hello"'));

describe('remote rules only tighten', () => {
  it('a remote mask masks text the application unmasks, in the snapshot and in later changes', async () => {
    // `section` is a bare tag: with the app's attribute-only rules, elements without
    // attributes would inherit their parent's scope unchecked.
    const page = await recordWith(
      `<main data-replay-unmask><h1>Visit schedule</h1><p class="dx">${CANARY_WORDS}</p>` +
        `<section><b>${CANARY_WORDS}</b></section></main>`,
      { mask: ['.dx', 'section'] },
    );
    const snap = snapshots(page)[0];
    assert.equal(textOf(element(snap, 'h1')), 'Visit schedule', 'the app still unmasks the rest');
    assert.match(textOf(element(snap, 'p')), /^\*+$/);
    assert.match(textOf(element(snap, 'section')), /^\*+$/);

    const p = page.doc.createElement('p');
    p.className = 'dx';
    p.textContent = `${CANARY_WORDS} added`;
    page.doc.querySelector('main')!.appendChild(p);
    await tick();
    await page.api.flush();
    assert.ok(page.collector.events.some((e) => e.type === 3), 'the change was recorded');
    assert.ok(!page.collector.wire.includes('CANARY'), 'masked text reached the wire');
    page.close();
  });

  it('a remote block turns the element into an empty placeholder', async () => {
    const page = await recordWith(
      `<main data-replay-unmask><div class="chart" title="t"><b>${CANARY_WORDS}</b></div><p>Ward 3</p></main>`,
      { block: ['.chart'] },
    );
    const chart = element(snapshots(page)[0], 'div');
    assert.equal(chart.childNodes.length, 0);
    assert.deepEqual(Object.keys(chart.attributes), ['style']);
    assert.equal(textOf(element(snapshots(page)[0], 'p')), 'Ward 3');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('a remote excluded route captures nothing while on it, and snapshots afresh after leaving', async () => {
    const page = makePage(`<main id="m">${CANARY}</main>`, { config: () => ({ exclude_routes: ['/volunteers/**'] }) },
      'https://clinic.example.org/volunteers/42');
    await page.api.start(page.options());
    page.doc.getElementById('m')!.appendChild(page.doc.createElement('p')).textContent = CANARY;
    await tick(20);
    await page.api.flush();
    assert.equal(page.collector.events.length, 0, 'nothing on /volunteers/**');

    page.win.history.pushState({}, '', '/patients');
    await tick(250); // the DOM settles (100 ms quiet) before the fresh snapshot
    await page.api.flush();
    assert.deepEqual(page.collector.events.map((e) => e.type), [4, 2]);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('a remote unmask, or any unknown key, reveals nothing and is not an error', async () => {
    const config = { unmask: ['*', 'p'], mask: [], unmask_all: true, masking: false, allow: ['p'], future: 42 };
    const page = makePage(`<p id="p">${CANARY_WORDS}</p><input id="f" value="${CANARY_WORDS}">`, { config: () => config });
    const seen = watchConsole(page);
    await page.api.start(page.options());
    await page.api.flush();
    const snap = snapshots(page)[0];
    assert.match(textOf(element(snap, 'p', 'p')), /^\*+$/);
    assert.equal(element(snap, 'input', 'f').attributes.value, '*****');
    assert.ok(!page.collector.wire.includes('CANARY'));
    assert.deepEqual(seen.warn, []);
    page.close();
  });
});

describe('a changed configuration on reconnect', () => {
  it('takes effect with a fresh full snapshot; the app rules hold throughout', async () => {
    const configs: unknown[] = [{}, { mask: ['.dx'] }, { mask: ['.dx'] }, {}];
    const page = makePage(
      '<main><h1>Schedule</h1><p class="dx">Hypertension</p><p class="own">Room 12</p></main>',
      { config: (n) => configs[n - 1] },
    );
    await page.api.start(page.options({ rules: { unmask: ['main'], mask: ['.own'] } }));
    await page.api.flush();
    const textsOf = (snap: SerializedNode) => ['h1', 'p'].flatMap((tag) =>
      nodes(snap).filter((n) => n.type === 2 && n.tagName === tag).map(textOf));
    const reconnect = async (hellos: number) => {
      page.collector.last.drop(1011);
      await until(() => page.collector.hellos.length === hellos);
      await tick(20);
      await page.api.flush();
    };
    assert.deepEqual(textsOf(snapshots(page)[0]), ['Schedule', 'Hypertension', '********']);

    await reconnect(2); // the collector now masks .dx
    assert.equal(snapshots(page).length, 2, 'a fresh full snapshot');
    assert.deepEqual(textsOf(snapshots(page)[1]), ['Schedule', '********', '********']);
    page.doc.querySelector('.dx')!.textContent = 'Diabetes';
    page.doc.querySelector('.own')!.textContent = 'Room 14';
    await tick();
    await page.api.flush();
    assert.ok(!page.collector.wire.includes('Diabetes') && !page.collector.wire.includes('Room 14'));

    await reconnect(3); // the same configuration: nothing to redo
    assert.equal(snapshots(page).length, 2, 'no snapshot when nothing changed');

    await reconnect(4); // the collector drops its addition; the app's own rule stays
    assert.equal(snapshots(page).length, 3);
    assert.deepEqual(textsOf(snapshots(page)[2]), ['Schedule', 'Diabetes', '********']);
    page.close();
  });

  it("reads the application's rules once: arrays it changes after start() do not count", async () => {
    const configs: unknown[] = [{}, { block: ['.chart'] }];
    const page = makePage(`<p id="p">${CANARY_WORDS}</p>`, { config: (n) => configs[n - 1] });
    const rules = { unmask: [] as string[] };
    await page.api.start(page.options({ rules }));
    await page.api.flush();
    rules.unmask.push('p');
    page.collector.last.drop(1011);
    await until(() => page.collector.hellos.length === 2);
    await tick(20);
    await page.api.flush();
    assert.equal(snapshots(page).length, 2);
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('pauses when the current route becomes excluded', async () => {
    const configs: unknown[] = [{}, { exclude_routes: ['/patients/**'] }];
    const page = makePage('<main id="m">x</main>', { config: (n) => configs[n - 1] });
    await page.api.start(page.options());
    await page.api.flush();
    const before = page.collector.events.length;
    page.collector.last.drop(1011);
    await until(() => page.collector.hellos.length === 2);
    await tick(20);
    page.doc.getElementById('m')!.appendChild(page.doc.createElement('p')).textContent = CANARY;
    page.doc.getElementById('m')!.click();
    await tick(20);
    await page.api.flush();
    assert.equal(page.collector.events.length, before, 'nothing captured on a route the collector now excludes');
    assert.ok(!page.collector.wire.includes('CANARY'));

    page.win.history.pushState({}, '', '/schedule');
    await tick(250); // the DOM settles (100 ms quiet) before the fresh snapshot
    await page.api.flush();
    assert.deepEqual(page.collector.events.slice(before).map((e) => e.type), [4, 2]);
    assert.ok(!page.collector.wire.includes('CANARY'), 'what the excluded view added stays hidden');
    page.close();
  });
});

describe('an invalid remote rule fails closed', () => {
  const cases: [string, unknown, RegExp][] = [
    ['a selector the browser rejects', { mask: ['.ok', 'div['] }, /config\.mask\[1\] is not a valid CSS selector/],
    ['a selector left open', { mask: ['div:not(.a'] }, /config\.mask\[0\] is not a valid CSS selector/],
    ['a non-string', { block: [42] }, /config\.block\[0\] must be a non-empty string/],
    ['a bad glob', { exclude_routes: ['volunteers/**'] }, /config\.exclude_routes\[0\] must be a path/],
    ['a list that is not an array', { block: '.x' }, /config\.block must be an array/],
    ['a config that is not an object', ['mask'], /config must be an object/],
  ];
  for (const [what, config, message] of cases) {
    it(`at the first welcome, ${what}: start() rejects, one warning, nothing sent`, async () => {
      const page = makePage('<p>x</p>', { config: () => config });
      const seen = watchConsole(page);
      await assert.rejects(page.api.start(page.options()), message);
      await tick(400);
      assert.equal(seen.warn.length, 1);
      assert.match(seen.warn[0], message);
      assert.match(seen.warn[0], /recording stopped/);
      assert.deepEqual(afterHello(page), []);
      assert.equal(page.collector.sockets.length, 1, 'no retry');
      assert.equal(page.collector.last.readyState, 3, 'socket closed');
      page.close();
    });
  }

  it('on a reconnect: stops, one warning without page content, no further frames', async () => {
    const configs: unknown[] = [{}, { mask: ['.ok', `[${CANARY}`] }];
    const page = makePage('<p id="p">x</p>', { config: (n) => configs[n - 1] });
    const seen = watchConsole(page);
    const beacons: unknown[] = [];
    Object.defineProperty(page.win.navigator, 'sendBeacon', { configurable: true, value: (...a: unknown[]) => beacons.push(a) });
    const random = Math.random;
    Math.random = () => 0;
    try {
      await page.api.start(page.options());
      await page.api.flush();
      page.collector.last.drop(1011);
      page.doc.getElementById('p')!.textContent = 'changed while away'; // buffered, not yet sent
      await until(() => page.collector.hellos.length === 2);
      await tick(400);
      page.win.dispatchEvent(new page.win.Event('pagehide'));
    } finally {
      Math.random = random;
    }
    assert.equal(seen.warn.length, 1);
    assert.match(seen.warn[0], /config\.mask\[1\] is not a valid CSS selector; recording stopped/);
    assert.ok(!seen.warn[0].includes('CANARY'), 'the rule is named, not quoted');
    assert.deepEqual(afterHello(page), [], 'nothing sent on the socket that brought the rule');
    assert.equal(page.collector.sockets.length, 2);
    assert.equal(page.collector.last.readyState, 3);
    assert.deepEqual(beacons, []);
    assert.equal(page.api.addEvent('x', {}), false);
    await assert.rejects(page.api.flush(), /not recording/);
    page.close();
  });
});

describe('disabled', () => {
  for (const [how, behaviour] of [
    ['an error, then close 4004', { helloError: DISABLED }],
    ['only the close code 4004', { helloError: { ...DISABLED, code: 'protocol' } }],
  ] as [string, CollectorBehaviour][]) {
    it(`at the first handshake (${how}): start() resolves, nothing beyond hello, quiet`, async () => {
      const page = makePage(`<p>${CANARY}</p>`, behaviour);
      const seen = watchConsole(page);
      const random = Math.random;
      Math.random = () => 0;
      try {
        await page.api.start(page.options());
        await tick(400);
      } finally {
        Math.random = random;
      }
      assert.deepEqual(afterHello(page), []);
      assert.equal(page.collector.sockets.length, 1, 'no retry');
      assert.deepEqual([seen.warn, seen.error], [[], []]);
      assert.ok(seen.debug.length <= 1);
      assert.equal(page.api.addEvent('x', {}), false, 'not recording');
      await assert.rejects(page.api.flush(), /not recording/);
      page.close();
    });
  }

  it('on a reconnect: stops, sends nothing buffered (socket or beacon), quiet', async () => {
    const page = makePage('<main id="m">x</main>');
    const seen = watchConsole(page);
    const beacons: unknown[] = [];
    Object.defineProperty(page.win.navigator, 'sendBeacon', { configurable: true, value: (...a: unknown[]) => beacons.push(a) });
    const random = Math.random;
    Math.random = () => 0;
    try {
      await page.api.start(page.options());
      await page.api.flush();
      const batches = page.collector.batches.length;
      page.collector.behaviour.helloError = DISABLED;
      page.collector.last.drop(1011);
      page.doc.getElementById('m')!.appendChild(page.doc.createElement('p')).textContent = CANARY;
      await until(() => page.collector.hellos.length === 2);
      await tick(400);
      page.win.dispatchEvent(new page.win.Event('pagehide'));
      page.doc.getElementById('m')!.click();
      await tick(20);
      assert.equal(page.collector.batches.length, batches, 'no frame after disabled');
    } finally {
      Math.random = random;
    }
    assert.deepEqual(afterHello(page), []);
    assert.equal(page.collector.sockets.length, 2, 'no retry');
    assert.deepEqual(beacons, [], 'no beacon');
    assert.deepEqual([seen.warn, seen.error], [[], []]);
    await assert.rejects(page.api.flush(), /not recording/);
    page.close();
  });

  it('on a live socket: what is buffered is dropped, not sent as a tail', async () => {
    const page = makePage('<p>x</p>');
    const seen = watchConsole(page);
    await page.api.start(page.options());
    await page.api.flush();
    const frames = page.collector.last.sent.length;
    assert.ok(page.api.addEvent('pending', {}), 'queued for the next batch');
    page.collector.last.deliver({ type: 'error', code: 'disabled', reason: 'recording window closed' });
    page.collector.last.drop(4004);
    await tick(1200); // past the batch timer
    assert.equal(page.collector.last.sent.length, frames, 'the queued event was not sent');
    assert.equal(page.collector.sockets.length, 1);
    assert.deepEqual([seen.warn, seen.error], [[], []]);
    page.close();
  });
});
