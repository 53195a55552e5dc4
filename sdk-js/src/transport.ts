// The ingest socket (docs/protocol.md): hello → welcome, then numbered batches that
// stay in memory until the collector acks them, resent from `next_seq` after a
// reconnect. Knows nothing about the DOM or masking; it only moves finished events.

import type { EventWithTime, Win } from './types';

export interface Hello {
  app_key: string;
  session_id: string;
  tab_id: string;
  user: string;
  environment: string;
}

export interface TransportOptions {
  win: Win;
  url: string;
  hello: Hello;
  /** Lowest seq this transport may use (one past what this tab already used). */
  firstSeq: number;
  /** Keep retrying when the first handshake fails, instead of rejecting `connect()`. */
  retryFirst: boolean;
  /** A seq was handed out (persisted so a reload does not reuse it). */
  onSeq(seq: number): void;
  /** The collector refused this page for good (`unauthorised`, `origin_not_allowed`). */
  onFatal(code: string): void;
}

interface Batch {
  seq: number;
  frame: string;
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
/** Error codes after which the recorder must stop. */
const FATAL_CODES = new Set(['unauthorised', 'origin_not_allowed']);
/** Error codes that refuse one frame: drop that batch and continue. */
const REFUSED_CODES = new Set(['invalid_batch', 'too_large', 'malformed_json', 'unknown_type']);
/** Close codes the collector uses for the fatal errors above. */
const FATAL_CLOSE: Record<number, string> = { 4001: 'unauthorised', 4003: 'origin_not_allowed' };

export class Transport {
  private ws: WebSocket | null = null;
  private pending: EventWithTime[] = [];
  private unacked: Batch[] = [];
  private waiters: Waiter[] = [];
  /** Next seq to hand out; 0 until the first welcome tells us where to start. */
  private nextSeq = 0;
  private welcomed = false;
  private closed = false;
  private attempts = 0;
  private timers: Record<'cut' | 'reconnect' | 'handshake' | 'retire', number | undefined> = {
    cut: undefined,
    reconnect: undefined,
    handshake: undefined,
    retire: undefined,
  };
  private ready: { resolve(): void; reject(error: Error): void } | null = null;

  constructor(private readonly o: TransportOptions) {}

  /** Opens the socket; resolves on the first `welcome`. */
  connect(): Promise<void> {
    const promise = new Promise<void>((resolve, reject) => {
      this.ready = { resolve, reject };
    });
    this.open();
    return promise;
  }

  push(event: EventWithTime): void {
    if (this.closed) return;
    this.pending.push(event);
    if (this.pending.length >= MAX_BATCH_EVENTS) this.cut();
    else if (this.timers.cut === undefined) this.timers.cut = this.o.win.setTimeout(() => this.cut(), BATCH_INTERVAL_MS);
  }

  /** Send what is buffered now, without waiting for the batch timer. */
  sendNow(): void {
    if (!this.closed) this.cut();
  }

