// The ingest socket (docs/protocol.md): hello → welcome, then numbered batches that
// stay in memory until the collector acks them. Knows nothing about the DOM or
// masking; it only moves finished events.
//
// Nothing acknowledged is lost, and nothing unacknowledged is dropped quietly:
// - Every batch stays in a bounded buffer until acked (start option `bufferBytes`,
//   default 5 MB, counted as characters of JSON, which is bytes for ASCII). After a
//   reconnect it is resent; numbering continues from the welcome's `next_seq`.
// - When the buffer is full the transport refuses events and tells the recorder
//   (`onFull(true)`), which stops capturing; once acks bring it below half,
//   `onFull(false)` and the recorder sends a `phi-replay.gap` Custom event, then a
//   fresh Meta and full snapshot.
// - Reconnects back off exponentially (0.5 s doubling to 30 s, each delay drawn from
//   its upper half), reset by an ack. While `navigator.onLine` is false no attempt is
//   made; the `online` event reconnects at once.
// - On page hide, `hide()` sends the tail over the socket and also by
//   `navigator.sendBeacon` to `/v1/beacon`: one text/plain JSON body
//   `{"hello":{…the socket's hello…},"batches":[{"type":"batch","seq":…,"events":[…]},…]}`
//   of at most BEACON_MAX_BYTES and BEACON_MAX_BATCHES, holding the newest unacked
//   batches that fit (a batch too big alone is skipped), oldest first, each beaconed
//   at most once. They stay in the buffer: if the page lives on, the socket delivers
//   them and the collector dedupes.
//   Since a beacon can make a later seq durable before an earlier one, after any beacon
//   `next_seq` no longer proves that lower batches arrived: they are resent too.
// - `unauthorised`, `origin_not_allowed` and `disabled` end the transport for good
//   (`onFatal`); after `disabled` nothing more is sent, not even what is buffered.
//   A refused frame (`invalid_batch`, `too_large`, …) is dropped; one `too_large` is
//   never resent: `onTooLarge` lets the recorder mark the gap and snapshot afresh. A
//   close 1009 with no `too_large` before it (a proxy's frame limit) counts as one for
//   the largest batch in flight.
// - `idle_timeout` (close 4008) with nothing unsent: no reconnect until the next event.
// - `session_mismatch`, `session_in_use` and `seq_out_of_range` say the session can no
//   longer be written from here (another user or tab started it, another page holds it,
//   or its numbering is lost): `onConflict` gives the hello of a fresh session, whose
//   numbering starts anew; what was buffered for the old one is dropped.
// - Each welcome's `config` (the collector's rule additions) goes to `onWelcome` before
//   anything more is sent on that socket; the transport does not read it.

import { failure } from './errors';
import { listen } from './observers/listen';
import type { EventWithTime, Win } from './types';

export interface Hello {
  app_key: string;
  session_id: string;
  tab_id: string;
  user: string;
  environment: string;
  /** One per loaded page: a reconnect of this page takes the session over (docs/protocol.md). */
  page_id: string;
}

export interface TransportOptions {
  win: Win;
  url: string;
  /** `http(s)://…/v1/beacon`, for the page-hide fallback. */
  beaconUrl: string;
  hello: Hello;
  /** Lowest seq this transport may use (one past what this tab already used). */
  firstSeq: number;
  /** Keep retrying when the first handshake fails, instead of rejecting `connect()`. */
  retryFirst: boolean;
  /** Bound of unacked plus unsent events, in characters of JSON. */
  bufferBytes: number;
  /** A seq was handed out (persisted so a reload does not reuse it). */
  onSeq(seq: number): void;
  /**
   * A welcome arrived; `config` is its `config` field as received (undefined when
   * absent). Called before the socket sends anything more, with `next_seq` applied;
   * the callee may push events (sent after the resends) or abort().
   */
  onWelcome(config: unknown): void;
  /**
   * The collector refused this page for good (`unauthorised`, `origin_not_allowed`,
   * `disabled`); `said` is the collector's reason, cleaned ('' when it gave none).
   */
  onFatal(code: string, said: string): void;
  /** The buffer filled up (events are refused from now on), or drained below half. */
  onFull(full: boolean): void;
  /** The collector refused this session (`code`): the hello of a fresh one, or null to stop. */
  onConflict(code: string): Hello | null;
  /** A batch was over the collector's size limit and is dropped; `snapshot`: it held a full snapshot. */
  onTooLarge(snapshot: boolean): void;
}

type TimerName = 'cut' | 'reconnect' | 'handshake' | 'retire';

