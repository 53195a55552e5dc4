// Scrolling (page and elements) and viewport size, as rrweb Scroll and ViewportResize
// events. Both are coalesced: the last position within a short window is sent.

import { IncrementalSource, type Observer } from '../types';
import { listen } from './listen';

/** Scroll positions are sent at most this often per target. */
const SCROLL_MS = 100;
/** Viewport size is sent once resizing has paused this long. */
const RESIZE_MS = 200;

export const observeScroll: Observer = (ctx) => {
  const { win, doc } = ctx;
  const pending = new Set<Node>();
  let scrollTimer: number | undefined;
  const sendScrolls = (): void => {
    scrollTimer = undefined;
    if (!ctx.capturing()) return pending.clear();
    pending.forEach((target) => {
      const id = ctx.mirror.getId(target);
      if (id === undefined) return;
      const el = target as Element;
      const page = target === doc;
      const x = Math.round(page ? win.scrollX : el.scrollLeft);
      const y = Math.round(page ? win.scrollY : el.scrollTop);
      ctx.incremental({ source: IncrementalSource.Scroll, id, x, y });
    });
    pending.clear();
  };
  const scroll = (event: Event): void => {
    const target = event.target as Node | null;
    if (!target) return;
    // A page scroll targets the document (or, in some browsers, its scrolling element).
    pending.add(target === doc.scrollingElement ? doc : target);
    ctx.activity();
    if (scrollTimer === undefined) scrollTimer = win.setTimeout(sendScrolls, SCROLL_MS);
  };

  let size = `${win.innerWidth}x${win.innerHeight}`;
  let resizeTimer: number | undefined;
  const sendSize = (): void => {
    resizeTimer = undefined;
    const now = `${win.innerWidth}x${win.innerHeight}`;
    if (now === size || !ctx.capturing()) return;
    size = now;
    ctx.incremental({ source: IncrementalSource.ViewportResize, width: win.innerWidth, height: win.innerHeight });
  };
  const resize = (): void => {
    if (resizeTimer !== undefined) win.clearTimeout(resizeTimer);
    resizeTimer = win.setTimeout(sendSize, RESIZE_MS);
  };

  const teardowns = [listen(doc, 'scroll', scroll), listen(win, 'resize', resize)];
  // Scroll events do not leave a shadow root: listen in each open one too.
  teardowns.push(ctx.onRoot((root) => teardowns.push(listen(root, 'scroll', scroll))));
  return () => {
    teardowns.forEach((teardown) => teardown());
    win.clearTimeout(scrollTimer);
    win.clearTimeout(resizeTimer);
  };
};
