// "Nothing acknowledged is lost" from the page's side: the bounded resend buffer and its
// gap marker, the page-hide beacon, resend from next_seq, and refusals (docs/protocol.md).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EventWithTime } from '../src/types';
import type { RrwebEvent } from './unpack';
import { CANARY, makePage, tick, type Page } from './helpers';

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(10);
  }
}

/** Stubs navigator.sendBeacon; returns the calls it saw. */
function stubBeacon(page: Page, accept = () => true): { url: string; body: string }[] {
  const calls: { url: string; body: string }[] = [];
  Object.defineProperty(page.win.navigator, 'sendBeacon', {
    configurable: true,
    value: (url: string, body: unknown) => {
      assert.equal(typeof body, 'string', 'a string body is sent as text/plain');
      calls.push({ url, body: body as string });
      return accept();
    },
  });
  return calls;
}

interface BeaconBody {
  hello: Record<string, unknown>;
  batches: { type: string; seq: number; events: EventWithTime[] }[];
}

/** Sends a marker and cuts it into its own batch now (flush() cuts; its promise is not awaited). */
function marker(page: Page, tag: string, note = ''): void {
  assert.ok(page.api.addEvent(tag, { note }, { safe: ['note'] }), `${tag} recorded`);
  page.api.flush().catch(() => undefined);
}

function hide(page: Page, how: 'pagehide' | 'visibilitychange'): void {
  if (how === 'pagehide') {
    page.win.dispatchEvent(new page.win.Event('pagehide'));
  } else {
    Object.defineProperty(page.doc, 'visibilityState', { configurable: true, get: () => 'hidden' });
    page.doc.dispatchEvent(new page.win.Event('visibilitychange'));
  }
}

const tags = (events: RrwebEvent[]) => events.map((e) => (e.type === 5 ? e.data.tag : e.type));

describe('bounded buffer and gap marker', () => {
  it('stops capturing when full and, once acks drain it below half, sends a gap marker and a fresh snapshot', async () => {
    const page = makePage('<p id="p">x</p>', { autoAck: false });
    await page.api.start(page.options({ bufferBytes: 4000 }));
    await tick(20);
    assert.deepEqual(tags(page.collector.events), [4, 2]);
    const note = 'n'.repeat(400);
    let accepted = 0;
    while (accepted < 100 && page.api.addEvent('fill', { note }, { safe: ['note'] })) accepted++;
    assert.ok(accepted >= 5 && accepted <= 10, `the 4,000-character bound stops capture (${accepted} markers)`);

    // While full nothing is captured: neither DOM changes nor markers.
    page.doc.getElementById('p')!.className = 'while-full';
    await tick(20);
    assert.equal(page.api.addEvent('late', {}), false);
    page.api.flush().catch(() => undefined);
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2],
    );
    const before = page.collector.events.length;
    assert.ok(!page.collector.wire.includes('while-full') && !page.collector.wire.includes('late'));

    // Acking the small snapshot batch leaves the buffer above half: still paused.
    page.collector.ack(page.collector.last, 1);
    await tick(20);
    assert.equal(page.collector.events.length, before);
    assert.equal(page.api.addEvent('late', {}), false);

    page.collector.behaviour.autoAck = true;
    page.collector.ack(page.collector.last, 2);
    await until(() => page.collector.events.length >= before + 3);
    const resumed = page.collector.events.slice(before);
    assert.deepEqual(resumed[0], {
      type: 5,
      data: { tag: 'phi-replay.gap', payload: { reason: 'buffer-full' } },
      timestamp: resumed[0].timestamp,
    });
    assert.deepEqual(tags(resumed), ['phi-replay.gap', 4, 2], 'gap marker, then Meta and full snapshot');
    const wireClass = `"${page.api.pseudonym('while-full')}"`;
    assert.ok(JSON.stringify(resumed[2]).includes(wireClass), 'the snapshot shows the page as it is now');
    assert.ok(page.api.addEvent('after', {}), 'capture continues');
    await page.api.flush();
    assert.equal(tags(page.collector.events).filter((t) => t === 'phi-replay.gap').length, 1);
    page.close();
  });

  it('counts events not yet numbered: a collector that never welcomes cannot grow the buffer without bound', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options({ bufferBytes: 3000 }));
    // identify() rotates to a new session whose socket never gets a welcome.
    page.collector.behaviour.silent = true;
    page.api.identify('nurse.other');
    let accepted = 0;
    while (accepted < 100 && page.api.addEvent('fill', { note: 'n'.repeat(400) }, { safe: ['note'] })) accepted++;
    assert.ok(accepted < 10, `capture stops before the first welcome too (${accepted} markers)`);
    page.close();
  });

  it('rejects a bufferBytes that is not a positive integer', async () => {
    for (const bad of [0, -1, 1.5, '5000', Number.NaN, Infinity]) {
      const page = makePage('<p>x</p>');
      await assert.rejects(
        page.api.start(page.options({ bufferBytes: bad as number })),
        /options\.bufferBytes must be a positive integer/,
      );
      assert.equal(page.collector.sockets.length, 0);
      page.close();
    }
  });
});

