// Benchmark harness, installed as a Playwright init script: it runs before any page
// script, so the recorder under test only ever sees the stub WebSocket below.
//
// Each scenario is three calls from bench/recorder.py: prepare() (outside any measured
// window), run() (the window: the action, then the same waiting on every side), and
// result() (outside the window again: parses frames, counts bytes, checks canaries).
// The Python side reads CDP's TaskDuration around run() only.
//
// Both recorders are timed to the same point: the moment their serialised JSON is
// handed to a transport. For phi-replay that is StubSocket.send (the recorder
// stringifies its own batches); for rrweb it is the end of our emit callback, which
// does JSON.stringify(event) as any transport must. Bytes are UTF-8 lengths of
// exactly those strings (phi-replay: whole batch frames, envelope included; the
// hello frame is not counted). The 'baseline' side runs the same scenarios with no
// recorder at all.
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
  const CANARY = /Testpatient|Synthetic value|Synthetic note|re-consented|Test Site/;
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
   * Collect garbage when Chromium runs with --expose-gc, so that a collection of earlier
   * garbage (page load, the harness, the previous scenario) does not land in a window.
   */
  const collectGarbage = () => {
    if (typeof window.gc === 'function') window.gc();
  };

  /** The longest longtask entry overlapping [from, to], in ms (0: none of 50 ms or more). */
  const longestTask = (from, to) =>
    longtasks
      .filter((e) => e.start <= to && e.start + e.duration >= from)
      .reduce((max, e) => Math.max(max, e.duration), 0);

  // The waiting inside every window, identical for all sides (baseline included): two
  // task hops (MutationObserver callbacks, flush(), the stub's acks), then settleMs
  // (50 by default), in which the page renders its change. Only if a recorder has
  // still not handed its JSON over by then does the window grow, one task at a time
  // (counted as extra_tasks and warned about: then the sides no longer wait alike).
  const SETTLE_HOPS = 2;
  // Give up on a recorder that never hands over its JSON.
  const HANDOVER_TIMEOUT_MS = 10_000;

  // Rows appended by 'append', built off-document so that building them is not part of
  // the change the in-page table times from.
  const APPEND_ROWS = 1000;
  // The mixed burst: rich rows appended and existing texts edited, in one task.
  const MIXED_ROWS = 1500;
  const MIXED_TEXTS = 1500;
  // Makes an MRN ('TEST-000042', 11 characters) or a name ('Testpatient 0042', 16)
  // 32 characters or longer: phi-replay's length-bucketed mask changes (8 → 32 and
  // 16 → 32) and must be re-sent. A mask that does not change is rightly not sent.
  const MIXED_SUFFIX = ' (re-consented, synthetic)';

  const makeRows = () => {
    const scratch = document.createElement('tbody');
    let html = '';
    for (let i = 0; i < APPEND_ROWS; i++) {
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

  const STATUSES = ['Screening', 'Enrolled', 'Follow-up', 'Withdrawn'];

  /** An element with a class and children (nodes or text), as a framework renders it. */
  const el = (tag, className, ...children) => {
    const e = document.createElement(tag);
    e.className = className;
    e.append(...children);
    return e;
  };

  /**
   * One rich patient row, built with DOM calls like a framework's render (23 nodes):
   * ids and classes on elements, a link, nested badge spans, a text input with a value.
   */
  const richRow = (n) => {
    const link = el('a', 'patient-link', `TEST-${n}`);
    link.id = `link-${n}`;
    link.setAttribute('href', `/patients/${n}/chart`);
    const input = el('input', 'note-input');
    input.id = `note-${n}`;
    input.name = `note-${n}`;
    input.type = 'text';
    input.defaultValue = `Synthetic value ${n}`;
    const status = STATUSES[n % STATUSES.length];
    const tr = el(
      'tr',
      `patient-row row-${n % 2 ? 'odd' : 'even'}`,
      el('td', 'cell cell-mrn', link),
      el('td', 'cell cell-name', el('span', 'name', `Testpatient ${n}`)),
      el('td', 'cell cell-dob', el('time', 'dob', `1900-01-${String(1 + (n % 28)).padStart(2, '0')}`)),
      el('td', 'cell cell-site', `Test Site ${'ABC'[n % 3]}`),
      el('td', 'cell cell-status', el('span', `badge badge-${status.toLowerCase()}`, el('span', 'dot'), status)),
      el('td', 'cell cell-note', input),
      el('td', 'cell cell-arm', el('span', 'arm', n % 2 ? 'Placebo' : 'Active')),
      el('td', 'cell cell-phone', `555-0${String(n % 1000).padStart(3, '0')}`),
    );
    tr.id = `row-${n}`;
    return tr;
  };

  /**
   * MIXED_TEXTS text nodes of the page's own table (MRN and name cells), spread over
   * the whole table, with their longer new values.
   */
  const mixedTexts = () => {
    const candidates = [];
    for (const row of document.querySelectorAll('#patients tbody tr')) {
      candidates.push(row.cells[0].firstChild, row.cells[1].firstChild);
    }
    const count = Math.min(MIXED_TEXTS, candidates.length);
    const texts = Array.from({ length: count }, (_, k) => candidates[Math.floor((k * candidates.length) / count)]);
    return { texts, values: texts.map((text) => text.data + MIXED_SUFFIX) };
  };

  /** The page's own DOM work for each burst: the same on every side. */
  const changes = {
    append(prepared) {
      document.querySelector('#patients tbody').append(prepared.fragment);
    },
    text(prepared) {
      prepared.cells.forEach((text, i) => {
        text.data = `TEST-${800000 + i} (re-consented)`;
      });
    },
    mixed(prepared) {
      // Rows inserted one by one, each built whole first, as a framework commits a list.
      const tbody = document.querySelector('#patients tbody');
      for (let i = 0; i < MIXED_ROWS; i++) tbody.appendChild(richRow(700000 + i));
      prepared.texts.forEach((text, i) => {
        text.data = prepared.values[i];
      });
    },
  };

  const emit = (event) => {
    const json = JSON.stringify(event);
    emitted.push({ t: performance.now(), json, type: event.type, source: event.data && event.data.source });
  };

  const isBatch = (frame) => typeof frame.data === 'string' && !HELLO.test(frame.data.slice(0, 20));

  /**
   * Whether the recorder has handed over its JSON for scenario `s`; cheap (no parsing),
   * since it runs inside the window. result() checks the frames' contents afterwards.
   */
  const handedOver = (s) => {
    if (s.side === 'baseline') return true;
    if (s.side === 'rrweb') {
      const type = s.kind === 'snapshot' ? 2 : 3;
      return emitted.slice(s.emitted).some((e) => e.type === type && (type === 2 || e.source === 0));
    }
    const sent = frames.slice(s.frames).some(isBatch);
    return s.kind === 'snapshot' ? sent : sent && s.acked;
  };

  const flushOurs = (s) => {
    s.acked = false;
    window.PhiReplay.flush().then(
      () => (s.acked = true),
      () => (s.acked = true),
    );
  };

  /** The scenario of the last run(), for result(). */
  let current = null;
  /** What prepare() built for the next run(). */
  let prepared = {};

  const bench = {
    observer,
    collectGarbage,
    countNodes() {
      const walker = document.createTreeWalker(document, NodeFilter.SHOW_ALL);
      let n = 0;
      while (walker.nextNode()) n++;
      return n;
    },

    /** Outside any window: build what the next scenario's DOM change needs, then settle. */
    async prepare(kind) {
      bench.nodesBefore = bench.countNodes();
      if (kind === 'append') {
        const { fragment, rows } = makeRows();
        bench.rows = rows;
        prepared = { fragment };
      } else if (kind === 'text') {
        prepared = { cells: bench.rows.map((row) => row.firstChild.firstChild) };
      } else if (kind === 'mixed') {
        prepared = mixedTexts();
      } else {
        prepared = {};
      }
      await sleep(50);
    },

    /**
     * The measured window. 'snapshot': PhiReplay.start() (resolves once the batch with
     * the FullSnapshot is sent) or rrweb.record() (emits the FullSnapshot before it
     * returns), or nothing for the baseline. A burst: the page's DOM change, then for
     * phi-replay flush() from a microtask queued right after the change, i.e. right
     * after its MutationObserver callback, so the batch timer adds nothing; rrweb
     * serialises and emits in its MutationObserver callback. Then the same waiting on every
     * side. Returns how many tasks the window had to grow by (0 when all went well).
     */
    async run(side, kind, endpoint, settleMs = 50) {
      const s = { side, kind, frames: frames.length, emitted: emitted.length, acked: false };
      s.edited = (prepared.cells || prepared.texts || []).length;
      current = s;
      // Start from a timer task, like application code: DevTools-driven evaluation tasks
      // are not reported as long tasks, and CDP counts them as DevTools commands.
      await sleep(0);
      s.t0 = performance.now();
      if (kind === 'snapshot') {
        if (side === 'ours') {
          await window.PhiReplay.start({ endpoint, appKey: 'bench-app', user: 'bench.user', rules: {} });
        } else if (side === 'rrweb') {
          bench.stopRrweb = window.rrweb.record({ emit, maskAllInputs: true, maskTextSelector: '*' });
        }
        s.t1 = s.t0;
      } else {
        changes[kind](prepared);
        s.t1 = performance.now();
        if (side === 'ours') queueMicrotask(() => flushOurs(s));
      }
      for (let i = 0; i < SETTLE_HOPS; i++) await sleep(0);
      await sleep(settleMs);
      const deadline = performance.now() + HANDOVER_TIMEOUT_MS;
      s.extra = 0;
      while (!handedOver(s)) {
        if (performance.now() > deadline) throw new Error(`benchmark: ${side} never handed over its ${kind} JSON`);
        // A recorder that defers its mutation work past our flush gets flushed again.
        if (side === 'ours' && kind !== 'snapshot' && s.acked) flushOurs(s);
        s.extra++;
        await sleep(0);
      }
      prepared = {};
      return s.extra;
    },

    /**
     * Outside the window: the in-page figures of the last run(). ms: from the end of
     * the DOM change (for a snapshot: from the start() / record() call) to the last
     * hand-over of the scenario's JSON; bytes; whether any canary leaked.
     */
    async result() {
      const s = current;
      if (s.kind === 'snapshot') await sleep(100); // let the longtask observer deliver its entries
      const common = {
        dom_ms: s.t1 - s.t0,
        extra_tasks: s.extra,
        added_nodes: bench.countNodes() - bench.nodesBefore,
        edited_texts: s.edited,
      };
      if (s.side === 'baseline') return { ...common, ms: 0, bytes: 0, longest_task_ms: 0, leaked: false };
      let sent;
      let ends;
      if (s.side === 'ours') {
        const all = frames.slice(s.frames).filter(isBatch);
        const wanted = (f) => (s.kind === 'snapshot' ? kinds(f).snapshot : kinds(f).mutation);
        // A snapshot counts up to its own frame; a burst counts every frame it caused.
        sent = s.kind === 'snapshot' ? all.slice(0, all.findIndex(wanted) + 1) : all;
        ends = sent.filter(wanted).map((f) => f.t);
        sent = sent.map((f) => f.data);
      } else {
        const all = emitted.slice(s.emitted);
        const wanted = (e) => (s.kind === 'snapshot' ? e.type === 2 : e.type === 3 && e.source === 0);
        const events = s.kind === 'snapshot' ? all.slice(0, all.findIndex(wanted) + 1) : all;
        ends = events.filter(wanted).map((e) => e.t);
        sent = events.map((e) => e.json);
      }
      if (!ends.length) throw new Error(`benchmark: no ${s.kind} JSON from ${s.side}`);
      const end = Math.max(...ends);
      return {
        ...common,
        ms: end - s.t1,
        bytes: sent.reduce((sum, text) => sum + bytes(text), 0),
        longest_task_ms: s.kind === 'snapshot' ? longestTask(s.t0, end) : 0,
        leaked: sent.some((text) => CANARY.test(text)),
      };
    },
  };
  window.__bench = bench;
})();
