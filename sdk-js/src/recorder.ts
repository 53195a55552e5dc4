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

import { failure } from './errors';
import { createMasker, customPayload, isCustomTag, Scope } from './mask';
import { Mirror } from './mirror';
import { observeInput } from './observers/input';
import { listen, wrapMethod } from './observers/listen';
import { observeMedia } from './observers/media';
import { observeMouse } from './observers/mouse';
import { observeMutations } from './observers/mutation';
import { observeNavigation } from './observers/navigation';
import { observeScroll } from './observers/scroll';
import type { Config } from './options';
import { buildRules, mergeRules, remoteRules, type CompiledRules, type RuleLists } from './rules';
import { isExpired, loadSession, newSession, randomId, saveSession, type SessionState } from './session';
import { serializeNode } from './snapshot';
import { RouteGate } from './gate';
import { Transport, type Hello } from './transport';
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
  readonly #ctx: RecordContext;
  #session!: SessionState;
  #transport: Transport | null = null;
  readonly #retired = new Set<Transport>();
  #teardowns: Array<() => void> = [];
  /** Observers listening inside open shadow roots (RecordContext.onRoot). */
  readonly #rootWatchers = new Set<(root: ShadowRoot) => void>();
  /** The open shadow roots the watchers have heard of. */
  readonly #roots = new WeakSet<ShadowRoot>();
  /** Capturing, on an excluded route, or settling after leaving one (gate.ts). */
  readonly #gate: RouteGate;
  /** The transport's buffer is full: nothing is captured until it drains. */
  #full = false;
  /** Events were lost (a full buffer, a batch too large): why, for the gap marker before the next full snapshot. */
  #gap: 'buffer-full' | 'too-large' | null = null;
  /** The collector moved the tab to a fresh session: its first welcome needs a full snapshot. */
  #resnapshot = false;
  /** This page's own id: after a reload or in a duplicated tab (same sessionStorage) it differs. */
  readonly #pageId: string;
  #stopped = false;
  #warned = false;
  /** The collector said this page does not record now: start() resolves, recording nothing. */
  #disabled = false;
  /** The rules in force: the application's own plus the collector's additions. */
  #rules: CompiledRules;
  /** Those rules' lists as JSON, to tell whether a welcome changed them. */
  #rulesKey: string;
  #savedAt = 0;
  /** The sanitised page URL of the last Meta, to send a new one when it changes. */
  #href = '';
  /** The user as last identified (start options, then identify()). */
  #user: string;

  readonly #win: Win;
  readonly #config: Config;
  readonly #onStopped: () => void;

  constructor(win: Win, config: Config, onStopped: () => void) {
    this.#win = win;
    this.#config = config;
    this.#onStopped = onStopped;
    const doc = win.document;
    this.#user = config.user;
    this.#pageId = randomId(win, 'd-');
    this.#rules = buildRules(config.rules);
    this.#rulesKey = JSON.stringify(config.rules);
    this.#gate = new RouteGate(
      win,
      (path) => this.#rules.excluded(path),
      () => this.#fullSnapshot(),
      () => {
        this.#ctx.mask.taintFields(this.#ctx.doc);
        this.#transport?.discardPending();
      },
    );
    this.#ctx = {
      win,
      doc,
      mask: createMasker(this.#rules, doc),
      mirror: new Mirror(),
      emit: (event) => this.#emit(event),
      incremental: (data) => this.#emit({ type: EventType.IncrementalSnapshot, data }),
      capturing: () => this.#capturing(),
      excluded: () => !this.#stopped && this.#gate.excluded(),
      domChanged: () => this.#gate.changed(),
      drain: () => undefined,
      activity: () => this.#activity(),
      navigated: () => this.#navigated(),
      watchRoot: (root) => {
        if (this.#roots.has(root)) return;
        this.#roots.add(root);
        this.#rootWatchers.forEach((watch) => watch(root));
      },
      onRoot: (watch) => {
        this.#rootWatchers.add(watch);
        return () => this.#rootWatchers.delete(watch);
      },
    };
  }

  async start(): Promise<void> {
    this.#session = loadSession(this.#win, Date.now(), this.#user);
    saveSession(this.#win, this.#session);
    this.#transport = this.#openTransport(false);
    try {
      await this.#transport.connect();
    } catch (error) {
      this.stop();
      // Not recording here is the collector's decision, not an error for the application.
      if (this.#disabled) return;
      throw error;
    }
    if (this.#stopped) throw failure('stopped before recording started');
    // Observers first: the snapshot hands the shadow roots it finds to the mutation observer.
    this.#teardowns = OBSERVERS.map((observe) => observe(this.#ctx));
    // Started on an excluded route: all of the page as it is now is the excluded view.
    if (this.#gate.excluded()) this.#ctx.mask.taint(this.#ctx.doc);
    else this.#fullSnapshot();
    // document.open() erases the page and every listener the recorder has on it: what
    // follows could not be judged, so recording ends (fail closed).
    this.#teardowns.push(
      wrapMethod(this.#ctx.doc, 'open', () => {
        this.#warn(failure('the page replaced its document (document.open); recording stopped').message);
        this.stop();
      }),
    );
    // A page being left sends its tail now (socket and beacon): the batch timer would not get to run.
    const hide = (): void => this.#each((transport) => transport.hide());
    const timer = this.#win.setInterval(() => this.#navigated(), ROUTE_POLL_MS);
    this.#teardowns.push(
      () => this.#win.clearInterval(timer),
      listen(this.#win, 'pagehide', hide),
      listen(this.#ctx.doc, 'visibilitychange', () => {
        if (this.#ctx.doc.visibilityState === 'hidden') hide();
      }),
    );
  }

  /**
   * Switch the recorded user (already checked by the API): a different user starts a
   * new session (the index is per user).
   */
  identify(user: string): void {
    if (this.#stopped || user === this.#user) return;
    this.#user = user;
    this.#rotate(Date.now());
  }

  /**
   * A custom marker (rrweb Custom event). Payload values are masked unless their key
   * is in `safe`; safe values still go through the detector. False when nothing was queued.
   */
  addEvent(tag: string, payload: Record<string, unknown>, safe: readonly string[]): boolean {
    if (!isCustomTag(tag)) throw failure('addEvent() tag must be 1-64 of A-Z a-z 0-9 _ . : -, a name not data');
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw failure('addEvent() payload must be an object');
    }
    if (!this.#capturing()) return false;
    this.#ctx.emit({ type: EventType.Custom, data: { tag, payload: customPayload(payload, safe) } });
    return true;
  }

  pseudonym(token: string): string | undefined {
    return this.#ctx.mask.pseudonym(token);
  }

  flush(): Promise<void> {
    if (this.#stopped || !this.#transport) return Promise.reject(failure('not recording'));
    return this.#transport.flush();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#teardowns.forEach((teardown) => teardown());
    this.#teardowns = [];
    this.#gate.stop();
    this.#each((transport) => transport.close());
    this.#retired.clear();
    if (this.#session) saveSession(this.#win, this.#session);
    this.#onStopped();
  }

  #openTransport(retryFirst: boolean): Transport {
    let session = this.#session;
    const user = this.#user;
    const hello = (): Hello => ({
      app_key: this.#config.appKey,
      session_id: session.sessionId,
      tab_id: session.tabId,
      user,
      environment: this.#config.environment,
      page_id: this.#pageId,
    });
    const transport: Transport = new Transport({
      ...this.#config, // url, beaconUrl, bufferBytes
      win: this.#win,
      hello: hello(),
      firstSeq: session.seq + 1,
      retryFirst,
      onSeq: (seq) => {
        session.seq = seq;
        saveSession(this.#win, session);
      },
      onWelcome: (config) => {
        if (transport !== this.#transport) return;
        this.#configure(config);
        if (this.#resnapshot) {
          this.#resnapshot = false;
          if (this.#teardowns.length && this.#capturing()) this.#fullSnapshot();
        }
      },
      onConflict: (code) => {
        // A session being retired is not continued elsewhere: what it still held goes.
        if (transport !== this.#transport) return null;
        // In use by another page: this is a duplicated tab (it copied sessionStorage), a tab of its own.
        const tabId = code === 'session_in_use' ? randomId(this.#win, 't-') : session.tabId;
        session = this.#session = newSession(this.#win, tabId, Date.now(), user);
        saveSession(this.#win, session);
        this.#ctx.mask.newSession();
        this.#full = false;
        this.#gap = null;
        this.#resnapshot = true;
        return hello();
      },
      onTooLarge: (snapshot) => {
        if (transport !== this.#transport) return;
        if (snapshot) {
          // A smaller snapshot of the same page will not come: stop rather than record what cannot be replayed.
          this.#warn("phi-replay: the page's full snapshot is over the collector's size limit; recording stopped");
          this.stop();
          return;
        }
        this.#gap = 'too-large';
        if (this.#capturing()) this.#fullSnapshot();
      },
      onFatal: (code, said) => {
        const why = said ? ': ' + said : '';
        if (code === 'disabled') {
          // An instance or environment that is off (or outside its window) is normal: stay quiet.
          this.#disabled = true;
          this.#win.console.debug?.(`phi-replay: recording is disabled here${why}`);
          this.#halt();
        } else {
          this.#warn(`phi-replay: the collector refused this page (${code}${why})`);
          this.stop();
        }
      },
      onFull: (full) => {
        if (transport !== this.#transport) return;
        this.#full = full;
        if (full) this.#gap = 'buffer-full';
        else if (this.#capturing()) this.#fullSnapshot();
      },
    });
    return transport;
  }

  /**
   * Apply the collector's additions from a welcome. Before start() has started the
   * observers nothing was captured; afterwards a change takes a fresh full snapshot,
   * or pauses when the current route is now excluded.
   */
  #configure(config: unknown): void {
    let lists: RuleLists;
    try {
      lists = mergeRules(this.#config.rules, remoteRules(config, this.#ctx.doc));
    } catch (error) {
      const message = `${(error as Error).message}; recording stopped`;
      this.#warn(message);
      this.#halt(message);
      return;
    }
    const key = JSON.stringify(lists);
    if (key === this.#rulesKey) return;
    this.#rulesKey = key;
    this.#rules = buildRules(lists);
    this.#ctx.mask.setRules(this.#rules);
    // Observers run once start() has finished: only then can anything have been captured.
    if (this.#teardowns.length && this.#capturing()) this.#fullSnapshot();
  }

  /** Stop and send nothing more: every transport drops what it buffered. */
  #halt(reason?: string): void {
    this.#each((transport) => transport.abort(reason));
    this.stop();
  }

  /** `action` on the current transport and on every retired one. */
  #each(action: (transport: Transport) => void): void {
    if (this.#transport) action(this.#transport);
    this.#retired.forEach(action);
  }

  /** One console warning per recorder, naming keys and codes, never page content. */
  #warn(message: string): void {
    if (this.#warned) return;
    this.#warned = true;
    this.#win.console.warn(message);
  }

  #emit(event: RecordedEvent): void {
    if (!this.#stopped && this.#gate.capturing()) this.#transport?.push({ ...event, timestamp: Date.now() });
  }

  #fullSnapshot(): void {
    const ctx = this.#ctx;
    const win = this.#win;
    ctx.mirror = ctx.mirror.successor();
    ctx.mask.treeChanged(); // what happened while not capturing was not observed
    const node = serializeNode(ctx.doc, ctx, Scope.Masked);
    if (!node) return;
    if (this.#gap) {
      const reason = this.#gap;
      this.#gap = null;
      this.#emit({ type: EventType.Custom, data: { tag: 'phi-replay.gap', payload: { reason } } });
    }
    this.#meta();
    this.#emit({
      type: EventType.FullSnapshot,
      data: { node, initialOffset: { top: Math.round(win.scrollY), left: Math.round(win.scrollX) } },
    });
    // Without its snapshot a recording cannot be replayed: send it at once.
    this.#transport?.sendNow();
  }

  #meta(): void {
    const win = this.#win;
    this.#href = this.#ctx.mask.pageUrl(win.location.href);
    this.#emit({ type: EventType.Meta, data: { href: this.#href, width: win.innerWidth, height: win.innerHeight } });
  }

  /** The URL may have changed: pause or resume on excluded routes, or send a new Meta. */
  #navigated(): void {
    if (this.#stopped || this.#full || !this.#gate.navigated()) return;
    if (this.#ctx.mask.pageUrl(this.#win.location.href) !== this.#href) this.#meta();
  }

  /** Nothing is captured while the buffer is full or the gate is closed (gate.ts). */
  #capturing(): boolean {
    return !this.#stopped && !this.#full && this.#gate.capturing();
  }

  /** User activity: an expired session (idle or too long) is replaced by a new one. */
  #activity(): void {
    const now = Date.now();
    const session = this.#session;
    if (isExpired(session, now) && this.#transport) {
      this.#rotate(now);
      return;
    }
    session.lastActive = now;
    if (now - this.#savedAt > SAVE_EVERY_MS) {
      this.#savedAt = now;
      saveSession(this.#win, session);
    }
  }

  /** End the current session and start a new one: new id, new socket, new full snapshot. */
  #rotate(now: number): void {
    if (!this.#transport) return;
    this.#transport.retire(RETIRE_MS);
    this.#retired.add(this.#transport);
    // The new session starts with an empty buffer and has missed nothing.
    this.#full = false;
    this.#gap = null;
    this.#session = newSession(this.#win, this.#session.tabId, now, this.#user);
    saveSession(this.#win, this.#session);
    this.#savedAt = now;
    // Pseudonyms are per session: the new one's full snapshot starts a fresh map.
    this.#ctx.mask.newSession();
    this.#transport = this.#openTransport(true);
    this.#transport.connect().catch(() => undefined);
    if (this.#capturing()) this.#fullSnapshot();
  }
}
