// Channels that once leaked because something *looked* harmless, each closed by
// construction (issue 10): fields that stop looking sensitive, excluded routes left or
// entered in the same task as a write, a page that starts on an excluded route, inputs
// inside shadow roots, and the application's interface strings (`ui_text`).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InputData } from '../src/types';
import { element, fullSnapshot, incremental, makePage, record, textOf, tick, type Page } from './helpers';

async function inputs(page: Page): Promise<InputData[]> {
  await tick();
  await page.api.flush();
  return incremental(page, 5) as InputData[];
}

function typeInto(page: Page, el: HTMLInputElement, text: string): void {
  for (const char of text) {
    el.setRangeText(char, el.value.length, el.value.length, 'end');
    el.dispatchEvent(new page.win.Event('input', { bubbles: true }));
  }
}

/** Every full snapshot taken after `since` events (fresh ones prove what a resnapshot shows). */
function laterSnapshots(page: Page, since: number) {
  return page.collector.events.slice(since).filter((e) => e.type === 2);
}

describe('sensitive is sticky', () => {
  const HTML = '<div data-replay-unmask><input id="f"><input id="g"><input id="h"></div>';

  it('a field switched to password by script, typed into and shown again stays masked (event and snapshot)', async () => {
    const page = await record(HTML);
    const f = page.doc.getElementById('f') as HTMLInputElement;
    f.focus();
    f.type = 'password';
    await tick();
    typeInto(page, f, 'CANARY-STICKY-PW-01');
    f.type = 'text'; // "show password", still focused
    await tick();
    f.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    const sent = (await inputs(page)).map((e) => e.text);
    assert.deepEqual(sent, ['*****']);
    page.api.identify('someone.else'); // a new session: a fresh full snapshot of the page as it is
    await tick(20);
    await page.api.flush();
    const snap = page.collector.events.filter((e) => e.type === 2).at(-1)!;
    assert.ok(snap.type === 2);
    assert.ok(!page.collector.wire.includes('STICKY'), 'neither the Input event nor the next snapshot');
    page.close();
  });

  it('a type or autocomplete that was sensitive for one task only still counts (old values are read)', async () => {
    const page = await record(HTML);
    const g = page.doc.getElementById('g') as HTMLInputElement;
    const h = page.doc.getElementById('h') as HTMLInputElement;
    g.setAttribute('type', 'password');
    g.setAttribute('type', 'text');
    h.setAttribute('autocomplete', 'cc-number');
    h.removeAttribute('autocomplete');
    await tick();
    typeInto(page, g, 'CANARY-STICKY-PW-02');
    typeInto(page, h, 'CANARY-STICKY-CC-03');
    g.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    h.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    assert.deepEqual((await inputs(page)).map((e) => e.text), ['*****', '*****']);
    assert.ok(!page.collector.wire.includes('STICKY'));
    page.close();
  });

  it('an unmasked field that was never sensitive still sends its committed value', async () => {
    const page = await record(HTML);
    const f = page.doc.getElementById('f') as HTMLInputElement;
    typeInto(page, f, 'left knee');
    f.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    assert.deepEqual((await inputs(page)).map((e) => e.text), ['left knee']);
    page.close();
  });
});

describe('excluded routes are airtight', () => {
  const RULES = { exclude_routes: ['/volunteers/**'], unmask: ['[data-replay-unmask]'] };

  it('a tab that starts on an excluded route records nothing of that view, however late the router swaps it', async () => {
    const page = makePage(
      `<div id="app" data-replay-unmask><h1>CANARY-VOLSTART-HEADING</h1><p id="toast">CANARY-VOLSTART-TOAST</p></div>`,
      {},
      'https://clinic.example.org/volunteers/42/profile',
    );
    await page.api.start(page.options({ rules: RULES }));
    page.win.history.pushState({}, '', '/patients');
    await tick(300); // the router is slow: the snapshot is taken before it re-renders
    const app = page.doc.getElementById('app')!;
    app.querySelector('h1')!.remove();
    app.insertAdjacentHTML('afterbegin', '<h1>Patients</h1>');
    await tick(20);
    await page.api.flush();
    const wire = page.collector.wire;
    assert.ok(wire.includes('"type":2'), 'capture resumed with a full snapshot');
    assert.ok(!wire.includes('VOLSTART'), 'nothing of the view present at start');
    assert.ok(wire.includes('Patients'), 'what the router renders afterwards is readable');
    page.close();
  });

  it('text written on the excluded route in the same task as the pushState that leaves it is not recorded', async () => {
    const page = makePage(
      '<div id="app"><p data-replay-unmask id="toast">Saved</p></div>',
      {},
      'https://clinic.example.org/patients',
    );
    await page.api.start(page.options({ rules: RULES }));
    page.win.history.pushState({}, '', '/volunteers/7');
    await tick(20);
    // One task: the volunteer view writes its toast, then the app navigates away.
    page.doc.getElementById('toast')!.textContent = 'CANARY-VOLTOAST-SAME-TASK';
    page.win.history.pushState({}, '', '/patients');
    await tick(300);
    await page.api.flush();
    assert.ok(!page.collector.wire.includes('VOLTOAST'));
    page.close();
  });

  it('a router that renders the excluded view first and pushes its URL after records nothing of it', async () => {
    const page = makePage('<div id="app" data-replay-unmask><h1>Patients</h1></div>', {}, 'https://clinic.example.org/patients');
    await page.api.start(page.options({ rules: RULES }));
    await page.api.flush();
    page.doc.getElementById('app')!.innerHTML = '<h1>CANARY-VOL-RENDER-FIRST</h1>';
    page.win.history.pushState({}, '', '/volunteers/7');
    await tick(20);
    await page.api.flush();
    assert.ok(!page.collector.wire.includes('RENDER-FIRST'));
    page.close();
  });

  it('a router holding the original pushState (never wrapped) still cannot leak the view it leaves', async () => {
    const page = makePage('<div id="app" data-replay-unmask><h1>Patients</h1></div>', {}, 'https://clinic.example.org/patients');
    const push = page.win.history.pushState.bind(page.win.history); // taken before start()
    await page.api.start(page.options({ rules: RULES }));
    push({}, '', '/volunteers/7');
    page.doc.getElementById('app')!.innerHTML = '<h1>CANARY-VOL-UNHOOKED-VIEW</h1>';
    await tick(20);
    page.doc.querySelector('h1')!.textContent = 'CANARY-VOL-UNHOOKED-LAST';
    push({}, '', '/patients');
    await tick(900); // only the URL poll (500 ms) can notice, then the DOM settles
    await page.api.flush();
    const before = page.collector.events.length;
    assert.ok(laterSnapshots(page, 0).length >= 2, 'a fresh snapshot after leaving');
    assert.ok(!page.collector.wire.includes('UNHOOKED'), 'the excluded view stays masked');
    assert.ok(before > 0);
    page.close();
  });
});

