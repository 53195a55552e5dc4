// A Recorder owns all state of one recording: session, transport, mirror, observers.
// It builds the single context object that the serializer and observers share.

import { createMasker, Scope } from './mask';
import { Mirror } from './mirror';
import { observeInput } from './observers/input';
import { listen } from './observers/listen';
import { observeMouse } from './observers/mouse';
import { observeMutations } from './observers/mutation';
import type { Config } from './options';
import { IDLE_MS, loadSession, newSession, saveSession, type SessionState } from './session';
import { serializeNode } from './snapshot';
import { Transport } from './transport';
import { EventType, type Observer, type RecordContext, type RecordedEvent, type Win } from './types';

/** Every observer the recorder runs; each returns its own teardown. */
const OBSERVERS: readonly Observer[] = [observeMutations, observeMouse, observeInput];
/** How often the excluded-route check runs when nothing else triggers it. */
const ROUTE_POLL_MS = 500;
/** A finished session's socket gets this long to deliver its last batches. */
const RETIRE_MS = 10_000;
/** sessionStorage is refreshed at most this often on user activity. */
const SAVE_EVERY_MS = 5_000;

export class Recorder {
  private readonly ctx: RecordContext;
  private session!: SessionState;
  private transport: Transport | null = null;
  private readonly retired = new Set<Transport>();
  private teardowns: Array<() => void> = [];
  private paused = false;
  private stopped = false;
  private warned = false;
  private savedAt = 0;

  constructor(
    private readonly win: Win,
    private readonly config: Config,
    private readonly onStopped: () => void,
  ) {
    const doc = win.document;
    this.ctx = {
      win,
      doc,
      mask: createMasker(config.rules, doc),
      mirror: new Mirror(),
      emit: (event) => this.emit(event),
      capturing: () => this.capturing(),
      activity: () => this.activity(),
    };
  }

  async start(): Promise<void> {
    this.session = loadSession(this.win, Date.now());
    saveSession(this.win, this.session);
    this.transport = this.openTransport(false);
    try {
      await this.transport.connect();
    } catch (error) {
      this.stop();
      throw error;
    }
    if (this.stopped) throw new Error('phi-replay: stopped before recording started');
    if (this.config.rules.excluded(this.win.location.pathname)) this.paused = true;
    else this.fullSnapshot();
    this.teardowns = OBSERVERS.map((observe) => observe(this.ctx));
    // A page being left sends its tail now: the batch timer would not get to run.
    const sendNow = (): void => this.transport?.sendNow();
    this.teardowns.push(
      listen(this.win, 'pagehide', sendNow),
      listen(this.win.document, 'visibilitychange', () => {
        if (this.win.document.visibilityState === 'hidden') sendNow();
      }),
    );
    if (this.config.rules.hasExcludedRoutes) {
      const check = (): void => void this.capturing();
      const timer = this.win.setInterval(check, ROUTE_POLL_MS);
      this.teardowns.push(
        () => this.win.clearInterval(timer),
        listen(this.win, 'popstate', check),
        listen(this.win, 'hashchange', check),
      );
    }
  }

  flush(): Promise<void> {
    if (this.stopped || !this.transport) return Promise.reject(new Error('phi-replay: not recording'));
    return this.transport.flush();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.teardowns.forEach((teardown) => teardown());
    this.teardowns = [];
    this.transport?.close();
    this.retired.forEach((transport) => transport.close());
    this.retired.clear();
    if (this.session) saveSession(this.win, this.session);
    this.onStopped();
  }

  private openTransport(retryFirst: boolean): Transport {
    const session = this.session;
    return new Transport({
      win: this.win,
      url: this.config.url,
      hello: {
        app_key: this.config.appKey,
        session_id: session.sessionId,
        tab_id: session.tabId,
        user: this.config.user,
        environment: this.config.environment,
      },
      firstSeq: session.seq + 1,
      retryFirst,
      onSeq: (seq) => {
        session.seq = seq;
        saveSession(this.win, session);
      },
      onFatal: (code) => {
        if (!this.warned) {
          this.warned = true;
          this.win.console.warn(`phi-replay: recording stopped, the collector refused this page (${code})`);
        }
        this.stop();
      },
    });
  }

  private emit(event: RecordedEvent): void {
    if (!this.stopped && !this.paused) this.transport?.push({ ...event, timestamp: Date.now() });
  }

  private fullSnapshot(): void {
    const { ctx, win } = this;
    ctx.mirror = new Mirror(ctx.mirror.nextId);
    const node = serializeNode(ctx.doc, ctx, Scope.Masked);
    if (!node) return;
    this.emit({
      type: EventType.Meta,
      data: { href: ctx.mask.pageUrl(win.location.href), width: win.innerWidth, height: win.innerHeight },
    });
    this.emit({
      type: EventType.FullSnapshot,
      data: { node, initialOffset: { top: Math.round(win.scrollY), left: Math.round(win.scrollX) } },
    });
    // Without its snapshot a recording cannot be replayed: send it at once.
    this.transport?.sendNow();
  }

  /**
   * The excluded-route gate. While the path matches `exclude_routes` nothing is
   * captured; on leaving, a fresh full snapshot replaces whatever the caller saw.
   */
  private capturing(): boolean {
    if (this.stopped) return false;
    if (this.config.rules.excluded(this.win.location.pathname)) {
      this.paused = true;
      return false;
    }
    if (this.paused) {
      this.paused = false;
      this.fullSnapshot();
      return false;
    }
    return true;
  }

  /** User activity: after IDLE_MS without any, the next activity starts a new session. */
  private activity(): void {
    const now = Date.now();
    const session = this.session;
    if (now - session.lastActive > IDLE_MS && this.transport) {
      this.transport.retire(RETIRE_MS);
      this.retired.add(this.transport);
      this.session = newSession(this.win, session.tabId, now);
      saveSession(this.win, this.session);
      this.savedAt = now;
      this.transport = this.openTransport(true);
      this.transport.connect().catch(() => undefined);
      this.fullSnapshot();
      return;
    }
    session.lastActive = now;
    if (now - this.savedAt > SAVE_EVERY_MS) {
      this.savedAt = now;
      saveSession(this.win, session);
    }
  }
}
