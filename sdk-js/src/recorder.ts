// A Recorder owns all state of one recording: session, transport, mirror, observers.
// It builds the single context object that the serializer and observers share.
//
// The rules in force are the application's own plus the collector's additions from
// the latest welcome (`config`: mask, block, exclude_routes; never unmask). Additions
// from the first welcome apply before anything is captured. A later welcome with other
// additions replaces the previous ones and takes a fresh full snapshot (or pauses on a
// route now excluded). Events captured before that welcome are still sent: they were
// captured under the rules then in force, and a masked string cannot be masked again.
// An invalid addition stops the recorder (fail closed); `disabled` stops it quietly,
// sending nothing more.

import { createMasker, customPayload, isCustomTag, Scope } from './mask';
import { Mirror } from './mirror';
import { observeInput } from './observers/input';
import { listen, wrapMethod } from './observers/listen';
import { observeMedia } from './observers/media';
import { observeMouse } from './observers/mouse';
import { observeMutations } from './observers/mutation';
import { observeNavigation } from './observers/navigation';
import { observeScroll } from './observers/scroll';
import { checkUser, type Config } from './options';
import { buildRules, mergeRules, remoteRules, type CompiledRules, type RuleLists } from './rules';
import { isExpired, loadSession, newSession, saveSession, type SessionState } from './session';
import { serializeNode } from './snapshot';
import { RouteGate } from './gate';
import { Transport } from './transport';
import { EventType, type Observer, type RecordContext, type RecordedEvent, type Win } from './types';