interface Batch {
  seq: number;
  frame: string;
  /** Already handed to sendBeacon: not beaconed again. */
  beaconed?: true;
}

interface Waiter {
  /** Highest seq this flush waits for; undefined until the first welcome numbers the events. */
  target?: number;
  resolve(): void;
  reject(error: Error): void;
}

/** Events are batched for this long before a frame is sent. */
const BATCH_INTERVAL_MS = 1000;
/** A batch is cut early at this many events (the protocol allows 5,000). */
const MAX_BATCH_EVENTS = 1000;
/** Frames are split above this many bytes (the collector's default limit is 4 MiB). */
const MAX_FRAME_BYTES = 1024 * 1024;
/** The collector must answer `hello` within this time. */
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** First reconnect delay; doubles per failed attempt up to RECONNECT_MAX_MS, with jitter. */
const RECONNECT_BASE_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** Largest beacon body in UTF-8 bytes: browsers cap in-flight beacons at 64 KiB. */
const BEACON_MAX_BYTES = 60_000;
/** Most batches in one beacon (the collector refuses a beacon with more). */
const BEACON_MAX_BATCHES = 100;
/** Error codes after which the recorder must stop. */
const FATAL_CODES = new Set(['unauthorised', 'origin_not_allowed', 'disabled']);
/** Error codes that refuse one frame: drop that batch and continue. */
const REFUSED_CODES = new Set(['invalid_batch', 'too_large', 'malformed_json', 'unknown_type']);
/** Error codes after which this session cannot be written: continue in a fresh one. */
const CONFLICT_CODES = new Set(['session_mismatch', 'session_in_use', 'seq_out_of_range']);
/** Close codes the collector uses for the fatal errors above. */
const FATAL_CLOSE: Record<number, string> = { 4001: 'unauthorised', 4003: 'origin_not_allowed', 4004: 'disabled' };
/** Close code of `idle_timeout`: the collector closed a socket that had nothing to say. */
const CLOSE_IDLE = 4008;
/** RFC 6455 "message too big": from a proxy (or a collector without the frame cap), with no message. */
const CLOSE_TOO_BIG = 1009;

export class Transport {
  #ws: WebSocket | null = null;
  /** Events not yet cut into batches, each already JSON. */
  #pending: string[] = [];
  #pendingSize = 0;
  #unacked: Batch[] = [];
  /** Characters held in `unacked` frames. */
  #size = 0;
  #full = false;
  /** Some batch went out by beacon: `next_seq` may have skipped one that never arrived. */
  #beaconed = false;
  #waiters: Waiter[] = [];
  /** Next seq to hand out; 0 until the first welcome tells us where to start. */
  #nextSeq = 0;
  #welcomed = false;
  /** This socket brought a `too_large` error: its close 1009 needs no guess. */
  #toldTooLarge = false;
  /** Closed for idleness with nothing to send: the next event reconnects, not a timer. */
  #dormant = false;
  #closed = false;
  #attempts = 0;
  #timers: Partial<Record<TimerName, number>> = {};
  #ready: { resolve(): void; reject(error: Error): void } | null = null;
  #unlisten: Array<() => void> = [];
  #hello: string;
  /** Lowest seq to use: the option, until a fresh session starts numbering at 1. */
  #firstSeq: number;
  readonly #o: TransportOptions;
  readonly #win: Win;

  constructor(o: TransportOptions) {
    this.#o = o;
    this.#win = o.win;
    this.#hello = JSON.stringify({ type: 'hello', v: 1, ...o.hello });
    this.#firstSeq = o.firstSeq;
  }

