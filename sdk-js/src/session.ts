// One recording session per tab, kept in sessionStorage so a reload continues it;
// a new session starts after 30 minutes without user activity, or when the page starts
// recording as another user (the collector binds a session to the user and tab that
// started it, docs/protocol.md).

import type { Win } from './types';

export interface SessionState {
  sessionId: string;
  tabId: string;
  /** When the session started, ms since epoch. */
  startedAt: number;
  /** Last user activity, ms since epoch. */
  lastActive: number;
  /** Highest batch seq used so far in this session (0: none). */
  seq: number;
  /** Which user the session is for, as `userKey` makes it: the name itself is not stored. */
  user: string;
}

/** A session ends after this long without user activity. */
export const IDLE_MS = 30 * 60 * 1000;
/**
 * A session also ends after this long in total, however active: 12 hours covers the
 * longest clinical shift, so one recording is one working day, while a tab left open
 * for days (a ward dashboard) is still cut into reviewable, retainable pieces.
 */
export const MAX_SESSION_MS = 12 * 60 * 60 * 1000;

/** True when a session must end: idle too long, or running too long. */
export function isExpired(state: SessionState, now: number): boolean {
  return now - state.lastActive > IDLE_MS || now - state.startedAt > MAX_SESSION_MS || now < state.startedAt;
}
const STORAGE_KEY = 'phi-replay:session';
const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

/** 128 random bits as base64url (22 characters), with a readable prefix. */
export function randomId(win: Win, prefix: string): string {
  const bytes = new Uint8Array(16);
  win.crypto.getRandomValues(bytes);
  const b64 = win.btoa(String.fromCharCode(...bytes));
  return prefix + b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function storage(win: Win): Storage | null {
  try {
    return win.sessionStorage;
  } catch {
    // Storage can be denied (sandboxed frames); the session then lives only in memory.
    return null;
  }
}

/** A short digest of the user name (FNV-1a): enough to tell that the user changed. */
export function userKey(user: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < user.length; i++) {
    hash ^= user.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

export function newSession(win: Win, tabId: string, now: number, user: string): SessionState {
  return { sessionId: randomId(win, 's-'), tabId, startedAt: now, lastActive: now, seq: 0, user: userKey(user) };
}

/**
 * This tab's session for `user`. A stored session of another user is not resumed (a
 * collision of the digest only costs a refusal: the collector then has us start afresh).
 */
export function loadSession(win: Win, now: number, user: string): SessionState {
  let stored: Partial<SessionState> = {};
  try {
    stored = JSON.parse(storage(win)?.getItem(STORAGE_KEY) ?? '{}') as Partial<SessionState>;
  } catch {
    // Unreadable: start afresh.
  }
  const tabId = typeof stored.tabId === 'string' && ID_PATTERN.test(stored.tabId) ? stored.tabId : randomId(win, 't-');
  const resumable =
    typeof stored.sessionId === 'string' &&
    ID_PATTERN.test(stored.sessionId) &&
    typeof stored.lastActive === 'number' &&
    typeof stored.startedAt === 'number' &&
    now >= stored.lastActive &&
    !isExpired(stored as SessionState, now) &&
    stored.user === userKey(user);
  if (!resumable) return newSession(win, tabId, now, user);
  const seq = typeof stored.seq === 'number' && stored.seq >= 0 ? Math.floor(stored.seq) : 0;
  const sessionId = stored.sessionId as string;
  return { sessionId, tabId, startedAt: stored.startedAt as number, lastActive: now, seq, user: userKey(user) };
}

export function saveSession(win: Win, state: SessionState): void {
  try {
    storage(win)?.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch {
    // Quota or denied storage: the session simply does not survive a reload.
  }
}
