// Form input: rrweb Input events. Masked fields send nothing per keystroke — at most
// one event on `change`, carrying the constant placeholder — so neither the value nor
// typing rhythm leaves the page. Unmasked fields send their (detector-checked) value.

import { EventType, IncrementalSource, type Observer, type RecordContext } from '../types';
import { listen } from './listen';

const FIELDS = new Set(['input', 'textarea', 'select']);

export const observeInput: Observer = (ctx) => {
  // Last value sent per field, so repeated events with the same value are not resent.
  const last = new WeakMap<Element, string>();

  const send = (el: Element, text: string, isChecked: boolean): void => {
    const id = ctx.mirror.getId(el);
    const key = `${isChecked ? 1 : 0}${text}`;
    if (id === undefined || last.get(el) === key) return;
    last.set(el, key);
    ctx.emit({ type: EventType.IncrementalSnapshot, data: { source: IncrementalSource.Input, id, text, isChecked } });
  };

  const handler = (event: Event): void => {
    try {
      const el = event.target as Element | null;
      if (!el || el.nodeType !== 1 || !FIELDS.has(el.localName) || !ctx.capturing()) return;
      ctx.activity();
      const value = ctx.mask.field(el);
      if (value.masked) {
        if (event.type === 'change') {
          last.delete(el);
          send(el, value.text, false);
        }
        return;
      }
      send(el, value.text, value.isChecked);
      if ((el as HTMLInputElement).type === 'radio' && value.isChecked) uncheckGroup(el as HTMLInputElement, ctx, send);
    } catch {
      // Never break the page.
    }
  };
  const teardowns = ['input', 'change'].map((type) => listen(ctx.doc, type, handler));
  return () => teardowns.forEach((teardown) => teardown());
};

/** Checking a radio unchecks the others of its group without events of their own. */
function uncheckGroup(
  radio: HTMLInputElement,
  ctx: RecordContext,
  send: (el: Element, text: string, isChecked: boolean) => void,
): void {
  if (!radio.name) return;
  const scope = radio.form ?? ctx.doc;
  scope.querySelectorAll('input[type="radio"]').forEach((other) => {
    if (other === radio || (other as HTMLInputElement).name !== radio.name) return;
    const value = ctx.mask.field(other);
    if (!value.masked) send(other, value.text, false);
  });
}
