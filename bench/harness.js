// Benchmark harness, installed as a Playwright init script: it runs before any page
// script, so the recorder under test only ever sees the stub WebSocket below.
//
// Both recorders are timed to the same point: the moment their serialised JSON is
// handed to a transport. For phi-replay that is StubSocket.send (the recorder
// stringifies its own batches); for rrweb it is the end of our emit callback, which
// does JSON.stringify(event) as any transport must. Bytes are UTF-8 lengths of
// exactly those strings (phi-replay: whole batch frames, envelope included; the
// hello frame is not counted).
(() => {
  /** Every frame the recorder sends: performance.now() at send, and the text. */
  const frames = [];
  /** Every rrweb event: performance.now() after stringify, the JSON, type and source. */
  const emitted = [];
  /** PerformanceObserver longtask entries (tasks of 50 ms or more). */
  const longtasks = [];
  // Kept referenced from window.__bench so it cannot be collected.
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longtasks.push({ start: e.startTime, duration: e.duration });
  });
  try {
    observer.observe({ type: 'longtask', buffered: true });
  } catch {
    // No Long Tasks API: longest_task_ms stays 0, printed as '<50'.
  }

  const HELLO = /^\{"type":"hello"/;
  const SEQ = /"seq":(\d+)/;
  const utf8 = new TextEncoder();
  const bytes = (s) => utf8.encode(s).length;
  // Synthetic page text and field values that must not appear in masked output (a check
  // that both recorders really mask; not part of any timing).
  const CANARY = /Testpatient|Synthetic value|Synthetic note|re-consented/;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // Answers like the collector, without a network: `welcome` in a microtask (so the
  // handshake adds microseconds, not a task hop, to the snapshot time) and `ack` in a
  // later task (acks are never on the timed path). Only the head of a batch frame is
  // read to find its seq, so the stub does not parse megabytes inside send().
  class StubSocket {
    constructor(url) {
      this.url = String(url);
      this.readyState = 0;
      this.protocol = '';
      this.extensions = '';
      this.bufferedAmount = 0;
      this.binaryType = 'blob';
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      this.listeners = {};
      queueMicrotask(() => {
        if (this.readyState !== 0) return;
        this.readyState = 1;
        this.fire('open', new Event('open'));
      });
    }
    addEventListener(type, fn) {
      (this.listeners[type] ||= []).push(fn);
    }
    removeEventListener(type, fn) {
      this.listeners[type] = (this.listeners[type] || []).filter((f) => f !== fn);
    }
    fire(type, event) {
      const handler = this['on' + type];
      if (typeof handler === 'function') handler.call(this, event);
      for (const fn of this.listeners[type] || []) fn.call(this, event);
    }
    reply(msg) {
      if (this.readyState === 1) this.fire('message', new MessageEvent('message', { data: JSON.stringify(msg) }));
    }
    send(data) {
      const t = performance.now();
      if (this.readyState !== 1) throw new DOMException('not open', 'InvalidStateError');
      frames.push({ t, data });
      if (typeof data !== 'string') return;
      const head = data.slice(0, 200);
      if (HELLO.test(head)) {
        const hello = JSON.parse(data);
        queueMicrotask(() => this.reply({ type: 'welcome', session_id: hello.session_id, next_seq: 1 }));
        return;
      }
      const match = SEQ.exec(head);
      setTimeout(() => {
        const seq = match ? Number(match[1]) : JSON.parse(data).seq;
        this.reply({ type: 'ack', seq });
      }, 0);
    }
    close(code = 1000, reason = '') {
      if (this.readyState >= 2) return;
      this.readyState = 3;
      setTimeout(() => this.fire('close', new CloseEvent('close', { code, reason, wasClean: true })), 0);
    }
  }
  StubSocket.CONNECTING = 0;
  StubSocket.OPEN = 1;
  StubSocket.CLOSING = 2;
  StubSocket.CLOSED = 3;
  window.WebSocket = StubSocket;

  /**
   * What a sent frame holds ({snapshot, mutation}); parsed once, outside any timed
   * section, and only the two flags are kept so the parse leaves little garbage.
   */
  const kinds = (frame) => {
    if (!frame.kinds) {
      let events = [];
      try {
        const msg = JSON.parse(frame.data);
        if (msg.type === 'batch' && Array.isArray(msg.events)) events = msg.events;
      } catch {
        // Not a batch: neither kind.
      }
      frame.kinds = {
        snapshot: events.some((e) => e.type === 2),
        mutation: events.some((e) => e.type === 3 && e.data && e.data.source === 0),
      };
    }
    return frame.kinds;
  };

  /**
   * Collect garbage before a timed section when Chromium runs with --expose-gc, so a
   * collection of earlier garbage (page load, the harness) does not land in it.
   */
  const collectGarbage = () => {
    if (typeof window.gc === 'function') window.gc();
  };

  /** The longest longtask entry overlapping [from, to], in ms (0: none of 50 ms or more). */
  const longestTask = (from, to) =>
    longtasks
      .filter((e) => e.start <= to && e.start + e.duration >= from)
      .reduce((max, e) => Math.max(max, e.duration), 0);

  /**
   * Wait until `done()` holds, checking in a later task each time (never in the task
   * being timed); throws after `ms`.
   */
  const until = async (done, what, ms = 10_000) => {
    const deadline = performance.now() + ms;
    do {
      if (performance.now() > deadline) throw new Error(`benchmark: timed out waiting for ${what}`);
      await sleep(0);
    } while (!done());
  };

  // 1,000 rows built off-document, so that building them is not part of the timed change.
  const makeRows = () => {
    const scratch = document.createElement('tbody');
    let html = '';
    for (let i = 0; i < 1000; i++) {
      const n = 900000 + i;
      html +=
        `<tr><td>TEST-${n}</td><td>Testpatient ${n}</td><td>1900-01-01</td><td>Test Site A</td>` +
        `<td><span class="badge">Screening</span></td><td>2000-02-02</td><td>Active</td><td>555-0100</td></tr>`;
    }
    scratch.innerHTML = html;
    const fragment = document.createDocumentFragment();
    const rows = [...scratch.children];
    fragment.append(...rows);
    return { fragment, rows };
  };

  const bench = {
    observer,
    countNodes() {
      const walker = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
      let n = 0;
      while (walker.nextNode()) n++;
      return n;
    },

    /** phi-replay: PhiReplay.start() → the frame holding the FullSnapshot is sent. */
    async oursSnapshot(endpoint) {
      // Start from a timer task, like application code: DevTools-driven evaluation
      // tasks are not reported as long tasks.
      await sleep(0);
      collectGarbage();
      const t0 = performance.now();
      await window.PhiReplay.start({ endpoint, appKey: 'bench-app', user: 'bench.user', rules: {} });
      await until(() => frames.some((f) => kinds(f).snapshot), 'the full snapshot frame');
      const index = frames.findIndex((f) => kinds(f).snapshot);
      const end = frames[index].t;
      await window.PhiReplay.flush();
      await sleep(100); // let the longtask observer deliver its entries
      const sent = frames.slice(0, index + 1).filter((f) => !HELLO.test(f.data.slice(0, 20)));
      return {
        ms: end - t0,
        bytes: sent.reduce((sum, f) => sum + bytes(f.data), 0),
        longest_task_ms: longestTask(t0, end),
        leaked: sent.some((f) => CANARY.test(f.data)),
      };
    },

    /** rrweb: record() is called → the FullSnapshot event has been emitted and stringified. */
    async rrwebSnapshot() {
      const emit = (event) => {
        const json = JSON.stringify(event);
        emitted.push({ t: performance.now(), json, type: event.type, source: event.data && event.data.source });
      };
      await sleep(0); // as above: a timer task
      collectGarbage();
      const t0 = performance.now();
      bench.stopRrweb = window.rrweb.record({ emit, maskAllInputs: true, maskTextSelector: '*' });
      await until(() => emitted.some((e) => e.type === 2), 'the rrweb full snapshot');
      const index = emitted.findIndex((e) => e.type === 2);
      const end = emitted[index].t;
      await sleep(100);
      return {
        ms: end - t0,
        bytes: emitted.slice(0, index + 1).reduce((sum, e) => sum + bytes(e.json), 0),
        longest_task_ms: longestTask(t0, end),
        leaked: emitted.slice(0, index + 1).some((e) => CANARY.test(e.json)),
      };
    },

    /**
     * One mutation burst ('append': 1,000 rows in one append; 'text': then 1,000 text
     * node edits in those rows). Timed from the end of the DOM change (the page's own
     * work, the same for both, is reported apart as dom_ms) to the last moment
     * mutation JSON is handed over: for rrweb, its emit (it serialises in its
     * MutationObserver callback); for phi-replay, the stub's send of the batch, with
     * flush() called in a microtask queued right after the change, i.e. right after
     * the MutationObserver callback. Both sides then wait the same way (one task per
     * check, then 50 ms for stragglers), and only the recorded timestamps count.
     */
    async burst(side, kind) {
      await sleep(50);
      const framesBefore = frames.length;
      const emittedBefore = emitted.length;
      let t0;
      let t1;
      let flushed = Promise.resolve();
      if (kind === 'append') {
        const { fragment, rows } = makeRows();
        bench.rows = rows;
        collectGarbage();
        t0 = performance.now();
        document.querySelector('#patients tbody').append(fragment);
        t1 = performance.now();
      } else {
        const cells = bench.rows.map((row) => row.firstChild.firstChild);
        collectGarbage();
        t0 = performance.now();
        // Longer text: it changes phi-replay's length-bucketed mask too (a mask that does
        // not change is rightly not re-sent, which would leave nothing to time).
        cells.forEach((text, i) => {
          text.data = `TEST-${800000 + i} (re-consented)`;
        });
        t1 = performance.now();
      }
      if (side === 'ours') queueMicrotask(() => (flushed = window.PhiReplay.flush()));
      const oursMutations = () => frames.slice(framesBefore).filter((f) => kinds(f).mutation);
      const rrwebMutations = () => emitted.slice(emittedBefore).filter((e) => e.type === 3 && e.source === 0);
      if (side === 'ours') {
        // A recorder that defers its mutation work past our flush gets flushed again.
        let checks = 0;
        await until(() => {
          if (oursMutations().length) return true;
          if (checks++) flushed = window.PhiReplay.flush();
          return false;
        }, 'phi-replay mutation batch');
        await flushed;
      } else {
        await until(() => rrwebMutations().length > 0, 'rrweb mutation event');
      }
      await sleep(50);
      if (side === 'ours') {
        const sent = frames.slice(framesBefore);
        const end = Math.max(...oursMutations().map((f) => f.t));
        const leaked = sent.some((f) => CANARY.test(f.data));
        return { ms: end - t1, dom_ms: t1 - t0, bytes: sent.reduce((sum, f) => sum + bytes(f.data), 0), leaked };
      }
      const events = emitted.slice(emittedBefore);
      const end = Math.max(...rrwebMutations().map((e) => e.t));
      const leaked = events.some((e) => CANARY.test(e.json));
      return { ms: end - t1, dom_ms: t1 - t0, bytes: events.reduce((sum, e) => sum + bytes(e.json), 0), leaked };
    },
  };
  window.__bench = bench;
})();
