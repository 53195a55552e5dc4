// Single-page-app navigation: history.pushState / replaceState (wrapped on this
// window's history object, and put back on stop), popstate and hashchange. The
// recorder then sends a new Meta with the sanitised URL, or pauses on an excluded route.
//
// Before pushState/replaceState changes the URL away from an excluded route, the
// mutation records still pending are taken (drained) as the excluded view's: a router
// that writes to the page and navigates in one task must not have what it wrote judged
// by the route it navigates to.

import type { Observer } from '../types';
import { listen, wrapMethod } from './listen';

export const observeNavigation: Observer = (ctx) => {
  const changed = (): void => ctx.navigated();
  // Only when leaving an excluded route: records pending on entering one are judged
  // when the observer delivers them, by then under the excluded URL.
  const drain = (): void => {
    if (ctx.excluded()) ctx.drain(true);
  };
  const teardowns = [
    wrapMethod(ctx.win.history, 'pushState', changed, drain),
    wrapMethod(ctx.win.history, 'replaceState', changed, drain),
    listen(ctx.win, 'popstate', changed),
    listen(ctx.win, 'hashchange', changed),
  ];
  return () => teardowns.forEach((teardown) => teardown());
};
