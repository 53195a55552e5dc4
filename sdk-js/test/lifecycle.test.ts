// start/stop/flush contract: fail-closed validation, refusal by the collector, and
// no listeners, observers, timers or sockets left behind.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Win } from '../src/types';
import { CANARY, makePage, tick, type Page } from './helpers';

/** Counts live listeners, mutation observers and timers of one jsdom window. */
function instrument(win: Win) {
  // jsdom's selector engine registers its own document listeners on first use.
  win.document.querySelector('*');
  const listeners: { target: EventTarget; type: string; fn: unknown; capture: boolean }[] = [];
  const proto = win.EventTarget.prototype;
  const add = proto.addEventListener;
  const remove = proto.removeEventListener;
  const capture = (o: unknown) => (typeof o === 'boolean' ? o : Boolean((o as { capture?: boolean })?.capture));
  const find = (target: EventTarget, type: string, fn: unknown, c: boolean) =>
    listeners.findIndex((l) => l.target === target && l.type === type && l.fn === fn && l.capture === c);
  proto.addEventListener = function (this: EventTarget, type: string, fn: never, options?: never) {
    if (find(this, type, fn, capture(options)) < 0) listeners.push({ target: this, type, fn, capture: capture(options) });
    return add.call(this, type, fn, options);
  };
  proto.removeEventListener = function (this: EventTarget, type: string, fn: never, options?: never) {
    const i = find(this, type, fn, capture(options));
    if (i >= 0) listeners.splice(i, 1);
    return remove.call(this, type, fn, options);
  };

  const observers = new Set<object>();
  const Base = win.MutationObserver;
  win.MutationObserver = class extends Base {
    observe(target: Node, options?: MutationObserverInit): void {
      observers.add(this);
      super.observe(target, options);
    }
    disconnect(): void {
      observers.delete(this);
      super.disconnect();
    }
  };

  const timers = new Set<unknown>();
  const { setTimeout: st, setInterval: si, clearTimeout: ct, clearInterval: ci } = win;
  win.setTimeout = ((fn: () => void, ms?: number) => {
    const id = st(() => {
      timers.delete(id);
      fn();
    }, ms);
    timers.add(id);
    return id;
  }) as typeof win.setTimeout;
  win.setInterval = ((fn: () => void, ms?: number) => {
    const id = si(fn, ms);
    timers.add(id);
    return id;
  }) as typeof win.setInterval;
  win.clearTimeout = ((id?: number) => {
    timers.delete(id);
    ct(id);
  }) as typeof win.clearTimeout;
  win.clearInterval = ((id?: number) => {
    timers.delete(id);
    ci(id);
  }) as typeof win.clearInterval;

  return {
    get live() {
      return { listeners: listeners.length, observers: observers.size, timers: timers.size };
    },
    /** Event types listened for on the window and on the document. */
    get types() {
      return listeners
        .filter((l) => l.target === (win as unknown) || l.target === win.document)
        .map((l) => `${l.target === win.document ? 'document' : 'window'}:${l.type}`);
    },
  };
}

const IDLE = { listeners: 0, observers: 0, timers: 0 };

/** Everything the recorder hooks outside the DOM tree: property setters, methods, history. */
function patches(win: Win): unknown[] {
  const setter = (proto: object, key: string) => Object.getOwnPropertyDescriptor(proto, key)?.set;
  return [
    setter(win.HTMLInputElement.prototype, 'value'),
    setter(win.HTMLInputElement.prototype, 'checked'),
    setter(win.HTMLTextAreaElement.prototype, 'value'),
    setter(win.HTMLSelectElement.prototype, 'value'),
    setter(win.HTMLSelectElement.prototype, 'selectedIndex'),
    setter(win.HTMLOptionElement.prototype, 'selected'),
    win.Element.prototype.attachShadow,
    win.CSSStyleSheet.prototype.insertRule,
    win.CSSStyleSheet.prototype.deleteRule,
    win.history.pushState,
    win.history.replaceState,
    Object.keys(win.history).length,
  ];
}

function openSockets(page: Page): number {
  return page.collector.sockets.filter((s) => s.readyState !== 3).length;
}

describe('start() validation fails closed', () => {
  const cases: [string, object, RegExp][] = [
    ['an invalid selector', { rules: { mask: ['.ok', 'div['] } }, /rules\.mask\[1\] is not a valid CSS selector/],
    ['an unknown rules key', { rules: { unmaks: ['p'] } }, /rules has an unknown key "unmaks"/],
    ['a non-array rule', { rules: { block: '.x' } }, /rules\.block must be an array/],
    ['a non-string rule', { rules: { unmask: [42] } }, /rules\.unmask\[0\] must be a non-empty string/],
    ['a bad route', { rules: { exclude_routes: ['volunteers/**'] } }, /rules\.exclude_routes\[0\]/],
    ['an unknown option', { maskAll: false }, /unknown option "maskAll"/],
    ['a missing appKey', { appKey: '' }, /options\.appKey/],
    ['a bad endpoint', { endpoint: 'file:///tmp/x' }, /options\.endpoint/],
  ];
  for (const [what, extra, message] of cases) {
    it(`rejects ${what} and records nothing`, async () => {
      const page = makePage('<p>x</p>');
      const meter = instrument(page.win);
      await assert.rejects(page.api.start(page.options(extra as never)), message);
      assert.equal(page.collector.sockets.length, 0, 'no socket opened');
      assert.deepEqual(meter.live, IDLE);
      page.close();
    });
  }

  it('does not echo the rejected selector', async () => {
    const page = makePage('<p>x</p>');
    await assert.rejects(page.api.start(page.options({ rules: { mask: [`[${CANARY}`] } })), (error: Error) => {
      assert.ok(!error.message.includes('CANARY'));
      return true;
    });
    page.close();
  });

  it('rejects without WebSocket', async () => {
    const page = makePage('<p>x</p>');
    (page.win as unknown as { WebSocket: unknown }).WebSocket = undefined;
    await assert.rejects(page.api.start(page.options()), /WebSocket is not available/);
    page.close();
  });
});