describe('page-hide beacon', () => {
  it('beacons every unacked batch on pagehide, with the hello, and still sends the tail over the socket', async () => {
    const page = makePage('<p id="p">x</p>', { autoAck: false });
    const calls = stubBeacon(page);
    await page.api.start(page.options({ environment: 'dev' }));
    await tick(20);
    page.collector.ack(page.collector.last, 1);
    marker(page, 'two');
    await tick(20);
    page.doc.getElementById('p')!.className = 'tail';
    await tick();
    hide(page, 'pagehide');

    assert.equal(calls.length, 1);
    assert.equal(calls[0].url, 'http://127.0.0.1:8700/v1/beacon');
    const body = JSON.parse(calls[0].body) as BeaconBody;
    assert.deepEqual(Object.keys(body).sort(), ['batches', 'hello']);
    assert.deepEqual(body.hello, page.collector.hellos[0], 'the same hello as the socket');
    assert.deepEqual(
      body.batches.map((b) => [Object.keys(b).join(), b.type, b.seq]),
      [
        ['type,seq,events', 'batch', 2],
        ['type,seq,events', 'batch', 3],
      ],
      'only the unacked batches, oldest first',
    );
    assert.ok(JSON.stringify(body.batches[1].events).includes(`"${page.api.pseudonym('tail')}"`));
    assert.ok(!calls[0].body.includes('tail'), 'the class name itself never leaves');
    assert.ok(!calls[0].body.includes(CANARY));
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2, 3],
      'the tail went over the socket too',
    );

    // Hidden again (the page survived): only what was not beaconed yet goes by beacon.
    marker(page, 'four');
    hide(page, 'visibilitychange');
    assert.equal(calls.length, 2);
    assert.deepEqual(
      (JSON.parse(calls[1].body) as BeaconBody).batches.map((b) => b.seq),
      [4],
    );
    hide(page, 'pagehide');
    assert.equal(calls.length, 2, 'nothing new: no empty beacon');
    page.close();
  });

  it('keeps a beacon under 60,000 UTF-8 bytes: the newest batches that fit, oldest first', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    const calls = stubBeacon(page);
    await page.api.start(page.options());
    await tick(20);
    // 'é' is two bytes in UTF-8: counting characters would overfill the beacon.
    marker(page, 'b2', 'é'.repeat(12_500));
    marker(page, 'b3', 'é'.repeat(12_500));
    marker(page, 'b4', 'é'.repeat(12_500));
    marker(page, 'b5', 'x'.repeat(70_000)); // too big alone: left to the socket
    marker(page, 'b6');
    hide(page, 'pagehide');
    assert.equal(calls.length, 1);
    assert.ok(Buffer.byteLength(calls[0].body) <= 60_000, `${Buffer.byteLength(calls[0].body)} bytes`);
    const body = JSON.parse(calls[0].body) as BeaconBody;
    assert.deepEqual(
      body.batches.map((b) => b.seq),
      [1, 3, 4, 6],
    );
    page.close();
  });

  it('puts at most 100 batches in a beacon (the collector refuses more), the newest', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    const calls = stubBeacon(page);
    await page.api.start(page.options());
    for (let i = 0; i < 120; i++) marker(page, 'm');
    hide(page, 'pagehide');
    const seqs = (JSON.parse(calls[0].body) as BeaconBody).batches.map((b) => b.seq);
    assert.deepEqual(seqs, Array.from({ length: 100 }, (_, i) => 22 + i));
    page.close();
  });

  it('a refused beacon leaves its batches for the next one', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    let accept = false;
    const calls = stubBeacon(page, () => accept);
    await page.api.start(page.options());
    await tick(20);
    hide(page, 'pagehide');
    accept = true;
    hide(page, 'pagehide');
    assert.equal(calls.length, 2);
    assert.equal(calls[1].body, calls[0].body);
    page.close();
  });
});