describe('inputs inside open shadow roots', () => {
  it('send Input events on change, masked like any other field', async () => {
    const page = await record('<div id="host"></div><div id="open" data-replay-unmask></div>');
    const masked = page.doc.getElementById('host')!.attachShadow({ mode: 'open' });
    masked.innerHTML = '<input id="in">';
    const shown = page.doc.getElementById('open')!.attachShadow({ mode: 'open' });
    shown.innerHTML = '<input id="in2">';
    await tick();
    await page.api.flush();
    const a = masked.getElementById('in') as HTMLInputElement;
    const b = shown.getElementById('in2') as HTMLInputElement;
    typeInto(page, a, 'CANARY-SHADOW-TYPED');
    a.dispatchEvent(new page.win.Event('change', { bubbles: true })); // not composed: stops at the root
    typeInto(page, b, 'left knee');
    b.dispatchEvent(new page.win.Event('change', { bubbles: true }));
    assert.deepEqual((await inputs(page)).map((e) => e.text), ['*****', 'left knee']);
    assert.ok(!page.collector.wire.includes('SHADOW-TYPED'));
    page.close();
  });
});

describe('ui_text', () => {
  const UI = ['Save visit', 'Date of birth', 'Patients'];

  it('shows interface strings outside unmask regions, and nothing else', async () => {
    const page = await record(
      `<h1>Patients</h1><label>  Date of
         birth </label><p id="p">CANARY-UITEXT-OTHER</p><button>Save visit</button>
       <div data-replay-mask><span id="m">Save visit</span></div>`,
      { rules: { ui_text: UI } },
    );
    const snap = fullSnapshot(page);
    assert.equal(textOf(element(snap, 'h1')), 'Patients');
    assert.match(textOf(element(snap, 'label')), /Date of\s+birth/);
    assert.equal(textOf(element(snap, 'button')), 'Save visit');
    assert.match(textOf(element(snap, 'span')), /^\*+$/, 'mask wins over ui_text');
    assert.match(textOf(element(snap, 'p')), /^\*+$/);
    assert.ok(!page.collector.wire.includes('CANARY'));
    // A text that changes into an interface string is shown; one that changes away is masked.
    page.doc.querySelector('h1')!.textContent = 'CANARY-UITEXT-CHANGED';
    page.doc.getElementById('p')!.firstChild!.textContent = 'Save visit';
    await tick();
    await page.api.flush();
    const texts = page.collector.events.flatMap((e) => (e.type === 3 && e.data.source === 0 ? e.data.texts : []));
    assert.ok(texts.some((t) => t.value === 'Save visit'));
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('still runs the detector, and never shows a field value', async () => {
    const page = await record('<p>Call 555-010-0004</p><input id="f" value="Patients">', {
      rules: { ui_text: ['Call 555-010-0004', 'Patients'] },
    });
    const snap = fullSnapshot(page);
    assert.match(textOf(element(snap, 'p')), /^\*+$/);
    assert.equal(element(snap, 'input', 'f').attributes.value, '*****');
    page.close();
  });

  it('is refused when it is not a list of non-empty strings', async () => {
    const page = makePage('<p>x</p>');
    await assert.rejects(page.api.start(page.options({ rules: { ui_text: ['ok', ''] } })), /rules\.ui_text\[1\]/);
    await assert.rejects(page.api.start(page.options({ rules: { ui_text: 'Patients' as unknown as string[] } })), /rules\.ui_text must be an array/);
    page.close();
  });
});
