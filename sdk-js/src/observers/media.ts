// Media playback state (play, pause, seek, volume, rate) as rrweb MediaInteraction
// events. Media elements are blocked placeholders: only the state changes and the
// playback position travel, never a source URL or any content.

import { IncrementalSource, MediaInteraction, type Observer } from '../types';
import { listen } from './listen';

const MEDIA_EVENTS: Record<string, MediaInteraction> = {
  play: MediaInteraction.Play,
  pause: MediaInteraction.Pause,
  seeked: MediaInteraction.Seeked,
  volumechange: MediaInteraction.VolumeChange,
  ratechange: MediaInteraction.RateChange,
};

export const observeMedia: Observer = (ctx) => {
  const handler = (event: Event): void => {
    try {
      const el = event.target as HTMLMediaElement | null;
      if (!el || el.nodeType !== 1 || !/^(audio|video)$/.test(el.localName) || !ctx.capturing()) return;
      const id = ctx.mirror.getId(el);
      if (id === undefined) return;
      const time = Number(el.currentTime);
      ctx.incremental({
        source: IncrementalSource.MediaInteraction,
        type: MEDIA_EVENTS[event.type],
        id,
        ...(isFinite(time) ? { currentTime: Math.round(time * 10) / 10 } : {}),
      });
    } catch {
      // Never break the page.
    }
  };
  const teardowns = Object.keys(MEDIA_EVENTS).map((type) => listen(ctx.doc, type, handler));
  return () => teardowns.forEach((teardown) => teardown());
};
