// Masked text and custom-event payloads: what a string becomes when it may not leave.

import { looksLikePhi } from './detector';

/** The value shown for every masked form field: the same whatever the value, even empty. */
export const FIELD_PLACEHOLDER = '*****';
/** Character that replaces masked text. */
const MASK_CHAR = '*';
/** Smallest masked-text length: every string shorter than 16 looks the same. */
const MIN_BUCKET = 8;
/** Largest masked-text length, so long paragraphs do not bloat the wire. */
const MAX_BUCKET = 256;
/** The masks, built once: MASKS[i] is MIN_BUCKET << i stars, up to MAX_BUCKET. */
const MASKS: readonly string[] = Array.from({ length: Math.log2(MAX_BUCKET / MIN_BUCKET) + 1 }, (_, i) =>
  MASK_CHAR.repeat(MIN_BUCKET << i),
);
/** Longest string sent (the collector refuses text over 1 MiB, and a whole batch with it). */
const MAX_STRING = 1 << 19;
/** Keys and tags of custom events: the shape the collector accepts. */
const CUSTOM_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Replace text by `*` repeated to a length bucket; whitespace-only text passes as is. */
export function maskText(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  if (start === end) return text;
  while (isSpace(text.charCodeAt(end - 1))) end--;
  // The bucket: the largest power of two <= the length, within MIN_BUCKET..MAX_BUCKET.
  let i = 0;
  while (i < MASKS.length - 1 && MIN_BUCKET << (i + 1) <= end - start) i++;
  return (start > 0 ? ' ' : '') + MASKS[i] + (end < text.length ? ' ' : '');
}

/** What String.prototype.trim() removes (ASCII fast path, then the full set). */
function isSpace(c: number): boolean {
  if (c === 32 || (c >= 9 && c <= 13)) return true;
  return c > 127 && /\s/.test(String.fromCharCode(c));
}

/** Unmasked text still goes through the detector. */
export function revealText(text: string): string {
  return looksLikePhi(text) ? maskText(text) : clip(text);
}

export function clip(text: string): string {
  return text.length > MAX_STRING ? text.slice(0, MAX_STRING) : text;
}

export type CustomPayload = Record<string, string | number | boolean | null>;

/**
 * A custom event's payload. Values are untrusted text: masked unless their key is
 * listed in `safe`, and safe values still pass the detector. Only scalar values with
 * keys shaped like identifiers are kept; anything else is dropped.
 */
export function customPayload(payload: Record<string, unknown>, safe: readonly string[]): CustomPayload {
  const out: CustomPayload = {};
  for (const key of Object.keys(payload)) {
    const value = payload[key];
    if (!CUSTOM_NAME.test(key) || looksLikePhi(key)) continue; // a key is a name, not a place for data
    if (value === null || typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number') {
      const text = value === null ? 'null' : String(value);
      if (!safe.includes(key) || looksLikePhi(text)) out[key] = maskText(text);
      else out[key] = typeof value === 'string' ? clip(value) : typeof value === 'number' && !isFinite(value) ? null : value;
    }
  }
  return out;
}

/** A custom event's tag: shaped like an identifier, or the event is refused. */
export function isCustomTag(tag: unknown): tag is string {
  return typeof tag === 'string' && CUSTOM_NAME.test(tag) && !looksLikePhi(tag);
}


/** How text is compared with `ui_text`: trimmed, inner whitespace collapsed. */
export function uiTextKey(text: string): string {
  return text.trim().replace(/\s+/g, ' ');
}
