// Reconnect policy of the transport, on a manual clock: exponential backoff with jitter,
// reset by an ack, and no attempts while the browser is offline.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Transport } from '../src/transport';
import type { Win } from '../src/types';
import { FakeCollector, tick } from './helpers';

/** Timers that run only when the test says so. */
class Clock {
  private id = 0;
  readonly timers = new Map<number, { fn: () => void; ms: number }>();
  setTimeout = (fn: () => void, ms = 0): number => {
    this.timers.set(++this.id, { fn, ms });
    return this.id;
  };
  clearTimeout = (id?: number): void => {
    if (id !== undefined) this.timers.delete(id);
  };
  /** The one pending timer (the reconnect, once a socket is lost); runs it and returns its delay. */
  fireOnly(): number {
    assert.equal(this.timers.size, 1, `exactly one timer pending, got ${[...this.timers.values()].map((t) => t.ms)}`);
    const [[id, timer]] = [...this.timers];
    this.timers.delete(id);
    timer.fn();
    return timer.ms;
  }
}

function setup(collector: FakeCollector) {
  const clock = new Clock();
  const net = { onLine: true };
  const target = new EventTarget();
  const win = Object.assign(target, {
    WebSocket: collector.WebSocket,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    navigator: net,
  }) as unknown as Win;
  const transport = new Transport({
    win,
    url: 'ws://127.0.0.1:8700/v1/ingest',
    beaconUrl: 'http://127.0.0.1:8700/v1/beacon',
    hello: {
      app_key: 'dev',
      session_id: 's-abcdefgh',
      tab_id: 't-abcdefgh',
      user: 'nurse.demo',
      environment: 'dev',
      page_id: 'd-abcdefgh',
    },
    firstSeq: 1,
    retryFirst: true,
    bufferBytes: 1_000_000,
    onSeq: () => undefined,
    onWelcome: () => undefined,
    onFatal: () => undefined,
    onFull: () => undefined,
    onConflict: () => null,
    onTooLarge: () => undefined,
  });
  const go = (online: boolean) => {
    net.onLine = online;
    target.dispatchEvent(new Event(online ? 'online' : 'offline'));
  };
  return { clock, transport, go };
}

/** A collector that accepts the socket and then fails it (close 1011 after an `internal` error). */
const failing = () => new FakeCollector({ helloError: { code: 'internal', reason: 'not durable', close: 1011 } });

/** Waits until the current socket has failed; returns the reconnect delay, then reconnects. */
async function failOnce(clock: Clock, collector: FakeCollector): Promise<number> {
  await closed(collector);
  return clock.fireOnly();
}

async function closed(collector: FakeCollector): Promise<void> {
  for (let i = 0; i < 100 && collector.last.readyState !== 3; i++) await tick(1);
  await tick(1);
}

/** Waits until the socket is welcomed (the handshake timer, the only timer, is cleared). */
async function welcomed(clock: Clock): Promise<void> {
  for (let i = 0; i < 100 && clock.timers.size > 0; i++) await tick(1);
  assert.equal(clock.timers.size, 0, 'welcomed');
}

function withRandom<T>(values: () => number, fn: () => Promise<T>): Promise<T> {
  const random = Math.random;
  Math.random = values;
  return fn().finally(() => (Math.random = random));
}

describe('reconnect backoff', () => {
  it('doubles from 0.5 s up to 30 s, each delay drawn from the upper half of its step', async () => {
    const run = (r: number) =>
      withRandom(
        () => r,
        async () => {
          const collector = failing();
          const { clock, transport } = setup(collector);
          void transport.connect().catch(() => undefined);
          const delays: number[] = [];
          for (let i = 0; i < 9; i++) delays.push(await failOnce(clock, collector));
          assert.equal(collector.sockets.length, 10, 'one socket per attempt');
          transport.close();
          return delays;
        },
      );
    const low = await run(0);
    const high = await run(0.999999);
    assert.deepEqual(low, [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
    assert.deepEqual(
      high.map((d) => Math.round(d)),
      [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
  });

  it('jitters: tabs that lost the collector together do not come back together', async () => {
    let n = 0;
    const draws = [0.1, 0.9, 0.4, 0.7];
    const delays = await withRandom(
      () => draws[n++ % draws.length],
      async () => {
        const collector = failing();
        const { clock, transport } = setup(collector);
        void transport.connect().catch(() => undefined);
        const out: number[] = [];
        for (let i = 0; i < 4; i++) out.push(await failOnce(clock, collector));
        transport.close();
        return out;
      },
    );
    const base = [500, 1000, 2000, 4000];
    delays.forEach((delay, i) => {
      assert.ok(delay >= base[i] / 2 && delay <= base[i], `attempt ${i}: ${delay} within [${base[i] / 2}, ${base[i]}]`);
    });
    assert.equal(new Set(delays.map((d, i) => d / base[i])).size, 4, 'each delay has its own random factor');
  });

  it('starts over after an ack, not merely after a welcome', async () => {
    const collector = new FakeCollector({ autoAck: false });
    const { clock, transport } = setup(collector);
    await withRandom(
      () => 0,
      async () => {
        await transport.connect();
        transport.push({ type: 5, data: { tag: 'x', payload: {} }, timestamp: 1 });
        transport.sendNow();
        // Welcomed each time, but the batch is never acked: the delay keeps growing.
        const delays: number[] = [];
        for (let i = 0; i < 3; i++) {
          collector.last.drop(1011);
          delays.push(await failOnce(clock, collector));
          await welcomed(clock);
        }
        assert.deepEqual(delays, [250, 500, 1000]);
        collector.ack(collector.last, 1);
        collector.last.drop(1011); // delivered after the ack
        assert.equal(await failOnce(clock, collector), 250, 'an ack resets the backoff');
      },
    );
    transport.close();
  });
});

describe('offline', () => {
  it('makes no attempt while offline and reconnects as soon as the browser is online', async () => {
    const collector = failing();
    const { clock, transport, go } = setup(collector);
    void transport.connect().catch(() => undefined);
    await failOnce(clock, collector); // one attempt scheduled and made while online
    go(false);
    await closed(collector); // this socket fails too
    assert.equal(clock.timers.size, 0, 'nothing scheduled while offline');
    await tick(50);
    assert.equal(collector.sockets.length, 2);

    collector.behaviour = {};
    go(true);
    assert.equal(collector.sockets.length, 3, 'reconnects at once on online');
    await welcomed(clock);
    assert.equal(collector.hellos.length, 3);
    transport.close();
  });

  it('going offline cancels a pending attempt', async () => {
    const collector = failing();
    const { clock, transport, go } = setup(collector);
    void transport.connect().catch(() => undefined);
    await closed(collector);
    assert.equal(clock.timers.size, 1, 'a reconnect is pending');
    go(false);
    assert.equal(clock.timers.size, 0);
    go(true);
    assert.equal(collector.sockets.length, 2);
    transport.close();
  });

  it('close() removes the online/offline listeners', async () => {
    const collector = failing();
    const { clock, transport, go } = setup(collector);
    void transport.connect().catch(() => undefined);
    await closed(collector);
    transport.close();
    assert.equal(clock.timers.size, 0);
    go(false);
    go(true);
    assert.equal(collector.sockets.length, 1, 'a closed transport does not reconnect');
  });
});