describe('resend after reconnect', () => {
  it('resends from next_seq: batches the collector holds (ack lost) are not sent again', async () => {
    let welcomeSeq = 1;
    const page = makePage('<p>x</p>', { autoAck: false, nextSeq: () => welcomeSeq });
    await page.api.start(page.options());
    marker(page, 'two');
    marker(page, 'three');
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2, 3],
    );
    welcomeSeq = 3; // 1 and 2 durable, their acks lost with the connection
    page.collector.last.drop(1011);
    await until(() => page.collector.hellos.length === 2);
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2, 3, 3],
    );
    marker(page, 'four');
    await tick(20);
    assert.equal(page.collector.batches[4].seq, 4, 'numbering continues');
    page.close();
  });

  it('after a beacon, resends below next_seq too: the beacon may have delivered a later batch first', async () => {
    let welcomeSeq = 1;
    const page = makePage('<p>x</p>', { autoAck: false, nextSeq: () => welcomeSeq });
    stubBeacon(page);
    await page.api.start(page.options());
    marker(page, 'two');
    await tick(20);
    hide(page, 'pagehide');
    welcomeSeq = 3; // say the beacon's batch 2 arrived, but batch 1 did not
    page.collector.last.drop(1006);
    await until(() => page.collector.hellos.length === 2);
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2, 1, 2],
    );
    page.close();
  });
});

