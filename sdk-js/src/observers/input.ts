// Form input: rrweb Input events, one per committed change (`change`), never per
// keystroke. Masked fields send the constant placeholder, so neither the value nor
// typing rhythm leaves the page. Unmasked fields send their value, detector-checked —
// committed values only, because a half-typed SSN is not yet SSN-shaped.
//
// Values set by script fire no events (`el.value = …`, `el.checked = true`,
// `select.selectedIndex = 2`), so the setters of those properties are hooked while
// recording and restored on stop. A masked field set by script sends the placeholder
// once (repeats are deduplicated), never the value.
//
// Every keystroke (`input`) still asks the masker whether the field is sensitive now:
// a field switched to type=password by script, typed into and switched back stays
// masked for life. `change` does not cross a shadow root's boundary, so each open
// shadow root the recorder meets gets a listener of its own.

import { IncrementalSource, type Observer, type RecordContext } from '../types';
import { hookSetter, listen, targetOf } from './listen';

const FIELDS = new Set(['input', 'textarea', 'select']);

/** Properties whose setters change what a field shows without an event. */
const HOOKED: [proto: 'HTMLInputElement' | 'HTMLTextAreaElement' | 'HTMLSelectElement' | 'HTMLOptionElement', keys: string[]][] = [
  ['HTMLInputElement', ['value', 'checked']],
  ['HTMLTextAreaElement', ['value']],
  ['HTMLSelectElement', ['value', 'selectedIndex']],
  ['HTMLOptionElement', ['selected']],
];

export const observeInput: Observer = (ctx) => {
  // Last value sent per field, so repeated events with the same value are not resent.
  const last = new WeakMap<Element, string>();

  const send = (el: Element, text: string, isChecked: boolean): void => {
    const id = ctx.mirror.getId(el);
    const key = `${isChecked ? 1 : 0}${text}`;
    if (id === undefined || last.get(el) === key) return;
    last.set(el, key);
    ctx.incremental({ source: IncrementalSource.Input, id, text, isChecked });
  };

  /** A committed change (event `change`, or a value set by script). */
  const report = (el: Element): void => {
    const value = ctx.mask.field(el);
    if (value.masked) {
      last.delete(el);
      send(el, value.text, false);
      return;
    }
    send(el, value.text, value.isChecked);
    if ((el as HTMLInputElement).type === 'radio' && value.isChecked) uncheckGroup(el as HTMLInputElement, ctx, send);
  };

  const handler = (event: Event): void => {
    try {
      const el = targetOf(event) as Element | null;
      if (!el || el.nodeType !== 1 || !FIELDS.has(el.localName)) return;
      // Seen sensitive once (type, autocomplete), masked for life: checked at every keystroke.
      ctx.mask.noteField(el);
      if (!ctx.capturing()) {
        if (ctx.excluded()) ctx.mask.taint(el); // typed on an excluded route: never shown
        return;
      }
      ctx.activity();
      if (event.type === 'change') report(el);
    } catch {
      // Never break the page.
    }
  };

  const bySetter = (self: unknown): void => {
    let el = self as Element;
    if (el.localName === 'option') el = (el as HTMLOptionElement).parentElement?.closest('select') ?? el;
    // Also for fields not (yet) recorded: one filled while a password, then shown, stays masked.
    ctx.mask.noteField(el);
    if (ctx.mirror.getId(el) === undefined || !FIELDS.has(el.localName)) return;
    if (!ctx.capturing()) {
      if (ctx.excluded()) ctx.mask.taint(el);
      return;
    }
    // A script set is one committed change: a masked field sends its placeholder once.
    const value = ctx.mask.field(el);
    if (value.masked) send(el, value.text, false);
    else report(el);
  };

  const teardowns = ['input', 'change'].map((type) => listen(ctx.doc, type, handler));
  // A change inside a shadow root reaches the document only if the event is composed; it is not.
  const inRoots: Array<() => void> = [];
  teardowns.push(
    ctx.onRoot((root) => inRoots.push(listen(root, 'change', handler))),
    () => inRoots.forEach((teardown) => teardown()),
  );
  for (const [name, keys] of HOOKED) {
    const proto = ctx.win[name]?.prototype;
    if (proto) for (const key of keys) teardowns.push(hookSetter(proto, key, bySetter));
  }
  // A type set by script, also on a field not in the page: what it was is noted first.
  const inputs = ctx.win.HTMLInputElement?.prototype;
  if (inputs) teardowns.push(hookSetter(inputs, 'type', () => undefined, (self) => ctx.mask.noteField(self as Element)));
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
