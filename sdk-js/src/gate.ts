// The excluded-route gate: whether the tab is capturing, on an excluded route, or
// settling after leaving one. Nothing of an excluded view may be recorded, whatever the
// router's timing:
// - Entering is judged by the live URL, at every check: a router that pushes a URL
//   with a pushState we never wrapped is still caught at its first mutation.
// - Leaving is only believed at an observation point (the history hook, popstate,
//   hashchange, the URL poll), after the pending mutation records were drained as the
//   excluded view's (navigation.ts). Records that arrive before that are tainted.
// - A tab that starts on an excluded route treats the whole DOM present then as the
//   excluded view (the recorder taints it). On entering, every field is tainted (a
//   script may write to any of them without an event), and what was captured but not
//   yet cut into a batch is dropped: a router may render the view before it changes
//   the URL.
// - After leaving, capture resumes with a fresh full snapshot once the DOM has been
//   quiet for QUIET_MS, or after CAP_MS at most; until then nothing is captured. What
//   is still left of the excluded view then is tainted: masked, however long the
//   router took to replace it.

import type { Win } from './types';

export const enum Route {
  Capture,
  Excluded,
  Settling,
}

/** The snapshot after leaving waits for this long without DOM changes… */
const QUIET_MS = 100;
/** …but never longer than this after leaving (a page that never stops changing). */
const CAP_MS = 1000;

export class RouteGate {
  #state = Route.Capture;
  #left = 0;
  #lastChange = 0;
  #timer: number | undefined;

  readonly #win: Win;
  readonly #isExcluded: (pathname: string) => boolean;
  /** Leaving has settled: take the fresh full snapshot. */
  readonly #resume: () => void;
  /** The tab has just entered an excluded route. */
  readonly #enter: () => void;

  constructor(win: Win, isExcluded: (pathname: string) => boolean, resume: () => void, enter: () => void) {
    this.#win = win;
    this.#isExcluded = isExcluded;
    this.#resume = resume;
    this.#enter = enter;
  }

  get route(): Route {
    return this.#state;
  }

  /** Capturing now (entering an excluded route is noticed here, by the live URL). */
  capturing(): boolean {
    this.#notice();
    return this.#state === Route.Capture;
  }

  /** On an excluded route now: what changes is the excluded view's. */
  excluded(): boolean {
    this.#notice();
    return this.#state === Route.Excluded;
  }

  /** An observation point: the URL may have changed. True when capture goes on. */
  navigated(): boolean {
    if (this.#notice()) return false;
    if (this.#state === Route.Excluded) {
      this.#state = Route.Settling;
      this.#left = this.#lastChange = Date.now();
      this.#wait();
    }
    return this.#state === Route.Capture;
  }

  /** The DOM changed while not capturing: the settle wait starts over. */
  changed(): void {
    this.#lastChange = Date.now();
  }

  stop(): void {
    this.#win.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Enter the excluded state if the live URL is excluded; true when it is. */
  #notice(): boolean {
    if (!this.#isExcluded(this.#win.location.pathname)) return false;
    if (this.#state !== Route.Excluded) {
      this.stop();
      this.#state = Route.Excluded;
      this.#enter();
    }
    return true;
  }

  #wait(): void {
    this.#timer = this.#win.setTimeout(() => {
      this.#timer = undefined;
      if (this.#state !== Route.Settling || this.#notice()) return;
      const now = Date.now();
      if (now - this.#lastChange < QUIET_MS && now - this.#left < CAP_MS) {
        this.#wait();
        return;
      }
      this.#state = Route.Capture;
      this.#resume();
    }, QUIET_MS);
  }
}
