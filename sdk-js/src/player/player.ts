// One player in one container: rrweb's Replayer (in its sandboxed iframe, scaled to fit)
// with our controls around it. The Replayer never gets UNSAFE_replayCanvas, so its
// iframe keeps `sandbox="allow-same-origin"` and no script of the recording runs.

import { Replayer } from 'rrweb';
import type { eventWithTime } from 'rrweb';
import { h, showMessage } from './dom';
import { formatClock } from './format';
import { INACTIVE_MS, RecordingError, pageAt, prepare, routeOf } from './recording';
import type { Marker, Recording, ReplayData } from './recording';
import { Timeline } from './timeline';

/** Playback speeds offered (the speed select's options). */
export const SPEEDS = [1, 2, 4, 8] as const;

/**
 * The replay document's own policy: no source at all, so nothing in it can fetch, not
 * even from the console (`'self'`), whatever the inert pass missed. Inline styles are the
 * recorded page's look; `data:` images and fonts stay in the page. It narrows what the
 * iframe inherits from the console page, and stays in force when rrweb rewrites the
 * document for each full snapshot (a policy once delivered is never taken back).
 */
export const REPLAY_CSP =
  "default-src 'none'; img-src data:; font-src data:; media-src data:; style-src 'unsafe-inline'; " +
  "base-uri 'none'; form-action 'none'";

/** Playing from inside a skipped inactive stretch resumes this long before its end. */
const SKIP_LEAD_MS = 1_000;

export interface PlayerHandle {
  play(): void;
  pause(): void;
  /** Jump to `ms` since the start of the recording (clamped to it). */
  seek(ms: number): void;
  /** One of 1, 2, 4, 8. */
  setSpeed(speed: number): void;
  setSkipInactive(skip: boolean): void;
  /** ms since the start of the recording. */
  currentTime(): number;
  duration(): number;
  markers(): Marker[];
  isPlaying(): boolean;
  /** Stops playback and empties the container. */
  destroy(): void;
}

const players = new WeakMap<HTMLElement, PlayerHandle>();

/**
 * Mounts a player for `data` in `el` (replacing any player already there). When the
 * data cannot be replayed (no events, no full snapshot), `el` shows why and this throws
 * a RecordingError with the same message.
 */
export function mount(el: HTMLElement, data: ReplayData): PlayerHandle {
  players.get(el)?.destroy();
  let recording: Recording;
  try {
    recording = prepare(data);
  } catch (error) {
    if (error instanceof RecordingError) showMessage(el, error.message, true);
    throw error;
  }
  const player = new Player(el, recording);
  players.set(el, player);
  return player;
}

class Player implements PlayerHandle {
  private readonly replayer: Replayer;
  private readonly timeline: Timeline;
  private readonly playButton: HTMLButtonElement;
  private readonly speedSelect: HTMLSelectElement;
  private readonly skipBox: HTMLInputElement;
  private readonly timeText: HTMLElement;
  private readonly routeText: HTMLElement;
  private readonly clockText: HTMLElement;
  private readonly status: HTMLElement;
  private readonly stage: HTMLDivElement;
  private readonly resizeObserver: ResizeObserver;
  private playing = false;
  /** Playing when a timeline drag began: it resumes when the drag ends. */
  private resumeAfterDrag = false;
  /** The position while paused (rrweb's clock may sit 1 ms past it, see `toReplayer`). */
  private position = 0;
  /**
   * 'finish' events rrweb still owes: a seek to the end applies the last event at once,
   * and rrweb then announces the end a little later (up to the last mouse move's span),
   * even if playback has meanwhile restarted from earlier.
   */
  private staleFinishes = 0;
  private frame = 0;
  private size = { width: 0, height: 0 };
  private destroyed = false;

