// Single-page-app navigation: history.pushState / replaceState (wrapped on this
// window's history object, and put back on stop), popstate and hashchange. The
// recorder then sends a new Meta with the sanitised URL, or pauses on an excluded route.

import type { Observer } from '../types';
import { listen, wrapMethod } from './listen';

export const observeNavigation: Observer = (ctx) => {
  const changed = (): void => ctx.navigated();
  const teardowns = [
    wrapMethod(ctx.win.history, 'pushState', changed),
    wrapMethod(ctx.win.history, 'replaceState', changed),
    listen(ctx.win, 'popstate', changed),
    listen(ctx.win, 'hashchange', changed),
  ];
  return () => teardowns.forEach((teardown) => teardown());
};
