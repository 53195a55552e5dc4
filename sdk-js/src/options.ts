// start() options: checked up front so that a mistake stops the recorder with a clear
// message instead of recording with settings nobody intended. Messages name the
// option and the problem, never the value.

import { compileRules, type CompiledRules, type Rules } from './rules';

export interface StartOptions {
  /** Collector base URL (`http://127.0.0.1:8700`) or the full `ws(s)://…/v1/ingest` URL. */
  endpoint: string;
  appKey: string;
  /** The signed-in application user, as support staff will search for them. */
  user: string;
  rules?: Rules;
  /** Defaults to "default". */
  environment?: string;
}

export interface Config {
  url: string;
  appKey: string;
  user: string;
  environment: string;
  rules: CompiledRules;
}

const OPTION_KEYS = ['endpoint', 'appKey', 'user', 'rules', 'environment'];
/** Longest app key, user and environment the protocol accepts. */
const MAX_FIELD = 200;
const INGEST_PATH = '/v1/ingest';

export function parseOptions(input: unknown, doc: Document): Config {
  if (typeof input !== 'object' || input === null) {
    throw new Error('phi-replay: start() expects an options object { endpoint, appKey, user, rules }');
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new Error(`phi-replay: unknown option "${key.slice(0, 40)}"; expected ${OPTION_KEYS.join(', ')}`);
    }
  }
  const text = (key: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD) {
      throw new Error(`phi-replay: options.${key} must be a non-empty string of at most ${MAX_FIELD} characters`);
    }
    return value;
  };
  return {
    url: ingestUrl(o.endpoint, doc),
    appKey: text('appKey', o.appKey),
    user: text('user', o.user),
    environment: o.environment === undefined ? 'default' : text('environment', o.environment),
    rules: compileRules(o.rules, doc),
  };
}

/** `http(s)://host[/base]` → `ws(s)://host[/base]/v1/ingest`; a `ws(s)://` URL is used as is. */
/** A user name as the protocol accepts it (identify() uses the same check as start()). */
export function checkUser(user: unknown): string {
  if (typeof user !== 'string' || user === '' || user.length > MAX_FIELD) {
    throw new Error(`phi-replay: user must be a non-empty string of at most ${MAX_FIELD} characters`);
  }
  return user;
}

export function ingestUrl(endpoint: unknown, doc: Document): string {
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint, doc.baseURI) : undefined;
  } catch {
    url = undefined;
  }
  if (!url || !/^(https?|wss?):$/.test(url.protocol)) {
    throw new Error('phi-replay: options.endpoint must be an http(s):// or ws(s):// URL');
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.href;
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = url.pathname.replace(/\/+$/, '') + INGEST_PATH;
  url.search = '';
  url.hash = '';
  return url.href;
}