/** Every observer the recorder runs; each returns its own teardown. */
const OBSERVERS: readonly Observer[] = [
  observeMutations,
  observeMouse,
  observeInput,
  observeScroll,
  observeMedia,
  observeNavigation,
];
/**
 * How often the URL is checked when nothing else noticed a change (a router that kept
 * a reference to pushState from before we wrapped it): excluded routes and new Meta.
 */
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
  /** Observers listening inside open shadow roots (RecordContext.onRoot). */
  private readonly rootWatchers = new Set<(root: ShadowRoot) => void>();
  /** Capturing, on an excluded route, or settling after leaving one (gate.ts). */
  private readonly gate: RouteGate;
  /** The transport's buffer is full: nothing is captured until it drains. */
  private full = false;
  /** Events were lost to a full buffer: the next full snapshot is preceded by a gap marker. */
  private gap = false;
  private stopped = false;
  private warned = false;
  /** The collector said this page does not record now: start() resolves, recording nothing. */
  private disabled = false;
  /** The rules in force: the application's own plus the collector's additions. */
  private rules: CompiledRules;
  /** Those rules' lists as JSON, to tell whether a welcome changed them. */
  private rulesKey: string;
  private savedAt = 0;
  /** The sanitised page URL of the last Meta, to send a new one when it changes. */
  private href = '';
  /** The user as last identified (start options, then identify()). */
  private user: string;

  constructor(
    private readonly win: Win,
    private readonly config: Config,
    private readonly onStopped: () => void,
  ) {
    const doc = win.document;
    this.user = config.user;
    this.rules = buildRules(config.rules);
    this.rulesKey = JSON.stringify(config.rules);
    this.gate = new RouteGate(
      win,
      (path) => this.rules.excluded(path),
      () => this.fullSnapshot(),
      () => {
        this.ctx.mask.taintFields(this.ctx.doc);
        this.transport?.discardPending();
      },
    );
    this.ctx = {
      win,
      doc,
      mask: createMasker(this.rules, doc),
      mirror: new Mirror(),
      emit: (event) => this.emit(event),
      capturing: () => this.capturing(),
      excluded: () => !this.stopped && this.gate.excluded(),
      domChanged: () => this.gate.changed(),
      drain: () => undefined,
      activity: () => this.activity(),
      navigated: () => this.navigated(),
      watchRoot: (root) => this.rootWatchers.forEach((watch) => watch(root)),
      onRoot: (watch) => {
        this.rootWatchers.add(watch);
        return () => this.rootWatchers.delete(watch);
      },
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
      // Not recording here is the collector's decision, not an error for the application.
      if (this.disabled) return;
      throw error;
    }
    if (this.stopped) throw new Error('phi-replay: stopped before recording started');
    // Observers first: the snapshot hands the shadow roots it finds to the mutation observer.
    this.teardowns = OBSERVERS.map((observe) => observe(this.ctx));
    // Started on an excluded route: all of the page as it is now is the excluded view.
    if (this.gate.excluded()) this.ctx.mask.taint(this.ctx.doc);
    else this.fullSnapshot();
    // document.open() erases the page and every listener the recorder has on it: what
    // follows could not be judged, so recording ends (fail closed).
    this.teardowns.push(
      wrapMethod(this.ctx.doc, 'open', () => {
        this.warn('phi-replay: the page replaced its document (document.open); recording stopped');
        this.stop();
      }),
    );
    // A page being left sends its tail now (socket and beacon): the batch timer would not get to run.
    const hide = (): void => {
      this.transport?.hide();
      this.retired.forEach((transport) => transport.hide());
    };
    const timer = this.win.setInterval(() => this.navigated(), ROUTE_POLL_MS);
    this.teardowns.push(
      () => this.win.clearInterval(timer),
      listen(this.win, 'pagehide', hide),
      listen(this.win.document, 'visibilitychange', () => {
        if (this.win.document.visibilityState === 'hidden') hide();
      }),
    );
  }

  /** Switch the recorded user: a different user starts a new session (the index is per user). */
  identify(user: string): void {
    const name = checkUser(user);
    if (this.stopped || name === this.user) return;
    this.user = name;
    this.rotate(Date.now());
  }

  /**
   * A custom marker (rrweb Custom event). Payload values are masked unless their key
   * is in `safe`; safe values still go through the detector. False when nothing was queued.
   */
  addEvent(tag: string, payload: Record<string, unknown>, safe: readonly string[]): boolean {
    if (!isCustomTag(tag)) throw new Error('phi-replay: addEvent() tag must be 1-64 characters of A-Z a-z 0-9 _ . : - and name the event, not carry data');
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new Error('phi-replay: addEvent() payload must be an object of scalar values');
    }
    if (!this.capturing()) return false;
    this.ctx.emit({ type: EventType.Custom, data: { tag, payload: customPayload(payload, safe) } });
    return true;
  }

  pseudonym(token: string): string | undefined {
    return this.ctx.mask.pseudonym(token);
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
    this.gate.stop();
    this.transport?.close();
    this.retired.forEach((transport) => transport.close());
    this.retired.clear();
    if (this.session) saveSession(this.win, this.session);
    this.onStopped();
  }

  private openTransport(retryFirst: boolean): Transport {
    const session = this.session;
    const transport: Transport = new Transport({
      win: this.win,
      url: this.config.url,
      beaconUrl: this.config.beaconUrl,
      bufferBytes: this.config.bufferBytes,
      hello: {
        app_key: this.config.appKey,
        session_id: session.sessionId,
        tab_id: session.tabId,
        user: this.user,
        environment: this.config.environment,
      },
      firstSeq: session.seq + 1,
      retryFirst,
      onSeq: (seq) => {
        session.seq = seq;
        saveSession(this.win, session);
      },
      onWelcome: (config) => {
        if (transport === this.transport) this.configure(config);
      },
      onFatal: (code) => {
        if (code === 'disabled') {
          // An instance or environment that is off (or outside its window) is normal: stay quiet.
          this.disabled = true;
          this.win.console.debug?.('phi-replay: recording is disabled for this page');
          this.halt();
        } else {
          this.warn(`phi-replay: recording stopped, the collector refused this page (${code})`);
          this.stop();
        }
      },
      onFull: (full) => {
        if (transport !== this.transport) return;
        this.full = full;
        if (full) this.gap = true;
        else if (this.capturing()) this.fullSnapshot();
      },
    });
    return transport;
  }

  /**
   * Apply the collector's additions from a welcome. Before start() has started the
   * observers nothing was captured; afterwards a change takes a fresh full snapshot,
   * or pauses when the current route is now excluded.
   */
  private configure(config: unknown): void {
    let lists: RuleLists;
    try {
      lists = mergeRules(this.config.rules, remoteRules(config, this.win.document));
    } catch (error) {
      const message = `${(error as Error).message}; recording stopped`;
      this.warn(message);
      this.halt(message);
      return;
    }
    const key = JSON.stringify(lists);
    if (key === this.rulesKey) return;
    this.rulesKey = key;
    this.rules = buildRules(lists);
    this.ctx.mask.setRules(this.rules);
    // Observers run once start() has finished: only then can anything have been captured.
    if (this.teardowns.length && this.capturing()) this.fullSnapshot();
  }

  /** Stop and send nothing more: every transport drops what it buffered. */
  private halt(reason?: string): void {
    this.transport?.abort(reason);
    this.retired.forEach((transport) => transport.abort(reason));
    this.stop();
  }

  /** One console warning per recorder, naming keys and codes, never page content. */
  private warn(message: string): void {
    if (this.warned) return;
    this.warned = true;
    this.win.console.warn(message);
  }

  private emit(event: RecordedEvent): void {
    if (!this.stopped && this.gate.capturing()) this.transport?.push({ ...event, timestamp: Date.now() });
  }

  private fullSnapshot(): void {
    const { ctx, win } = this;
    ctx.mirror = ctx.mirror.successor();
    ctx.mask.treeChanged(); // what happened while not capturing was not observed
    const node = serializeNode(ctx.doc, ctx, Scope.Masked);
    if (!node) return;
    if (this.gap) {
      this.gap = false;
      this.emit({ type: EventType.Custom, data: { tag: 'phi-replay.gap', payload: { reason: 'buffer-full' } } });
    }
    this.meta();
    this.emit({
      type: EventType.FullSnapshot,
      data: { node, initialOffset: { top: Math.round(win.scrollY), left: Math.round(win.scrollX) } },
    });
    // Without its snapshot a recording cannot be replayed: send it at once.
    this.transport?.sendNow();
  }

  private meta(): void {
    const { win } = this;
    this.href = this.ctx.mask.pageUrl(win.location.href);
    this.emit({ type: EventType.Meta, data: { href: this.href, width: win.innerWidth, height: win.innerHeight } });
  }

  /** The URL may have changed: pause or resume on excluded routes, or send a new Meta. */
  private navigated(): void {
    if (this.stopped || this.full || !this.gate.navigated()) return;
    if (this.ctx.mask.pageUrl(this.win.location.href) !== this.href) this.meta();
  }

  /** Nothing is captured while the buffer is full or the gate is closed (gate.ts). */
  private capturing(): boolean {
    return !this.stopped && !this.full && this.gate.capturing();
  }

  /** User activity: an expired session (idle or too long) is replaced by a new one. */
  private activity(): void {
    const now = Date.now();
    const session = this.session;
    if (isExpired(session, now) && this.transport) {
      this.rotate(now);
      return;
    }
    session.lastActive = now;
    if (now - this.savedAt > SAVE_EVERY_MS) {
      this.savedAt = now;
      saveSession(this.win, session);
    }
  }

  /** End the current session and start a new one: new id, new socket, new full snapshot. */
  private rotate(now: number): void {
    if (!this.transport) return;
    this.transport.retire(RETIRE_MS);
    this.retired.add(this.transport);
    // The new session starts with an empty buffer and has missed nothing.
    this.full = this.gap = false;
    this.session = newSession(this.win, this.session.tabId, now);
    saveSession(this.win, this.session);
    this.savedAt = now;
    // Pseudonyms are per session: the new one's full snapshot starts a fresh map.
    this.ctx.mask.newSession();
    this.transport = this.openTransport(true);
    this.transport.connect().catch(() => undefined);
    if (this.capturing()) this.fullSnapshot();
  }
}
