// Pointer activity as rrweb events: interactions (clicks, presses, focus, blur, touch)
// and movement (sampled positions, sent in batches). Coordinates and the target's
// node id only; never text under the pointer.

import { IncrementalSource, MouseInteraction, type Observer } from '../types';
import { listen, nearestId, targetOf } from './listen';

const INTERACTIONS: Record<string, MouseInteraction> = {
  mouseup: MouseInteraction.MouseUp,
  mousedown: MouseInteraction.MouseDown,
  click: MouseInteraction.Click,
  contextmenu: MouseInteraction.ContextMenu,
  dblclick: MouseInteraction.DblClick,
  focus: MouseInteraction.Focus,
  blur: MouseInteraction.Blur,
  touchstart: MouseInteraction.TouchStart,
  touchend: MouseInteraction.TouchEnd,
};
/** At most one pointer position per this many ms: smooth enough for a replay cursor. */
const MOVE_SAMPLE_MS = 50;
/** Sampled positions are sent together at this interval (one event, many positions). */
const MOVE_BATCH_MS = 500;


export const observeMouse: Observer = (ctx) => {
  const interaction = (event: Event): void => {
    try {
      if (!ctx.capturing()) return;
      ctx.activity();
      const id = nearestId(ctx.mirror, targetOf(event));
      if (id === undefined) return;
      const type = INTERACTIONS[event.type];
      if (type === MouseInteraction.Focus || type === MouseInteraction.Blur) {
        // Focus moves between elements; a window focus/blur has no node to name.
        if ((event.target as Node | null)?.nodeType !== 1) return;
        ctx.incremental({ source: IncrementalSource.MouseInteraction, type, id });
        return;
      }
      const point = 'changedTouches' in event ? (event as TouchEvent).changedTouches[0] : (event as MouseEvent);
      if (!point) return;
      ctx.incremental({
        source: IncrementalSource.MouseInteraction,
        type,
        id,
        x: Math.round(point.clientX),
        y: Math.round(point.clientY),
      });
    } catch {
      // Never break the page.
    }
  };

  // Movement: positions are sampled, kept with their time and sent in one event.
  let positions: { x: number; y: number; id: number; t: number }[] = [];
  let source: IncrementalSource.MouseMove | IncrementalSource.TouchMove = IncrementalSource.MouseMove;
  let sampledAt = 0;
  let timer: number | undefined;
  const sendMoves = (): void => {
    if (timer !== undefined) ctx.win.clearTimeout(timer);
    timer = undefined;
    if (!positions.length) return;
    const now = Date.now();
    // timeOffset is relative to the event's timestamp (negative: the past), as in rrweb.
    const batch = positions.map(({ x, y, id, t }) => ({ x, y, id, timeOffset: t - now }));
    positions = [];
    ctx.incremental({ source, positions: batch });
  };
  const move = (event: Event): void => {
    try {
      const now = Date.now();
      if (now - sampledAt < MOVE_SAMPLE_MS) return;
      sampledAt = now;
      if (!ctx.capturing()) return;
      ctx.activity();
      const touch = event.type === 'touchmove';
      const point = touch ? (event as TouchEvent).changedTouches[0] : (event as MouseEvent);
      const id = nearestId(ctx.mirror, targetOf(event));
      if (!point || id === undefined) return;
      const kind = touch ? IncrementalSource.TouchMove : IncrementalSource.MouseMove;
      if (kind !== source) sendMoves();
      source = kind;
      positions.push({ x: Math.round(point.clientX), y: Math.round(point.clientY), id, t: now });
      if (timer === undefined) timer = ctx.win.setTimeout(sendMoves, MOVE_BATCH_MS);
    } catch {
      // Never break the page.
    }
  };

  const teardowns = Object.keys(INTERACTIONS).map((type) => listen(ctx.doc, type, interaction));
  teardowns.push(listen(ctx.doc, 'mousemove', move), listen(ctx.doc, 'touchmove', move));
  return () => {
    teardowns.forEach((teardown) => teardown());
    if (timer !== undefined) ctx.win.clearTimeout(timer);
    timer = undefined;
  };
};
