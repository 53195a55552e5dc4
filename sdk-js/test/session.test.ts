// Sessions (one per tab, 30 minutes idle) and excluded routes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IDLE_MS, MAX_SESSION_MS } from '../src/session';
import { CANARY, makePage, tick, type Page } from './helpers';

describe('session', () => {
  it('continues the tab session across restarts and starts a new one after 30 minutes idle', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options());
    page.api.stop();
    await page.api.start(page.options());
    page.api.stop();
    const [a, b] = page.collector.hellos;
    assert.equal(a.session_id, b.session_id);
    assert.equal(a.tab_id, b.tab_id);

    const key = 'phi-replay:session';
    const stored = JSON.parse(page.win.sessionStorage.getItem(key)!);
    assert.equal(stored.sessionId, a.session_id);
    stored.lastActive -= IDLE_MS + 1000;
    page.win.sessionStorage.setItem(key, JSON.stringify(stored));
    await page.api.start(page.options());
    const c = page.collector.hellos[2];
    assert.notEqual(c.session_id, a.session_id);
    assert.equal(c.tab_id, a.tab_id);
    page.close();
  });

  it('starts a new session after the maximum duration, however active the tab is', async () => {
    const page = makePage('<button id="b" type="button">Go</button>');
    await page.api.start(page.options());
    page.api.stop();
    const key = 'phi-replay:session';
    const stored = JSON.parse(page.win.sessionStorage.getItem(key)!);
    stored.startedAt -= MAX_SESSION_MS + 1000;
    page.win.sessionStorage.setItem(key, JSON.stringify(stored));
    await page.api.start(page.options());
    const [a, b] = page.collector.hellos;
    assert.notEqual(b.session_id, a.session_id, 'a reload does not resume an over-long session');

    await page.api.flush();
    const realNow = Date.now;
    Date.now = () => realNow() + MAX_SESSION_MS + 60_000;
    try {
      page.doc.getElementById('b')!.click();
      await tick(20);
    } finally {
      Date.now = realNow;
    }
    const c = page.collector.hellos[2];
    assert.ok(c && c.session_id !== b.session_id, 'activity past the maximum rotates the session');
    page.close();
  });

  it('continues seq numbers within a session after a reload', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options());
    await page.api.flush();
    page.api.stop();
    await page.api.start(page.options());
    await page.api.flush();
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2],
    );
    page.close();
  });

  it('rotates to a new session with a full snapshot on activity after 30 minutes idle', async () => {
    const page = makePage('<button id="b" type="button">Go</button>');
    await page.api.start(page.options());
    await page.api.flush();
    const realNow = Date.now;
    Date.now = () => realNow() + IDLE_MS + 60_000;
    try {
      page.doc.getElementById('b')!.click();
      await tick(20);
      await page.api.flush();
    } finally {
      Date.now = realNow;
    }
    const [first, second] = page.collector.hellos;
    assert.notEqual(second.session_id, first.session_id);
    const newSocket = page.collector.sockets[1];
    const events = newSocket.sent
      .map((frame) => JSON.parse(frame))
      .filter((m) => m.type === 'batch')
      .flatMap((m) => m.events);
    assert.deepEqual(
      events.slice(0, 3).map((e: { type: number; data: { source?: number } }) => [e.type, e.data.source]),
      [
        [4, undefined],
        [2, undefined],
        [3, 2],
      ],
    );
    page.close();
  });
});

