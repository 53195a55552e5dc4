// Mouse and touch interactions (clicks, presses), as rrweb MouseInteraction events.
// Coordinates and the target's node id only; never text under the pointer.

import { EventType, IncrementalSource, MouseInteraction, type Observer } from '../types';
import { listen, nearestId } from './listen';

const INTERACTIONS: Record<string, MouseInteraction> = {
  mouseup: MouseInteraction.MouseUp,
  mousedown: MouseInteraction.MouseDown,
  click: MouseInteraction.Click,
  contextmenu: MouseInteraction.ContextMenu,
  dblclick: MouseInteraction.DblClick,
  touchstart: MouseInteraction.TouchStart,
  touchend: MouseInteraction.TouchEnd,
};

export const observeMouse: Observer = (ctx) => {
  const handler = (event: Event): void => {
    try {
      if (!ctx.capturing()) return;
      ctx.activity();
      const point = 'changedTouches' in event ? (event as TouchEvent).changedTouches[0] : (event as MouseEvent);
      const id = nearestId(ctx.mirror, event.target as Node | null);
      if (!point || id === undefined) return;
      ctx.emit({
        type: EventType.IncrementalSnapshot,
        data: {
          source: IncrementalSource.MouseInteraction,
          type: INTERACTIONS[event.type],
          id,
          x: Math.round(point.clientX),
          y: Math.round(point.clientY),
        },
      });
    } catch {
      // Never break the page.
    }
  };
  const teardowns = Object.keys(INTERACTIONS).map((type) => listen(ctx.doc, type, handler));
  return () => teardowns.forEach((teardown) => teardown());
};