// `disabled` is quiet and drops what is buffered: see config.test.ts.
describe('refusals', () => {
  for (const [code, close] of [
    ['unauthorised', 4001],
    ['origin_not_allowed', 4003],
  ] as const) {
    it(`${code}: stops, warns once without PHI, never retries`, async () => {
      const page = makePage('<p>x</p>');
      const warnings: unknown[][] = [];
      page.win.console.warn = (...args: unknown[]) => warnings.push(args);
      const random = Math.random;
      Math.random = () => 0; // the shortest reconnect delay, were one scheduled
      try {
        await page.api.start(page.options({ user: 'nurse.canary' }));
        page.collector.last.deliver({ type: 'error', code, reason: `refused (${code})` });
        page.collector.last.drop(close);
        await tick(400);
      } finally {
        Math.random = random;
      }
      assert.equal(warnings.length, 1);
      assert.match(String(warnings[0][0]), new RegExp(`\\(${code}\\)`));
      assert.ok(!JSON.stringify(warnings).includes('nurse.canary'));
      assert.equal(page.collector.sockets.length, 1, 'no reconnect');
      await assert.rejects(page.api.flush(), /not recording/);
      page.close();
    });
  }

  it('too_large: the batch is never resent; a gap marker and a fresh snapshot follow', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    await page.api.start(page.options());
    marker(page, 'two');
    marker(page, 'three');
    await tick(20);
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1, 2, 3],
    );
    page.collector.ack(page.collector.last, 1);
    // The collector names the seq (a recorder's frame begins with it), even when batch 2 is not the oldest unacked.
    page.collector.last.deliver({ type: 'error', code: 'too_large', reason: 'frame too large', seq: 3 });
    page.collector.last.drop(1009);
    await until(() => page.collector.hellos.length === 2);
    await tick(50);
    const later = page.collector.batches.slice(3);
    assert.ok(!later.some((b) => b.seq === 3), 'the batch too large is never sent again');
    const onNewSocket = page.collector.last.sent.filter((frame) => frame.startsWith('{"type":"batch"'));
    assert.deepEqual(
      onNewSocket.map((frame) => JSON.parse(frame).seq),
      [2, 4],
      'after the reconnect: batch 2 again, then the new batch 4',
    );
    const after = later[later.length - 1].events;
    assert.deepEqual(
      after.map((e) => e.type),
      [5, 4, 2],
      'a gap marker, then Meta and a full snapshot',
    );
    assert.deepEqual(after[0].data, { tag: 'phi-replay.gap', payload: { reason: 'too-large' } });
    page.close();
  });

  it('too_large without a seq is the oldest unacked batch, and a snapshot too large stops recording', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    const warnings: unknown[][] = [];
    page.win.console.warn = (...args: unknown[]) => warnings.push(args);
    await page.api.start(page.options());
    await tick(20);
    page.collector.last.deliver({ type: 'error', code: 'too_large', reason: 'frame too large' });
    page.collector.last.drop(1009);
    await tick(1500); // a reconnect, were one scheduled, would have happened
    assert.deepEqual(
      page.collector.batches.map((b) => b.seq),
      [1],
      'the snapshot is not resent',
    );
    assert.equal(page.collector.hellos.length, 1, 'no reconnect to send it again');
    assert.equal(warnings.length, 1);
    assert.match(String(warnings[0][0]), /full snapshot is over the collector's size limit/);
    await assert.rejects(page.api.flush(), /not recording/);
    page.close();
  });
  it('a bare close 1009 (a proxy\'s frame limit) gives up the largest batch in flight, once', async () => {
    const page = makePage('<p>x</p>', { autoAck: false });
    await page.api.start(page.options());
    marker(page, 'small');
    marker(page, 'large', 'x'.repeat(5000));
    await tick(20);
    assert.deepEqual(page.collector.batches.map((b) => b.seq), [1, 2, 3]);
    page.collector.ack(page.collector.last, 1);
    page.collector.last.drop(1009); // no error message: the proxy does not speak our protocol
    await until(() => page.collector.hellos.length === 2);
    await tick(50);
    const resent = page.collector.last.sent
      .filter((frame) => frame.startsWith('{"type":"batch"'))
      .map((frame) => JSON.parse(frame).seq);
    assert.ok(resent.includes(2), 'the small batch is resent');
    assert.ok(!resent.includes(3), 'the large one is never sent again');
    const gap = page.collector.batches
      .flatMap((b) => b.events)
      .find((e) => e.type === 5 && (e.data as { tag?: string }).tag === 'phi-replay.gap');
    assert.deepEqual(gap?.data, { tag: 'phi-replay.gap', payload: { reason: 'too-large' } }, 'the gap is marked');
    page.close();
  });

  it('a socket closed for idleness is reopened by the next event, not by a timer', async () => {
    const page = makePage('<p>x</p>');
    await page.api.start(page.options());
    await tick(20);
    page.collector.last.drop(4008); // idle_timeout; everything was acked
    await tick(1500); // past the first reconnect delay
    assert.equal(page.collector.hellos.length, 1, 'an idle tab holds no socket');
    marker(page, 'back');
    await until(() => page.collector.hellos.length === 2);
    await tick(50);
    const tags = page.collector.batches.flatMap((b) => b.events).filter((e) => e.type === 5);
    assert.ok(tags.some((e) => (e.data as { tag?: string }).tag === 'back'), 'the event arrives');
    assert.equal(page.collector.hellos.length, 2, 'one reconnect');
    page.close();
  });
});
