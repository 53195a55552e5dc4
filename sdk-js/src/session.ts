// One recording session per tab, kept in sessionStorage so a reload continues it;
// a new session starts after 30 minutes without user activity.

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

export function newSession(win: Win, tabId: string, now: number): SessionState {
  return { sessionId: randomId(win, 's-'), tabId, startedAt: now, lastActive: now, seq: 0 };
}

export function loadSession(win: Win, now: number): SessionState {
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
    !isExpired(stored as SessionState, now);
  if (!resumable) return newSession(win, tabId, now);
  const seq = typeof stored.seq === 'number' && stored.seq >= 0 ? Math.floor(stored.seq) : 0;
  return { sessionId: stored.sessionId as string, tabId, startedAt: stored.startedAt as number, lastActive: now, seq };
}

export function saveSession(win: Win, state: SessionState): void {
  try {
    storage(win)?.setItem(STORAGE_KEY, JSON.stringify(state));
  } catch {
    // Quota or denied storage: the session simply does not survive a reload.
  }
}
