// Entry point: `import { start, flush, stop, identify, addEvent, pseudonym }`, or `window.PhiReplay` from the IIFE build.

import { createApi } from './api';

export type { AddEventOptions } from './api';
export type { StartOptions } from './options';
export type { Rules } from './rules';

const api = createApi(() => (typeof window === 'undefined' ? undefined : window));

export const start = api.start;
export const flush = api.flush;
export const stop = api.stop;
export const identify = api.identify;
export const addEvent = api.addEvent;
export const pseudonym = api.pseudonym;
