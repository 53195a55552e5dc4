// Wire behaviour (docs/protocol.md): hello, numbered batches, acks, resend, refusals.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makePage, tick } from './helpers';

const ID = /^[A-Za-z0-9_-]{8,64}$/;

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(10);
  }
}

describe('transport', () => {
  it('says hello with the protocol fields and speaks JSON text frames', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options({ environment: 'dev' }));
    await page.api.flush();
    const socket = page.collector.sockets[0];
    assert.equal(socket.url, 'ws://127.0.0.1:8700/v1/ingest');
    const hello = page.collector.hellos[0];
    assert.deepEqual(Object.keys(hello).sort(), ['app_key', 'environment', 'page_id', 'session_id', 'tab_id', 'type', 'user', 'v']);
    assert.equal(hello.v, 1);
    assert.equal(hello.environment, 'dev');
    assert.match(String(hello.session_id), ID);
    assert.match(String(hello.tab_id), ID);
    assert.notEqual(hello.session_id, hello.tab_id);
    for (const frame of socket.sent) assert.equal(typeof JSON.parse(frame).type, 'string');
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1],
    );
    page.close();
  });

  it('splits batches at 1 MiB of UTF-8 and at 1,000 events, keeping every event once and in order', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options());
    await page.api.flush();
    page.collector.batches = [];
    const sizes = [300_000, 300_000, 10, 400_000, 5];
    // 'é' takes two bytes in UTF-8: counting UTF-16 units would overfill a frame.
    sizes.forEach((n, i) => page.api.addEvent('big', { i, note: 'é'.repeat(n) }, { safe: ['note', 'i'] }));
    for (let i = 0; i < 2500; i++) page.api.addEvent('small', { i }, { safe: ['i'] });
    await page.api.flush();
    const frames = page.collector.last.sent.filter((frame) => frame.startsWith('{"type":"batch"'));
    for (const frame of frames) assert.ok(Buffer.byteLength(frame) <= 1024 * 1024 + 100, 'frame within 1 MiB');
    assert.ok(page.collector.batches.every((batch) => batch.events.length <= 1000));
    const custom = page.collector.events.flatMap((e) => (e.type === 5 ? [e.data] : []));
    assert.deepEqual(
      custom.filter((d) => d.tag === 'big').map((d) => [d.payload.i, String(d.payload.note).length]),
      sizes.map((n, i) => [i, n]),
    );
    assert.deepEqual(
      custom.filter((d) => d.tag === 'small').map((d) => d.payload.i),
      Array.from({ length: 2500 }, (_, i) => i),
    );
    page.close();
  });

  it('sends the full snapshot at once, and the tail when the page is hidden', async () => {
    const page = makePage('<p id="p">x</p>');
    await page.api.start(page.options());
    await tick(20);
    assert.deepEqual(
      page.collector.events.map((e) => e.type),
      [4, 2],
      'snapshot sent without waiting for the batch timer',
    );
    page.doc.getElementById('p')!.className = 'changed';
    await tick();
    page.win.dispatchEvent(new page.win.Event('pagehide'));
    await tick(20);
    assert.equal(page.collector.batches.length, 2, 'tail sent on pagehide');
    page.close();
  });

  it('flush() sends buffered events at once and resolves only after the ack', async () => {
    const page = makePage('<p id="p">x</p>', { autoAck: false });
    await page.api.start(page.options());
    let done = false;
    const flushed = page.api.flush().then(() => {
      done = true;
    });
    await tick(20);
    assert.equal(page.collector.batches.length, 1, 'sent without waiting for the batch timer');
    assert.equal(done, false, 'not acked yet');
    page.collector.ack(page.collector.last, 1);
    await flushed;
    page.close();
  });

  it('numbers batches from next_seq and resends unacked batches after a reconnect', async () => {
    let welcomeSeq = 41;
    const page = makePage('<p id="p">x</p>', { autoAck: false, nextSeq: () => welcomeSeq });
    await page.api.start(page.options());
    const flushed = page.api.flush();
    await tick(20);
    page.doc.getElementById('p')!.className = 'changed';
    await tick();
    void page.api.flush().catch(() => undefined);
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [41, 42],
    );
    page.collector.ack(page.collector.last, 41);
    await flushed;

    welcomeSeq = 42; // 41 durable, 42 lost with the connection
    page.collector.last.drop(1011);
    await until(() => page.collector.sockets.length === 2 && page.collector.batches.length === 3);
    assert.equal(page.collector.batches[2].seq, 42, 'only the unacked batch is resent');
    page.collector.ack(page.collector.last, 42);
    await page.api.flush();
    page.close();
  });

  it('drops a batch the collector refuses and carries on with the next seq', async () => {
    const page = makePage('<p id="p">x</p>', { autoAck: false });
    await page.api.start(page.options());
    const flushed = page.api.flush();
    await tick(20);
    page.collector.last.deliver({ type: 'error', code: 'invalid_batch', reason: 'batch refused', seq: 1 });
    page.collector.last.drop(1008);
    await flushed; // a refused batch will never be acked; flush must not hang on it
    await until(() => page.collector.sockets.length === 2 && page.collector.hellos.length === 2);
    await tick(20);
    assert.equal(page.collector.batches.length, 1, 'the refused batch is not resent');
    page.collector.behaviour.autoAck = true;
    page.doc.getElementById('p')!.className = 'changed';
    await tick();
    await page.api.flush();
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2],
    );
    page.close();
  });

  it('stop() rejects a pending flush', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    await page.api.start(page.options());
    const flushed = page.api.flush();
    page.api.stop();
    await assert.rejects(flushed, /stopped before the collector acknowledged/);
    page.close();
  });
});
