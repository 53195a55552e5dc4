// What the console's events endpoint returns, checked and prepared for replay: events
// made inert and sorted, the timeline's markers, inactive stretches and the route
// (templated page path) at any time. Pure functions; nothing here touches the DOM.

import { inertEvents } from './inert';
import { formatSpan } from './format';

type Json = Record<string, unknown>;

/** Session metadata as the console sends it next to the events. */
export interface SessionInfo {
  session_id: string;
  user: string;
  instance: string;
  environment: string;
  /** ISO 8601 */
  started_at: string;
  duration_ms: number;
}

/** The body of `GET /console/api/sessions/ID/events`. */
export interface ReplayData {
  session: SessionInfo;
  /** rrweb `eventWithTime` objects, in rrweb's node shape. */
  events: unknown[];
}

export type MarkerKind = 'click' | 'navigation' | 'gap';

export interface Marker {
  /** ms since the first event */
  time: number;
  kind: MarkerKind;
  label: string;
}

export interface Span {
  start: number;
  end: number;
}

export interface Recording {
  session: Partial<SessionInfo>;
  /** Inert events, sorted; the first is at `start`. */
  events: Json[];
  /** Epoch ms of the first event. */
  start: number;
  /** ms from the first event to the last. */
  duration: number;
  markers: Marker[];
  /** Stretches without user input longer than INACTIVE_MS: what "skip inactivity" skips. */
  inactive: Span[];
  /** Page URL (origin + templated path) from each Meta event, by time. */
  pages: { time: number; href: string }[];
}

/** A recording that cannot be replayed; the message is for the person watching. */
export class RecordingError extends Error {
  override name = 'RecordingError';
}

/** No user input for this long counts as inactive; rrweb's Replayer gets the same value. */
export const INACTIVE_MS = 10_000;

/** No event at all for this long is marked as a gap on the timeline. */
export const SILENCE_MS = 60_000;

const FULL_SNAPSHOT = 2;
const INCREMENTAL = 3;
const META = 4;
const CUSTOM = 5;
const MOUSE_INTERACTION = 2;
const CLICK = 2;
/** The recorder's marker for events lost to a full buffer (sdk-js/src/recorder.ts). */
const GAP_TAG = 'phi-replay.gap';

export function prepare(data: unknown): Recording {
  if (!isObject(data) || !Array.isArray(data.events)) {
    throw new RecordingError('The server did not send a recording.');
  }
  const session = isObject(data.session) ? (data.session as Partial<SessionInfo>) : {};
  let events = inertEvents(data.events);
  if (events.length === 0) throw new RecordingError('This session has no recorded events.');
  const first = events.findIndex((e) => e.type === FULL_SNAPSHOT);
  if (first < 0) {
    throw new RecordingError('This session has no full page snapshot, so there is nothing to replay.');
  }
  // Input before the first snapshot has no page to apply to (rrweb would warn about each).
  events = events.filter((e, i) => i >= first || e.type !== INCREMENTAL);
  if (events.length < 2) throw new RecordingError('This session is too short to replay.');
  const start = events[0].timestamp as number;
  const duration = (events[events.length - 1].timestamp as number) - start;
  return { session, events, start, duration, ...timeline(events, start) };
}

function timeline(events: Json[], start: number): Pick<Recording, 'markers' | 'inactive' | 'pages'> {
  const markers: Marker[] = [];
  const inactive: Span[] = [];
  const pages: Recording['pages'] = [];
  let lastInput = 0;
  let previous = 0;
  for (const event of events) {
    const time = (event.timestamp as number) - start;
    const data = event.data as Json;
    if (time - previous >= SILENCE_MS) {
      markers.push({ time: previous, kind: 'gap', label: `No events for ${formatSpan(time - previous)}` });
    }
    previous = time;
    if (event.type === META) {
      const href = typeof data.href === 'string' ? data.href : '';
      pages.push({ time, href });
      markers.push({ time, kind: 'navigation', label: `Page ${routeOf(href)}` });
    } else if (event.type === CUSTOM && data.tag === GAP_TAG) {
      const full = isObject(data.payload) && data.payload.reason === 'buffer-full';
      const why = full ? 'the recorder’s buffer was full' : 'events were lost';
      markers.push({ time, kind: 'gap', label: `Recording gap: ${why}` });
    } else if (event.type === INCREMENTAL) {
      if (data.source === MOUSE_INTERACTION && data.type === CLICK) markers.push({ time, kind: 'click', label: 'Click' });
      if (isUserInput(data)) {
        if (time - lastInput > INACTIVE_MS) inactive.push({ start: lastInput, end: time });
        lastInput = time;
      }
    }
  }
  markers.sort((a, b) => a.time - b.time);
  return { markers, inactive, pages };
}

/** rrweb's own test for "user interaction" (sources MouseMove through Input). */
function isUserInput(data: Json): boolean {
  return typeof data.source === 'number' && data.source > 0 && data.source <= 5;
}

/** The page (URL) shown at `time`: the last Meta event at or before it. */
export function pageAt(recording: Recording, time: number): string {
  let href = '';
  for (const page of recording.pages) {
    if (page.time > time) break;
    href = page.href;
  }
  return href;
}

/** The templated path of a recorded URL (`http://app/patients/:id` -> `/patients/:id`). */
export function routeOf(href: string): string {
  if (!href) return '—';
  try {
    return new URL(href).pathname;
  } catch {
    return href;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
