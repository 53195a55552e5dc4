// The support console's replay player (dist/player.js, an IIFE). On load it mounts a
// player in every `[data-phi-replay-player]` element, fetching the recording from its
// `data-events-url`; `window.PhiReplayPlayer.mount(el, data)` mounts one directly.

import { showMessage } from './dom';
import { mount } from './player';
import { RecordingError } from './recording';

export type { PlayerHandle } from './player';
export type { Marker, MarkerKind, ReplayData, SessionInfo } from './recording';

declare global {
  interface Window {
    PhiReplayPlayer: { mount: typeof mount };
  }
}

/** What to tell the person watching when the events request fails. */
function failure(status: number): string {
  switch (status) {
    case 401:
      return 'Could not load the recording (HTTP 401): sign in again.';
    case 403:
      return 'Could not load the recording (HTTP 403): you are not allowed to view this session.';
    case 404:
      return 'Could not load the recording (HTTP 404): the session does not exist or was deleted.';
    default:
      return `Could not load the recording (HTTP ${status}).`;
  }
}

async function load(el: HTMLElement): Promise<void> {
  const url = el.getAttribute('data-events-url');
  if (!url) {
    showMessage(el, 'No recording to show: the player has no data-events-url.', true);
    return;
  }
  showMessage(el, 'Loading the recording…', false);
  let data: unknown;
  try {
    // X-Phi-Console marks the request as the console's own: a page elsewhere cannot send
    // it without a CORS preflight the console never grants, a replay cannot send it at all.
    const headers = { Accept: 'application/json', 'X-Phi-Console': '1' };
    const response = await fetch(url, { credentials: 'same-origin', headers });
    if (!response.ok) {
      showMessage(el, failure(response.status), true);
      return;
    }
    data = await response.json();
  } catch {
    showMessage(el, 'Could not load the recording: the request failed or its answer was not JSON.', true);
    return;
  }
  try {
    mount(el, data as Parameters<typeof mount>[1]);
  } catch (error) {
    if (error instanceof RecordingError) return; // mount() already shows why
    showMessage(el, 'This recording could not be replayed.', true);
    console.error('phi-replay player: replay failed:', error instanceof Error ? error.message : String(error));
  }
}

function mountAll(): void {
  document.querySelectorAll<HTMLElement>('[data-phi-replay-player]').forEach((el) => void load(el));
}

window.PhiReplayPlayer = { mount };
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mountAll, { once: true });
else mountAll();