  constructor(
    private readonly el: HTMLElement,
    private readonly recording: Recording,
  ) {
    const { session } = recording;
    el.classList.add('phi-player');

    this.routeText = h('code', { class: 'phi-player__route', 'data-role': 'route' });
    this.clockText = h('span', { class: 'phi-player__clock', 'data-role': 'clock' });
    const where = [session.instance, session.environment].filter((s) => typeof s === 'string' && s !== '');
    const info = h('div', { class: 'phi-player__info' }, [
      field('User', h('span', { class: 'phi-player__user', 'data-role': 'user' }, [text(session.user, 'unknown user')])),
      field('Page', this.routeText),
      field('At', this.clockText),
      h('span', { class: 'phi-player__where' }, [where.join(' · ')]),
    ]);

    this.status = h('div', { class: 'phi-player__status', 'data-role': 'status', role: 'status' });
    this.status.hidden = true;
    this.stage = h('div', { class: 'phi-player__stage', 'data-role': 'stage' }, [this.status]);

    this.timeline = new Timeline(recording, {
      seek: (time, final) => this.scrub(time, final),
      grab: () => this.grab(),
      togglePlay: () => this.toggle(),
      current: () => this.currentTime(),
    });
    this.playButton = h('button', { type: 'button', class: 'phi-player__play', 'data-action': 'play' }, ['Play']);
    this.playButton.addEventListener('click', () => this.toggle());
    this.timeText = h('span', { class: 'phi-player__time', 'data-role': 'time', 'aria-live': 'off' });
    this.speedSelect = h(
      'select',
      { class: 'phi-player__speed', 'data-action': 'speed', 'aria-label': 'Playback speed' },
      SPEEDS.map((speed) => h('option', { value: String(speed) }, [`${speed}×`])),
    );
    this.speedSelect.addEventListener('change', () => this.setSpeed(Number(this.speedSelect.value)));
    this.skipBox = h('input', { type: 'checkbox', class: 'phi-player__skip', 'data-action': 'skip' });
    this.skipBox.checked = true;
    this.skipBox.addEventListener('change', () => this.setSkipInactive(this.skipBox.checked));
    const legend = h('span', { class: 'phi-player__legend', 'aria-hidden': 'true' }, [
      h('span', { class: 'phi-player__key phi-player__key--click' }, ['Click']),
      h('span', { class: 'phi-player__key phi-player__key--navigation' }, ['Page']),
      h('span', { class: 'phi-player__key phi-player__key--gap' }, ['Gap']),
    ]);
    const controls = h('div', { class: 'phi-player__controls' }, [
      this.playButton,
      this.timeText,
      legend,
      h('label', { class: 'phi-player__control' }, ['Speed ', this.speedSelect]),
      h('label', { class: 'phi-player__control' }, [this.skipBox, ' Skip inactivity']),
    ]);
    el.replaceChildren(info, this.stage, h('div', { class: 'phi-player__bar' }, [this.timeline.el, controls]));

    this.replayer = new Replayer(recording.events as unknown as eventWithTime[], {
      root: this.stage,
      speed: 1,
      skipInactive: true,
      inactivePeriodThreshold: INACTIVE_MS,
      // Focusing elements inside the replay would take keyboard focus from the controls.
      triggerFocus: false,
      // Canvas replay needs scripts in the iframe (rrweb adds allow-scripts): never.
      UNSAFE_replayCanvas: false,
      mouseTail: { duration: 500, lineCap: 'round', lineWidth: 3, strokeStyle: 'rgba(37, 99, 235, 0.55)' },
    });
    // rrweb builds the first snapshot on a timer, so the policy is in place before any
    // recorded node exists.
    if (!lockDown(this.replayer.iframe)) {
      this.replayer.destroy();
      const message = 'This recording is not shown: the replay frame could not be secured.';
      showMessage(el, message, true);
      throw new RecordingError(message);
    }
    this.replayer.on('resize', (size) => this.resize(size as { width: number; height: number }));
    this.replayer.on('finish', () => this.finish());
    this.replayer.on('skip-start', (e) => this.skipping(true, (e as { speed?: number }).speed));
    this.replayer.on('skip-end', () => this.skipping(false));
    this.resizeObserver = new ResizeObserver(() => this.fit());
    this.resizeObserver.observe(this.stage);
    this.seek(0);
    this.render();
  }

  play(): void {
    if (this.destroyed || this.playing) return;
    if (this.position >= this.recording.duration) this.position = 0;
    this.position = this.pastInactivity(this.position);
    this.playing = true;
    this.replayer.play(this.toReplayer(this.position));
    this.playButton.textContent = 'Pause';
    this.loop();
  }

  pause(): void {
    if (this.destroyed || !this.playing) return;
    this.position = this.clockTime();
    this.replayer.pause();
    this.stopped();
    this.render();
  }

  seek(ms: number): void {
    if (this.destroyed) return;
    if (!Number.isFinite(ms)) throw new RangeError('seek expects a number of milliseconds');
    this.position = Math.min(this.recording.duration, Math.max(0, ms));
    if (this.position >= this.recording.duration) {
      // The end: playback stops there.
      this.staleFinishes++;
      if (this.playing) this.stopped();
    }
    if (this.playing) this.replayer.play(this.toReplayer(this.position));
    else this.replayer.pause(this.toReplayer(this.position));
    this.render();
  }

  setSpeed(speed: number): void {
    if (!(SPEEDS as readonly number[]).includes(speed)) {
      throw new RangeError(`speed must be one of ${SPEEDS.join(', ')}, got ${speed}`);
    }
    this.speedSelect.value = String(speed);
    this.replayer.setConfig({ speed });
  }