describe('excluded routes', () => {
  it('captures nothing on an excluded route and snapshots afresh on leaving it', async () => {
    const page = makePage(
      `<main id="m">${CANARY}</main>`,
      {},
      'https://clinic.example.org/volunteers/42/shifts',
    );
    await page.api.start(page.options({ rules: { exclude_routes: ['/volunteers/**'] } }));
    page.doc.getElementById('m')!.appendChild(page.doc.createElement('p')).textContent = CANARY;
    page.doc.getElementById('m')!.click();
    await tick(20);
    await page.api.flush();
    assert.equal(page.collector.events.length, 0, 'nothing on /volunteers/**');

    page.win.history.pushState({}, '', '/patients');
    page.doc.getElementById('m')!.className = 'patients'; // the router re-renders
    await tick(250); // the DOM settles (100 ms quiet) before the fresh snapshot
    // Leaving snapshots afresh once the router has re-rendered; later changes are mutations.
    page.doc.getElementById('m')!.className = 'patients ready';
    await tick(20);
    await page.api.flush();
    assert.deepEqual(
      page.collector.events.map((e) => e.type),
      [4, 2, 3],
    );

    page.win.history.pushState({}, '', '/Volunteers/7');
    page.doc.getElementById('m')!.appendChild(page.doc.createElement('p')).textContent = 'CANARY-VOL-2';
    await tick(20);
    await page.api.flush();
    assert.equal(page.collector.events.length, 3, 'nothing once back on an excluded route');
    assert.ok(!page.collector.wire.includes('VOL-2'));
    page.close();
  });

  it('records what the excluded view left behind as blocked or masked, even in unmask', async () => {
    const page = makePage(
      `<main id="m" data-replay-unmask><h1>Patients</h1><input id="q"></main>`,
      {},
      'https://clinic.example.org/patients',
    );
    await page.api.start(page.options({ rules: { exclude_routes: ['/volunteers/**'] } }));
    page.win.history.pushState({}, '', '/volunteers/7');
    const view = page.doc.getElementById('m')!.appendChild(page.doc.createElement('section'));
    view.innerHTML = '<h2>CANARY-VOLVIEW-HEADING</h2><input id="v">';
    const field = page.doc.getElementById('q') as HTMLInputElement;
    field.value = 'CANARY-VOLTYPED';
    field.dispatchEvent(new page.win.Event('input', { bubbles: true }));
    await tick(20);
    // The router changes the URL first and re-renders later (say, after a fetch).
    page.win.history.pushState({}, '', '/patients');
    await tick(250); // the DOM settles (100 ms quiet) before the fresh snapshot
    field.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    await tick(20);
    await page.api.flush();
    const wire = page.collector.wire;
    assert.ok(!wire.includes('VOLVIEW'), 'the excluded view is a placeholder');
    assert.ok(!wire.includes('VOLTYPED'), 'a value typed on the excluded route stays masked');
    assert.ok(wire.includes('Patients'), 'what was there before is still readable');
    page.close();
  });
});

describe('a session the collector will not continue', () => {
  const refuse = (code: string) => ({ code, reason: `refused (${code})`, close: 4009 });
  const snapshotsIn = (page: Page, sessionIndex: number) =>
    page.collector.sockets
      .filter((socket) => socket.sent.some((f) => f.includes(String(page.collector.hellos[sessionIndex].session_id))))
      .flatMap((socket) => socket.sent.filter((f) => f.startsWith('{"type":"batch"')))
      .flatMap((f) => (JSON.parse(f) as { events: Array<{ type: number }> }).events.map((e) => e.type));

  for (const [code, newTab] of [
    ['session_mismatch', false],
    ['seq_out_of_range', false],
    ['session_in_use', true],
  ] as const) {
    it(`${code}: start() continues in a fresh session${newTab ? ' of a tab of its own' : ''}, snapshot first`, async () => {
      const page = makePage('<p>x</p>', { refuseHello: (n) => (n === 1 ? refuse(code) : undefined) });
      const warnings: unknown[][] = [];
      page.win.console.warn = (...args: unknown[]) => warnings.push(args);
      await page.api.start(page.options());
      await page.api.flush();
      const [first, second] = page.collector.hellos;
      assert.notEqual(second.session_id, first.session_id);
      assert.equal(second.tab_id !== first.tab_id, newTab);
      assert.equal(second.page_id, first.page_id, 'the same page');
      assert.deepEqual(
        page.collector.batches.map((b) => b.seq),
        [1],
        'numbering starts afresh',
      );
      assert.deepEqual(snapshotsIn(page, 1), [4, 2]);
      assert.equal(warnings.length, 0, 'nothing for the application to act on');
      const stored = JSON.parse(page.win.sessionStorage.getItem('phi-replay:session')!);
      assert.equal(stored.sessionId, second.session_id, 'a reload continues the fresh session');
      page.close();
    });
  }

  it('a conflict after a reconnect moves to a fresh session with a fresh full snapshot', async () => {
    const page = makePage('<p id="p">x</p>', { refuseHello: (n) => (n === 2 ? refuse('session_in_use') : undefined) });
    await page.api.start(page.options());
    await page.api.flush();
    page.collector.last.drop(1006);
    await tick(1200); // the reconnect (at most 0.5 s) and its refusal
    page.doc.getElementById('p')!.className = 'later';
    await page.api.flush();
    const [first, , third] = page.collector.hellos;
    assert.ok(third, 'a hello for the fresh session');
    assert.notEqual(third.session_id, first.session_id);
    assert.deepEqual(snapshotsIn(page, 2).slice(0, 2), [4, 2], 'the fresh session begins with a snapshot');
    page.close();
  });

  it('a page started for another user does not resume the stored session', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options({ user: 'nurse.a' }));
    page.api.stop();
    await page.api.start(page.options({ user: 'nurse.b' }));
    page.api.stop();
    await page.api.start(page.options({ user: 'nurse.b' }));
    const [a, b, c] = page.collector.hellos;
    assert.notEqual(b.session_id, a.session_id, 'another user: a new session');
    assert.equal(c.session_id, b.session_id, 'the same user: the session continues');
    assert.equal(b.tab_id, a.tab_id);
    assert.ok(!page.win.sessionStorage.getItem('phi-replay:session')!.includes('nurse'), 'no user name stored');
    page.close();
  });
});
