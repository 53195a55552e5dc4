// Input and mouse events: masked fields send no keystrokes and no values.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { InputData } from '../src/types';
import { CANARY, CANARY_WORDS, incremental, record, tick, type Page } from './helpers';

const HTML = `<form>
  <input id="name"><textarea id="notes"></textarea><input id="consent" type="checkbox">
  <div data-replay-unmask>
    <input id="ward"><input id="pw" type="password"><input id="flag" type="checkbox">
    <input type="radio" name="r" id="r1" checked><input type="radio" name="r" id="r2">
    <input id="morph">
  </div>
  <button id="save" type="button">Save</button>
</form>`;

/** A user typing: the value changes without the `value` setter (which scripts use). */
function type(page: Page, id: string, text: string): void {
  const el = page.doc.getElementById(id) as HTMLInputElement;
  for (const char of text) {
    el.setRangeText(char, el.value.length, el.value.length, 'end');
    el.dispatchEvent(new page.win.Event('input', { bubbles: true }));
  }
}

function change(page: Page, id: string): void {
  page.doc.getElementById(id)!.dispatchEvent(new page.win.Event('change', { bubbles: true }));
}

async function inputs(page: Page): Promise<InputData[]> {
  await tick();
  await page.api.flush();
  return incremental(page, 5) as InputData[];
}

describe('input events', () => {
  it('sends no per-keystroke events for masked fields, and one placeholder on change', async () => {
    const page = await record(HTML);
    type(page, 'name', CANARY);
    type(page, 'notes', CANARY);
    type(page, 'pw', CANARY);
    assert.equal((await inputs(page)).length, 0);
    change(page, 'name');
    change(page, 'pw');
    const events = await inputs(page);
    assert.equal(events.length, 2);
    for (const e of events) assert.deepEqual({ text: e.text, isChecked: e.isChecked }, { text: '*****', isChecked: false });
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('does not leak the checked state of masked checkboxes', async () => {
    const page = await record(HTML);
    const box = page.doc.getElementById('consent') as HTMLInputElement;
    box.click();
    const events = await inputs(page);
    assert.equal(events.length, 1);
    assert.equal(events[0].isChecked, false);
    assert.equal(events[0].text, '*****');
    page.close();
  });

  it('sends unmasked values once committed, never per keystroke, and radio group changes', async () => {
    const page = await record(HTML);
    type(page, 'ward', 'Ward 4');
    change(page, 'ward');
    (page.doc.getElementById('flag') as HTMLInputElement).click();
    (page.doc.getElementById('r2') as HTMLInputElement).click();
    const events = await inputs(page);
    // A half-typed value is not yet detector-shaped (think 900-1): only committed values go.
    assert.deepEqual(
      events.map((e) => e.text),
      ['Ward 4', '', '', ''], // a checkbox or radio says it is checked; its value attribute stays
    );
    assert.deepEqual(
      events.slice(1).map((e) => e.isChecked),
      [true, true, false],
    );
    page.close();
  });

  it('keeps a field masked after its type changes from password', async () => {
    const page = await record(HTML);
    const morph = page.doc.getElementById('pw') as HTMLInputElement;
    morph.type = 'text';
    type(page, 'pw', CANARY_WORDS);
    change(page, 'pw');
    const events = await inputs(page);
    assert.equal(events.length, 1);
    assert.equal(events[0].text, '*****');
    assert.ok(!page.collector.wire.includes('CANARY'));
    page.close();
  });

  it('masks detector hits typed into unmasked fields', async () => {
    const page = await record(HTML);
    type(page, 'ward', 'call 555-010-0199');
    change(page, 'ward');
    const [event] = await inputs(page);
    assert.match(event.text, /^\*+$/);
    page.close();
  });
});

describe('mouse interactions', () => {
  it('records clicks with node id and coordinates only', async () => {
    const page = await record(HTML);
    const save = page.doc.getElementById('save')!;
    save.dispatchEvent(new page.win.MouseEvent('mousedown', { bubbles: true, clientX: 10, clientY: 20 }));
    save.dispatchEvent(new page.win.MouseEvent('click', { bubbles: true, clientX: 10, clientY: 20 }));
    await tick();
    await page.api.flush();
    const clicks = incremental(page, 2);
    assert.equal(clicks.length, 2);
    assert.deepEqual(
      clicks.map((c) => ({ ...c, id: typeof (c as { id: number }).id })),
      [
        { source: 2, type: 1, id: 'number', x: 10, y: 20 },
        { source: 2, type: 2, id: 'number', x: 10, y: 20 },
      ],
    );
    page.close();
  });
});