  /** Opens the socket; resolves on the first `welcome`. */
  connect(): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      this.#ready = { resolve, reject };
    });
    const win = this.#win;
    this.#unlisten = [
      // Back online: reconnect now instead of waiting out the backoff.
      listen(win, 'online', () => {
        if (!this.#closed && !this.#ws) this.#open();
      }),
      // Offline: a pending attempt would only fail and grow the backoff.
      listen(win, 'offline', () => {
        if (!this.#ws) this.#stopTimer('reconnect');
      }),
    ];
    this.#open();
    return promise;
  }

  push(event: EventWithTime): void {
    if (this.#closed || this.#full) return;
    const json = JSON.stringify(event);
    this.#pending.push(json);
    this.#pendingSize += json.length;
    if (this.#dormant) this.#open();
    if (this.#size + this.#pendingSize > this.#o.bufferBytes) {
      // This event is kept (a snapshot bigger than the buffer must still go out); later ones are refused.
      this.#full = true;
      this.#o.onFull(true);
    }
    if (this.#pending.length >= MAX_BATCH_EVENTS) this.#cut();
    else if (this.#timers.cut === undefined) this.#later('cut', () => this.#cut(), BATCH_INTERVAL_MS);
  }

  /**
   * Drop the events not yet cut into batches (the tab entered an excluded route, which a
   * router may have rendered before it changed the URL). Nothing acknowledged is lost.
   */
  discardPending(): void {
    this.#pending = [];
    this.#pendingSize = 0;
    this.#stopTimer('cut');
  }

  /** Send what is buffered now, without waiting for the batch timer. */
  sendNow(): void {
    if (!this.#closed) this.#cut();
  }

  /** The page is being hidden: send the tail over the socket, and by beacon in case the page dies. */
  hide(): void {
    if (this.#closed) return;
    this.#cut();
    const nav = this.#win.navigator;
    if (typeof nav?.sendBeacon !== 'function') return;
    let room = BEACON_MAX_BYTES - utf8Length(this.#hello) - 24; // 24: the body's own keys and brackets
    const picked: Batch[] = [];
    for (let i = this.#unacked.length - 1; i >= 0 && room > 64 && picked.length < BEACON_MAX_BATCHES; i--) {
      const batch = this.#unacked[i];
      // UTF-8 takes at least one byte per character: most big frames are ruled out unscanned.
      if (batch.beaconed || batch.frame.length >= room) continue;
      const bytes = utf8Length(batch.frame) + 1;
      if (bytes > room) continue;
      room -= bytes;
      picked.unshift(batch);
    }
    if (!picked.length) return;
    const body = `{"hello":${this.#hello},"batches":[${picked.map((batch) => batch.frame).join(',')}]}`;
    let sent = false;
    try {
      sent = nav.sendBeacon(this.#o.beaconUrl, body);
    } catch {
      // A refused beacon leaves the batches to the socket.
    }
    if (!sent) return;
    picked.forEach((batch) => (batch.beaconed = true));
    this.#beaconed = true;
  }

  /** Sends what is buffered now; resolves once every batch so far is acked. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(failure('not recording'));
    this.#cut();
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target: this.#pending.length ? undefined : this.#nextSeq - 1, resolve, reject });
      this.#settle();
    });
  }

  /** Finish sending (session ended): close once everything is acked, or after `ms`. */
  retire(ms: number): void {
    if (this.#closed) return;
    this.#later('retire', () => this.close(), ms);
    this.flush().then(
      () => this.close(),
      () => undefined,
    );
  }

  /** Close without sending anything more: what is buffered is dropped. */
  abort(reason?: string): void {
    this.#pending = [];
    this.#unacked = [];
    this.close(reason);
  }

  close(reason = 'phi-replay: stopped before the collector acknowledged everything'): void {
    if (this.#closed) return;
    if (this.#welcomed) this.#cut(); // best effort: send the tail before closing
    this.#closed = true;
    Object.values(this.#timers).forEach((id) => this.#win.clearTimeout(id));
    this.#unlisten.forEach((remove) => remove());
    this.#unlisten = [];
    if (this.#ws) this.#drop(this.#ws, 1000);
    const error = new Error(reason);
    this.#waiters.forEach((waiter) => waiter.reject(error));
    this.#waiters = [];
    this.#ready?.reject(error);
    this.#ready = null;
  }

  #later(name: TimerName, run: () => void, ms: number): void {
    this.#timers[name] = this.#win.setTimeout(run, ms);
  }

  #stopTimer(name: TimerName): void {
    this.#win.clearTimeout(this.#timers[name]);
    this.#timers[name] = undefined;
  }

  #open(): void {
    this.#stopTimer('reconnect');
    this.#dormant = false;
    let ws: WebSocket;
    try {
      ws = new this.#win.WebSocket(this.#o.url);
    } catch {
      this.#lost(0);
      return;
    }
    this.#ws = ws;
    this.#toldTooLarge = false;
    ws.onopen = () => this.#send(ws, this.#hello);
    ws.onmessage = (event: MessageEvent) => this.#receive(ws, event.data);
    ws.onclose = (event: CloseEvent) => {
      if (ws !== this.#ws) return;
      const guess = event.code === CLOSE_TOO_BIG && !this.#toldTooLarge;
      this.#drop(ws);
      if (guess) this.#tooBig();
      this.#lost(event.code);
    };
    ws.onerror = () => undefined; // a close event always follows
    this.#later('handshake', () => {
      if (ws !== this.#ws || this.#welcomed) return;
      this.#drop(ws, 1000);
      this.#lost(0);
    }, HANDSHAKE_TIMEOUT_MS);
  }

  /** Detach and close a socket we no longer use. */
  #drop(ws: WebSocket, code?: number): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (code !== undefined) {
      try {
        ws.close(code);
      } catch {
        // Already closing.
      }
    }
    if (this.#ws === ws) this.#ws = null;
    this.#welcomed = false;
    this.#stopTimer('handshake');
  }

  #lost(code: number): void {
    if (this.#closed) return;
    const fatal = FATAL_CLOSE[code];
    if (fatal) {
      this.#fatal(fatal);
    } else if (code === CLOSE_IDLE && !this.#unacked.length && !this.#pending.length) {
      this.#dormant = true; // an idle tab holds no socket until it has something to say
    } else if (this.#ready && !this.#o.retryFirst) {
      this.close(`phi-replay: could not connect to the collector (close code ${code})`);
    } else if (this.#win.navigator?.onLine !== false) {
      // Offline, nothing is scheduled: the `online` listener reconnects.
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.#attempts++);
      this.#later('reconnect', () => this.#open(), delay * (0.5 + Math.random() / 2));
    }
  }

  #fatal(code: string, said?: unknown): void {
    // The collector's reason says which Origin, instance or environment (never page
    // content); shown as plain text of bounded length, whatever arrives.
    const why = typeof said === 'string' ? said.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 200) : '';
    const reason = `phi-replay: the collector refused this page (${code}${why ? ': ' + why : ''})`;
    // Disabled: nothing more reaches the collector, not even what is already buffered.
    if (code === 'disabled') this.abort(reason);
    else this.close(reason);
    this.#o.onFatal(code, why);
  }

  #send(ws: WebSocket, frame: string): void {
    try {
      if (ws.readyState === 1) ws.send(frame);
    } catch {
      // The close event that follows triggers a reconnect and resend.
    }
  }

  #receive(ws: WebSocket, data: unknown): void {
    if (ws !== this.#ws || typeof data !== 'string') return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    const seq = typeof msg.seq === 'number' ? msg.seq : undefined;
    if (msg.type === 'welcome') {
      this.#welcome(ws, typeof msg.next_seq === 'number' && msg.next_seq >= 1 ? Math.floor(msg.next_seq) : 1, msg.config);
    } else if (msg.type === 'ack' && seq !== undefined) {
      this.#attempts = 0; // the collector makes batches durable again: a later loss starts backing off afresh
      this.#forget((batch) => batch.seq !== seq);
    } else if (msg.type === 'error' && typeof msg.code === 'string') {
      if (FATAL_CODES.has(msg.code)) {
        this.#fatal(msg.code, msg.reason);
      } else if (CONFLICT_CODES.has(msg.code)) {
        this.#renew(ws, msg.code);
      } else if (REFUSED_CODES.has(msg.code)) {
        // Without a seq, the refused frame is the oldest one in flight.
        const refused = this.#unacked.find((batch) => batch.seq === (seq ?? this.#unacked[0]?.seq));
        if (msg.code === 'too_large') this.#toldTooLarge = true;
        this.#refused(refused, msg.code === 'too_large');
      }
      // Other codes (protocol, internal): the close that follows makes us reconnect.
    }
  }

  #refused(batch: Batch | undefined, tooLarge: boolean): void {
    this.#forget((other) => other !== batch);
    if (batch && tooLarge) this.#o.onTooLarge(holdsSnapshot(batch.frame));
  }

  /**
   * A close 1009 without a `too_large` message (a proxy's frame limit): some frame in
   * flight was too big for it. The largest is the one to give up, never to be resent
   * (each such close gives up one more, so a smaller limit still ends the loop).
   */
  #tooBig(): void {
    let largest: Batch | undefined;
    for (const batch of this.#unacked) if (!largest || batch.frame.length > largest.frame.length) largest = batch;
    this.#refused(largest, true);
  }

  /** Continue in a fresh session (CONFLICT_CODES): new hello, numbering from 1, nothing old resent. */
  #renew(ws: WebSocket, code: string): void {
    const hello = this.#o.onConflict(code);
    if (!hello) {
      this.abort(`phi-replay: the collector refused this session (${code})`);
      return;
    }
    this.#hello = JSON.stringify({ type: 'hello', v: 1, ...hello });
    this.#pending = [];
    this.#pendingSize = 0;
    this.#unacked = [];
    this.#nextSeq = 0;
    this.#firstSeq = 1;
    this.#beaconed = false;
    this.#attempts = 0;
    this.#drop(ws, 1000);
    this.#forget(() => true);
    if (!this.#closed) this.#open();
  }

  #welcome(ws: WebSocket, nextSeq: number, config: unknown): void {
    this.#stopTimer('handshake');
    this.#nextSeq = Math.max(this.#nextSeq, this.#firstSeq, nextSeq);
    // Everything below next_seq is durable already, unless a beacon delivered out of order.
    if (!this.#beaconed) this.#unacked = this.#unacked.filter((batch) => batch.seq >= nextSeq);
    // Numbering is settled, nothing is sent yet: new rules apply before anything more goes out.
    this.#o.onWelcome(config);
    if (this.#closed) return;
    this.#welcomed = true;
    // Nothing to confirm: the connection counts as working. Otherwise the first ack decides.
    if (!this.#unacked.length) this.#attempts = 0;
    this.#unacked.forEach((batch) => this.#send(ws, batch.frame));
    this.#cut();
    this.#forget(() => true);
    this.#ready?.resolve();
    this.#ready = null;
  }

  /** Turn buffered events into numbered batches and send them if the socket is ready. */
  #cut(): void {
    this.#stopTimer('cut');
    if (this.#nextSeq === 0 || this.#pending.length === 0) return;
    const events = this.#pending;
    this.#pending = [];
    this.#pendingSize = 0;
    for (const json of chunks(events)) {
      const seq = this.#nextSeq++;
      const batch = { seq, frame: `{"type":"batch","seq":${seq},"events":${json}}` };
      this.#unacked.push(batch);
      this.#size += batch.frame.length;
      if (this.#welcomed && this.#ws) this.#send(this.#ws, batch.frame);
    }
    // Saved once, after the frames went out: no other script (a reload) can run in between.
    this.#o.onSeq(this.#nextSeq - 1);
  }

  /** Keep only the unacked batches that pass `keep`; capture may resume once below half the bound. */
  #forget(keep: (batch: Batch) => boolean): void {
    this.#unacked = this.#unacked.filter(keep);
    this.#size = this.#unacked.reduce((sum, batch) => sum + batch.frame.length, 0);
    if (this.#full && this.#size + this.#pendingSize < this.#o.bufferBytes / 2) {
      this.#full = false;
      this.#o.onFull(false);
    }
    this.#settle();
  }

  #settle(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.target === undefined && this.#nextSeq > 0 && this.#pending.length === 0) {
        waiter.target = this.#nextSeq - 1;
      }
      const target = waiter.target;
      if (target === undefined || this.#unacked.some((batch) => batch.seq <= target)) return true;
      waiter.resolve();
      return false;
    });
  }
}

/**
 * JSON arrays of events (given as JSON), each at most MAX_BATCH_EVENTS long and
 * MAX_FRAME_BYTES big (unless one event alone is bigger). An event's UTF-8 size is only worked out when another event may join its frame: a batch of one
 * big event (a snapshot, a large mutation) is never scanned for it.
 */
function chunks(events: string[]): string[] {
  const frames: string[] = [];
  let part: string[] = [];
  let bytes = 2; // the brackets, and the events of `part` counted so far
  let uncounted: string | null = null; // the last event of `part`, not yet counted
  for (const json of events) {
    if (part.length > 0) {
      if (uncounted !== null) bytes += utf8Length(uncounted) + 1; // and a comma
      uncounted = null;
      const size = utf8Length(json) + 1;
      if (part.length < MAX_BATCH_EVENTS && bytes + size <= MAX_FRAME_BYTES) {
        part.push(json);
        bytes += size;
        continue;
      }
      frames.push(`[${part.join(',')}]`);
      part = [];
      bytes = 2;
    }
    part.push(json);
    uncounted = json;
  }
  if (part.length > 0) frames.push(`[${part.join(',')}]`);
  return frames;
}

/** Whether a batch frame holds a full snapshot (rrweb type 2): worth parsing only when refused. */
function holdsSnapshot(frame: string): boolean {
  try {
    const events = (JSON.parse(frame) as { events?: Array<{ type?: unknown }> }).events;
    return Array.isArray(events) && events.some((event) => event?.type === 2);
  } catch {
    return false;
  }
}

/** Any character outside ASCII (which takes more than one UTF-8 byte). */
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 length of `s`; anything of MAX_FRAME_BYTES or more is just reported as too big. */
function utf8Length(s: string): number {
  // UTF-8 needs at least one byte per UTF-16 unit.
  if (s.length >= MAX_FRAME_BYTES || !NON_ASCII.test(s)) return s.length;
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
