// The timeline: a slider over the recording's duration, with markers for clicks, page
// navigations and gaps, and shaded stretches of inactivity. Pointer: click or drag to
// jump. Keyboard (it is focusable): arrows step 5 s (1 s with Shift), Page Up/Down
// 30 s, Home/End to either end, Space plays or pauses.

import { h } from './dom';
import { formatClock } from './format';
import type { Marker, Recording } from './recording';

/** Arrow key step, and with Shift. */
const STEP_MS = 5_000;
const FINE_STEP_MS = 1_000;
/** Page Up / Page Down step. */
const PAGE_MS = 30_000;

export interface TimelineActions {
  /** Jump to `time`; `final` false while the pointer is still dragging. */
  seek(time: number, final: boolean): void;
  /** A drag starts (the player holds playback until it ends). */
  grab(): void;
  togglePlay(): void;
  current(): number;
}

export class Timeline {
  readonly el: HTMLDivElement;
  private readonly progress: HTMLDivElement;
  private readonly thumb: HTMLDivElement;
  private dragging = false;
  private readonly teardown: (() => void)[] = [];

  constructor(
    private readonly recording: Recording,
    private readonly actions: TimelineActions,
  ) {
    const { duration } = recording;
    this.progress = h('div', { class: 'phi-player__progress' });
    this.thumb = h('div', { class: 'phi-player__thumb' });
    const spans = recording.inactive.map((span) => {
      const el = h('div', { class: 'phi-player__inactive', 'data-role': 'inactive', title: 'Inactive' });
      el.style.left = this.percent(span.start);
      el.style.width = this.percent(span.end - span.start);
      return el;
    });
    const track = h('div', { class: 'phi-player__track' }, [...spans, this.progress]);
    const markers = recording.markers.map((marker) => this.marker(marker));
    this.el = h(
      'div',
      {
        class: 'phi-player__timeline',
        'data-role': 'timeline',
        role: 'slider',
        tabindex: '0',
        'aria-label': 'Position in the recording',
        'aria-valuemin': '0',
        'aria-valuemax': String(duration),
      },
      [track, ...markers, this.thumb],
    );
    this.listen('pointerdown', (e) => this.onPointerDown(e as PointerEvent));
    this.listen('pointermove', (e) => this.onPointerMove(e as PointerEvent));
    this.listen('pointerup', (e) => this.onPointerUp(e as PointerEvent));
    this.listen('pointercancel', (e) => this.onPointerUp(e as PointerEvent));
    this.listen('keydown', (e) => this.onKey(e as KeyboardEvent));
  }

  /** Shows `time` as the current position. */
  render(time: number): void {
    const at = this.percent(time);
    this.progress.style.width = at;
    this.thumb.style.left = at;
    this.el.setAttribute('aria-valuenow', String(Math.round(time)));
    this.el.setAttribute('aria-valuetext', `${formatClock(time)} of ${formatClock(this.recording.duration)}`);
  }

  destroy(): void {
    for (const off of this.teardown) off();
    this.teardown.length = 0;
  }

  private marker(marker: Marker): HTMLElement {
    const el = h('span', {
      class: `phi-player__marker phi-player__marker--${marker.kind}`,
      'data-marker': marker.kind,
      'data-time': String(marker.time),
      title: `${formatClock(marker.time)} · ${marker.label}`,
    });
    el.style.left = this.percent(marker.time);
    return el;
  }

  private percent(time: number): string {
    const { duration } = this.recording;
    return `${duration > 0 ? Math.min(100, Math.max(0, (time / duration) * 100)) : 0}%`;
  }

  private listen(type: string, handler: (e: Event) => void): void {
    this.el.addEventListener(type, handler);
    this.teardown.push(() => this.el.removeEventListener(type, handler));
  }

  /** The time under the pointer; a marker under it snaps to the marker's time. */
  private timeAt(e: PointerEvent): number {
    const marker = (e.target as Element | null)?.closest?.('[data-marker]');
    if (marker && !this.dragging) return Number(marker.getAttribute('data-time'));
    const box = this.el.getBoundingClientRect();
    const fraction = box.width > 0 ? (e.clientX - box.left) / box.width : 0;
    return Math.min(1, Math.max(0, fraction)) * this.recording.duration;
  }

  private onPointerDown(e: PointerEvent): void {
    if (e.button !== 0) return;
    e.preventDefault();
    this.el.focus();
    const time = this.timeAt(e);
    this.dragging = true;
    this.el.setPointerCapture(e.pointerId);
    this.actions.grab();
    this.actions.seek(time, false);
  }

  private onPointerMove(e: PointerEvent): void {
    if (this.dragging) this.actions.seek(this.timeAt(e), false);
  }

  private onPointerUp(e: PointerEvent): void {
    if (!this.dragging) return;
    const time = e.type === 'pointercancel' ? this.actions.current() : this.timeAt(e);
    this.dragging = false;
    if (this.el.hasPointerCapture(e.pointerId)) this.el.releasePointerCapture(e.pointerId);
    this.actions.seek(time, true);
  }

  private onKey(e: KeyboardEvent): void {
    const now = this.actions.current();
    const step = e.shiftKey ? FINE_STEP_MS : STEP_MS;
    let time: number;
    switch (e.key) {
      case 'ArrowLeft':
      case 'ArrowDown':
        time = now - step;
        break;
      case 'ArrowRight':
      case 'ArrowUp':
        time = now + step;
        break;
      case 'PageDown':
        time = now - PAGE_MS;
        break;
      case 'PageUp':
        time = now + PAGE_MS;
        break;
      case 'Home':
        time = 0;
        break;
      case 'End':
        time = this.recording.duration;
        break;
      case ' ':
        e.preventDefault();
        this.actions.togglePlay();
        return;
      default:
        return;
    }
    e.preventDefault();
    this.actions.seek(Math.min(this.recording.duration, Math.max(0, time)), true);
  }
}