describe('start/stop lifecycle', () => {
  it('rejects a second start while recording', async () => {
    const page = makePage('<p>x</p>');
    const first = page.api.start(page.options());
    await assert.rejects(page.api.start(page.options()), /already started/);
    await first;
    page.close();
  });

  it('leaves no listeners, observers, timers or sockets after stop, and can start again', async () => {
    const page = makePage('<p>x</p>');
    const meter = instrument(page.win);
    const options = page.options({ rules: { exclude_routes: ['/volunteers/**'] } });
    const pristine = patches(page.win);
    await page.api.start(options);
    const running = meter.live;
    assert.ok(running.listeners > 0 && running.observers === 1 && running.timers > 0, JSON.stringify(running));
    for (const type of ['window:online', 'window:offline', 'window:pagehide', 'document:visibilitychange']) {
      assert.ok(meter.types.includes(type), `listens for ${type}`);
    }
    await page.api.flush();
    assert.notDeepEqual(patches(page.win), pristine, 'setters, history and CSSOM are hooked while recording');
    page.api.stop();
    assert.deepEqual(meter.live, IDLE);
    assert.deepEqual(meter.types, []);
    assert.deepEqual(patches(page.win), pristine, 'every hook is put back');
    assert.equal(openSockets(page), 0);

    await page.api.start(options);
    assert.deepEqual(
      { ...meter.live, timers: 0 },
      { ...running, timers: 0 },
      'a restart adds exactly the same listeners again',
    );
    await page.api.flush();
    page.api.stop();
    assert.deepEqual(meter.live, IDLE);
    assert.deepEqual(patches(page.win), pristine);
    assert.equal(openSockets(page), 0);
    await assert.rejects(page.api.flush(), /not recording/);
    page.close();
  });

  it('leaves nothing behind after a session rotation (the retired socket included)', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    const meter = instrument(page.win);
    await page.api.start(page.options());
    page.api.identify('nurse.other');
    await tick(20);
    assert.equal(openSockets(page), 2, 'the retired session still waits for its acks');
    page.api.stop();
    assert.deepEqual(meter.live, IDLE);
    assert.equal(openSockets(page), 0);
    page.close();
  });

  it('rejects start() when the collector refuses the app key, warns once and cleans up', async () => {
    const page = makePage('<p>x</p>', {
      helloError: { code: 'unauthorised', reason: 'unknown app key', close: 4001 },
    });
    const meter = instrument(page.win);
    const warnings: string[] = [];
    page.win.console.warn = (message: string) => warnings.push(message);
    // The collector's reason is part of the message, so the page's developer sees why.
    await assert.rejects(page.api.start(page.options()), /collector refused this page \(unauthorised: unknown app key\)$/);
    await tick(20);
    assert.equal(warnings.length, 1);
    assert.ok(!warnings[0].includes('dev'), 'the warning carries no key or user');
    assert.deepEqual(meter.live, IDLE);
    assert.equal(openSockets(page), 0);

    page.collector.behaviour = {};
    await page.api.start(page.options());
    page.close();
  });

  it('stops when the collector later says origin_not_allowed', async () => {
    const page = makePage('<p>x</p>');
    const meter = instrument(page.win);
    const warnings: string[] = [];
    page.win.console.warn = (message: string) => warnings.push(message);
    await page.api.start(page.options());
    page.collector.last.deliver({
      type: 'error',
      code: 'origin_not_allowed',
      reason: 'origin http://127.0.0.1:5999 is not allowed for instance trials;\n add it',
    });
    page.collector.last.drop(4003);
    await tick(20);
    assert.equal(warnings.length, 1);
    assert.equal(
      warnings[0],
      'phi-replay: the collector refused this page (origin_not_allowed: origin http://127.0.0.1:5999 is not allowed for instance trials;  add it)',
      'names the Origin and instance, control characters flattened',
    );
    assert.deepEqual(meter.live, IDLE);
    await assert.rejects(page.api.flush(), /not recording/);
    page.doc.body.appendChild(page.doc.createElement('p')).textContent = CANARY;
    await tick(20);
    assert.equal(page.collector.sockets.length, 1, 'no reconnect after a fatal refusal');
    page.close();
  });

  it('rejects start() when the collector cannot be reached', async () => {
    const page = makePage('<p>x</p>');
    const Base = page.collector.WebSocket as new (url: string) => { drop(code: number): void };
    (page.win as unknown as { WebSocket: unknown }).WebSocket = class extends Base {
      constructor(url: string) {
        super(url);
        this.drop(1006);
      }
    };
    await assert.rejects(page.api.start(page.options()), /could not connect to the collector \(close code 1006\)/);
    page.close();
  });
});
