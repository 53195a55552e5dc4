// start() options: checked up front so that a mistake stops the recorder with a clear
// message instead of recording with settings nobody intended. Messages name the
// option and the problem, never the value.

import { failure } from './errors';
import { checkRules, type RuleLists, type Rules } from './rules';

export interface StartOptions {
  /** Collector base URL (`http://127.0.0.1:8700`) or the full `ws(s)://…/v1/ingest` URL. */
  endpoint: string;
  appKey: string;
  /** The signed-in application user, as support staff will search for them. */
  user: string;
  rules?: Rules;
  /** Defaults to "default". */
  environment?: string;
  /** Most bytes of unacknowledged events kept for resending (default 5 MB); when full, capture pauses. */
  bufferBytes?: number;
}

export interface Config {
  url: string;
  /** Where the page-hide beacon goes (`http(s)://…/v1/beacon`). */
  beaconUrl: string;
  bufferBytes: number;
  appKey: string;
  user: string;
  environment: string;
  /** The application's own rules; the collector's configuration can only add to them. */
  rules: RuleLists;
}

const OPTION_KEYS = ['endpoint', 'appKey', 'user', 'rules', 'environment', 'bufferBytes'];
/** Longest app key, user and environment the protocol accepts. */
const MAX_FIELD = 200;
const INGEST_PATH = '/v1/ingest';
const BEACON_PATH = '/v1/beacon';
/** Default bound of the resend buffer: minutes of a busy page, far from a tab's memory. */
const DEFAULT_BUFFER_BYTES = 5 * 1024 * 1024;

export function parseOptions(input: unknown, doc: Document): Config {
  if (typeof input !== 'object' || input === null) {
    throw failure('start() expects an options object');
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) {
      throw failure(`unknown option "${key.slice(0, 40)}"; expected ${OPTION_KEYS.join(', ')}`);
    }
  }
  const bufferBytes = o.bufferBytes ?? DEFAULT_BUFFER_BYTES;
  if (!Number.isSafeInteger(bufferBytes) || (bufferBytes as number) <= 0) {
    throw failure('options.bufferBytes must be a positive integer');
  }
  const url = ingestUrl(o.endpoint, doc);
  return {
    url,
    beaconUrl: beaconUrl(url),
    bufferBytes: bufferBytes as number,
    appKey: field('options.appKey', o.appKey),
    user: field('options.user', o.user),
    environment: o.environment === undefined ? 'default' : field('options.environment', o.environment),
    rules: checkRules(o.rules, doc),
  };
}

/** A user name as the protocol accepts it (identify() uses the same check as start()). */
export function checkUser(user: unknown): string {
  return field('user', user);
}

/** A protocol field (app key, user, environment): 1 to MAX_FIELD characters. */
function field(label: string, value: unknown): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD) {
    throw failure(`${label} must be a string of 1-${MAX_FIELD} characters`);
  }
  return value;
}

/** `http(s)://host[/base]` → `ws(s)://host[/base]/v1/ingest`; a `ws(s)://` URL is used as is. */
export function ingestUrl(endpoint: unknown, doc: Document): string {
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint, doc.baseURI) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || !/^(https?|wss?):$/.test(url.protocol)) {
    throw failure('options.endpoint must be an http(s):// or ws(s):// URL');
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.href;
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(/\/+$/, '') + INGEST_PATH;
  url.search = '';
  url.hash = '';
  return url.href;
}

/** `ws(s)://host[/base]/v1/ingest` → `http(s)://host[/base]/v1/beacon`. */
export function beaconUrl(ingest: string): string {
  const url = new URL(ingest);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = url.pathname.replace(/\/v1\/ingest\/?$/, '').replace(/\/+$/, '') + BEACON_PATH;
  url.search = '';
  url.hash = '';
  return url.href;
}