  setSkipInactive(skip: boolean): void {
    this.skipBox.checked = skip;
    this.replayer.setConfig({ skipInactive: skip });
    if (!skip) this.skipping(false);
  }

  currentTime(): number {
    return this.playing ? this.clockTime() : this.position;
  }

  duration(): number {
    return this.recording.duration;
  }

  markers(): Marker[] {
    return this.recording.markers.map((marker) => ({ ...marker }));
  }

  isPlaying(): boolean {
    return this.playing;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.playing = false;
    cancelAnimationFrame(this.frame);
    this.resizeObserver.disconnect();
    this.timeline.destroy();
    this.replayer.destroy();
    this.el.replaceChildren();
    if (players.get(this.el) === this) players.delete(this.el);
  }

  /**
   * rrweb applies at once only the events strictly before the time it is given, so an
   * event exactly at a marker's time (the page a navigation marker names) would not show
   * yet. Its clock therefore runs 1 ms ahead of the position shown.
   */
  private toReplayer(time: number): number {
    return time + 1;
  }

  /**
   * With "skip inactivity" on, playing from inside an inactive stretch starts shortly
   * before its end: rrweb skips only the stretches it enters while playing.
   */
  private pastInactivity(time: number): number {
    if (!this.skipBox.checked) return time;
    const span = this.recording.inactive.find((s) => time >= s.start && s.end - time > INACTIVE_MS);
    return span ? span.end - SKIP_LEAD_MS : time;
  }

  private clockTime(): number {
    const time = this.replayer.getCurrentTime() - 1;
    return Math.min(this.recording.duration, Math.max(0, time));
  }

  private toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  private grab(): void {
    this.resumeAfterDrag = this.playing;
    if (this.playing) this.pause();
  }

  private scrub(time: number, final: boolean): void {
    this.seek(time);
    if (final && this.resumeAfterDrag) {
      this.resumeAfterDrag = false;
      this.play();
    }
  }

  private finish(): void {
    if (this.staleFinishes > 0) {
      this.staleFinishes--;
      // rrweb stopped its clock for it: carry on from where playback is.
      if (this.playing) this.replayer.play(this.toReplayer(this.pastInactivity(this.clockTime())));
      return;
    }
    if (!this.playing) return;
    this.position = this.recording.duration;
    this.stopped();
    this.render();
  }

  private stopped(): void {
    this.playing = false;
    this.playButton.textContent = 'Play';
    this.skipping(false);
  }

  private loop(): void {
    cancelAnimationFrame(this.frame);
    const tick = (): void => {
      if (!this.playing || this.destroyed) return;
      this.render();
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  private render(): void {
    const time = this.currentTime();
    this.timeline.render(time);
    this.timeText.textContent = `${formatClock(time)} / ${formatClock(this.recording.duration)}`;
    const href = pageAt(this.recording, time);
    const route = routeOf(href);
    if (this.routeText.textContent !== route) {
      this.routeText.textContent = route;
      this.routeText.title = href;
    }
    // UTC, like every time the console shows.
    this.clockText.textContent = `${new Date(this.recording.start + time).toISOString().slice(11, 19)} UTC`;
  }

  private skipping(on: boolean, speed?: number): void {
    this.status.hidden = !on;
    this.status.textContent = on ? `Skipping inactivity${speed ? ` (${speed}×)` : ''}` : '';
  }

  private resize(size: { width: number; height: number }): void {
    if (!(size.width > 0 && size.height > 0)) return;
    this.size = size;
    this.stage.style.aspectRatio = `${size.width} / ${size.height}`;
    this.fit();
  }

  /** Scales the replayed page (its recorded viewport) to fit the stage, centred. */
  private fit(): void {
    const { width, height } = this.size;
    const wrapper = this.replayer.wrapper;
    if (!width || !height || !wrapper) return;
    const stageWidth = this.stage.clientWidth;
    const stageHeight = this.stage.clientHeight;
    const scale = Math.min(stageWidth / width, stageHeight / height);
    if (!(scale > 0)) return;
    const x = (stageWidth - width * scale) / 2;
    const y = (stageHeight - height * scale) / 2;
    wrapper.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  }
}

/** Delivers REPLAY_CSP to the (still empty) replay document; false if it cannot. */
function lockDown(iframe: HTMLIFrameElement): boolean {
  const doc = iframe.contentDocument;
  if (!doc?.head) return false;
  const meta = doc.createElement('meta');
  meta.httpEquiv = 'Content-Security-Policy';
  meta.content = REPLAY_CSP;
  doc.head.prepend(meta);
  return true;
}

function field(label: string, value: HTMLElement): HTMLElement {
  return h('span', { class: 'phi-player__field' }, [h('span', { class: 'phi-player__label' }, [label]), value]);
}

function text(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}