  /** Sends what is buffered now; resolves once every batch so far is acked. */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('phi-replay: not recording'));
    this.cut();
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target: this.pending.length ? undefined : this.nextSeq - 1, resolve, reject });
      this.settle();
    });
  }

  /** Finish sending (session ended): close once everything is acked, or after `ms`. */
  retire(ms: number): void {
    if (this.closed) return;
    this.timers.retire = this.o.win.setTimeout(() => this.close(), ms);
    this.flush().then(
      () => this.close(),
      () => undefined,
    );
  }

  close(reason = 'phi-replay: stopped before the collector acknowledged every batch'): void {
    if (this.closed) return;
    if (this.welcomed) this.cut(); // best effort: send the tail before closing
    this.closed = true;
    Object.values(this.timers).forEach((id) => this.o.win.clearTimeout(id));
    if (this.ws) this.drop(this.ws, 1000);
    const error = new Error(reason);
    this.waiters.forEach((waiter) => waiter.reject(error));
    this.waiters = [];
    this.ready?.reject(error);
    this.ready = null;
  }

  private open(): void {
    this.timers.reconnect = undefined;
    let ws: WebSocket;
    try {
      ws = new this.o.win.WebSocket(this.o.url);
    } catch {
      this.lost(0);
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.send(ws, JSON.stringify({ type: 'hello', v: 1, ...this.o.hello }));
    ws.onmessage = (event: MessageEvent) => this.receive(ws, event.data);
    ws.onclose = (event: CloseEvent) => {
      if (ws !== this.ws) return;
      this.drop(ws);
      this.lost(event.code);
    };
    ws.onerror = () => undefined; // a close event always follows
    this.timers.handshake = this.o.win.setTimeout(() => {
      if (ws !== this.ws || this.welcomed) return;
      this.drop(ws, 1000);
      this.lost(0);
    }, HANDSHAKE_TIMEOUT_MS);
  }

  /** Detach and close a socket we no longer use. */
  private drop(ws: WebSocket, code?: number): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (code !== undefined) {
      try {
        ws.close(code);
      } catch {
        // Already closing.
      }
    }
    if (this.ws === ws) this.ws = null;
    this.welcomed = false;
    this.o.win.clearTimeout(this.timers.handshake);
  }

  private lost(code: number): void {
    if (this.closed) return;
    const fatal = FATAL_CLOSE[code];
    if (fatal) {
      this.fatal(fatal);
    } else if (this.ready && !this.o.retryFirst) {
      this.close(`phi-replay: could not connect to the collector (close code ${code})`);
    } else {
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempts++);
      this.timers.reconnect = this.o.win.setTimeout(() => this.open(), delay * (0.5 + Math.random() / 2));
    }
  }

  private fatal(code: string): void {
    this.close(`phi-replay: the collector refused to record this page (${code})`);
    this.o.onFatal(code);
  }

  private send(ws: WebSocket, frame: string): void {
    try {
      if (ws.readyState === 1) ws.send(frame);
    } catch {
      // The close event that follows triggers a reconnect and resend.
    }
  }

  private receive(ws: WebSocket, data: unknown): void {
    if (ws !== this.ws || typeof data !== 'string') return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data) as Record<string, unknown>;
    } catch {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    const seq = typeof msg.seq === 'number' ? msg.seq : undefined;
    if (msg.type === 'welcome') {
      this.welcome(ws, typeof msg.next_seq === 'number' && msg.next_seq >= 1 ? Math.floor(msg.next_seq) : 1);
    } else if (msg.type === 'ack' && seq !== undefined) {
      this.unacked = this.unacked.filter((batch) => batch.seq !== seq);
      this.settle();
    } else if (msg.type === 'error' && typeof msg.code === 'string') {
      if (FATAL_CODES.has(msg.code)) {
        this.fatal(msg.code);
      } else if (REFUSED_CODES.has(msg.code)) {
        // Without a seq, the refused frame is the oldest one in flight.
        const refused = seq ?? this.unacked[0]?.seq;
        this.unacked = this.unacked.filter((batch) => batch.seq !== refused);
        this.settle();
      }
      // Other codes (protocol, internal): the close that follows makes us reconnect.
    }
  }

  private welcome(ws: WebSocket, nextSeq: number): void {
    this.o.win.clearTimeout(this.timers.handshake);
    this.welcomed = true;
    this.attempts = 0;
    this.nextSeq = Math.max(this.nextSeq, this.o.firstSeq, nextSeq);
    // Everything below next_seq is durable already.
    this.unacked = this.unacked.filter((batch) => batch.seq >= nextSeq);
    this.unacked.forEach((batch) => this.send(ws, batch.frame));
    this.cut();
    this.settle();
    this.ready?.resolve();
    this.ready = null;
  }

  /** Turn buffered events into numbered batches and send them if the socket is ready. */
  private cut(): void {
    this.o.win.clearTimeout(this.timers.cut);
    this.timers.cut = undefined;
    if (this.nextSeq === 0 || this.pending.length === 0) return;
    const events = this.pending;
    this.pending = [];
    for (const json of chunks(events)) {
      const seq = this.nextSeq++;
      const batch = { seq, frame: `{"type":"batch","seq":${seq},"events":${json}}` };
      this.unacked.push(batch);
      this.o.onSeq(seq);
      if (this.welcomed && this.ws) this.send(this.ws, batch.frame);
    }
  }

  private settle(): void {
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.target === undefined && this.nextSeq > 0 && this.pending.length === 0) {
        waiter.target = this.nextSeq - 1;
      }
      const target = waiter.target;
      if (target === undefined || this.unacked.some((batch) => batch.seq <= target)) return true;
      waiter.resolve();
      return false;
    });
  }
}

/**
 * JSON arrays of events, each at most MAX_BATCH_EVENTS long and MAX_FRAME_BYTES big
 * (unless one event alone is bigger). Each event is stringified exactly once, and its
 * UTF-8 size is only worked out when another event may join its frame: a batch of one
 * big event (a snapshot, a large mutation) is never scanned for it.
 */
function chunks(events: EventWithTime[]): string[] {
  const frames: string[] = [];
  let part: string[] = [];
  let bytes = 2; // the brackets, and the events of `part` counted so far
  let uncounted: string | null = null; // the last event of `part`, not yet counted
  for (const event of events) {
    const json = JSON.stringify(event);
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
