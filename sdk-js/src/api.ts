// The public facade: start/flush/stop over at most one Recorder per page.

import { failure } from './errors';
import { checkUser, parseOptions, type StartOptions } from './options';
import { Recorder } from './recorder';
import type { Win } from './types';

export interface PhiReplayApi {
  /** Resolves once the collector welcomed us and the first full snapshot is queued. */
  start(options: StartOptions): Promise<void>;
  /** Sends buffered events now; resolves once every batch so far is acked. */
  flush(): Promise<void>;
  /** Stops observers, listeners and timers and closes the socket. */
  stop(): void;
  /**
   * Names the application user of this tab from now on. A different user starts a new
   * session, so each recording belongs to one user. Throws on an invalid name; does
   * nothing when not recording.
   */
  identify(user: string): void;
  /**
   * Adds a custom marker to the recording, e.g.
   * `addEvent('checkout', { step: 'review', note: text }, { safe: ['step'] })`:
   * `step` is sent as is (unless the detector flags it), `note` masked. Values are
   * scalars; other values are dropped. Returns false when nothing was recorded
   * (not recording, or on an excluded route). Throws on an invalid tag or payload.
   */
  addEvent(tag: string, payload: Record<string, unknown>, options?: AddEventOptions): boolean;
  /**
   * The pseudonym this tab's session gives an identifier (a class name, an id, a
   * `name`), e.g. `pseudonym('row-42')` → `'p1f'`, or undefined when the recorder has
   * not met it (or is not recording). The map never leaves the page; this look-up is
   * for the page's own tools (QA checks, debugging a replay's styling).
   */
  pseudonym(token: string): string | undefined;
}

export interface AddEventOptions {
  /** Payload keys whose values are not secret (still checked by the detector). */
  safe?: string[];
}

/** `getWindow` is injected so tests can drive a recorder in a jsdom window. */
export function createApi(getWindow: () => Win | undefined): PhiReplayApi {
  let current: Recorder | null = null;
  const refuse = (message: string): Promise<never> => Promise.reject(failure(message));
  return {
    start(options) {
      if (current) return refuse('already started; call stop() first');
      const win = getWindow();
      if (!win?.document) return refuse('no document to record');
      const missing =
        typeof win.WebSocket !== 'function'
          ? 'WebSocket'
          : typeof win.crypto?.getRandomValues !== 'function'
            ? 'crypto.getRandomValues'
            : typeof win.MutationObserver !== 'function' && 'MutationObserver';
      if (missing) return refuse(missing + ' is not available');
      let recorder: Recorder;
      try {
        recorder = new Recorder(win, parseOptions(options, win.document), () => {
          if (current === recorder) current = null;
        });
      } catch (error) {
        return Promise.reject(error);
      }
      current = recorder;
      return recorder.start();
    },
    flush() {
      return current ? current.flush() : refuse('not recording');
    },
    stop() {
      current?.stop();
    },
    identify(user) {
      checkUser(user);
      current?.identify(user);
    },
    addEvent(tag, payload, options = {}) {
      const safe = Array.isArray(options?.safe) ? options.safe.filter((key) => typeof key === 'string') : [];
      return current ? current.addEvent(tag, payload, safe) : false;
    },
    pseudonym(token) {
      return typeof token === 'string' ? current?.pseudonym(token) : undefined;
    },
  };
}
