// Test harness: a jsdom page, a fake collector behind a fake WebSocket, and a
// recorder API bound to that page. Nothing here touches the network.

import { JSDOM } from 'jsdom';
import { createApi, type PhiReplayApi } from '../src/api';
import type { StartOptions } from '../src/options';
import type { EventWithTime, SerializedNode, Win } from '../src/types';
import { unpackEvent, type RrwebEvent } from './unpack';

/** Synthetic values that must never appear in anything the recorder sends. */
export const CANARY = 'CANARY-SSN-900-00-0001';
/**
 * A canary the built-in detector does not recognise (no digits, no e-mail), for tests
 * inside unmask regions: it proves the rule under test masks it, not the backstop.
 */
export const CANARY_WORDS = 'CANARY-PATIENT-JANE-ROE';

/** The collector's refusal of a page whose instance or environment is not recording now. */
export const DISABLED = { code: 'disabled', reason: 'recording is disabled for this environment', close: 4004 };

export const PAGE_URL = 'https://clinic.example.org/patients/12345/chart?mrn=CANARY-MRN-77#CANARY-FRAG';

export interface CollectorBehaviour {
  /** next_seq sent in welcome (per connection, 1-based call count). */
  nextSeq?: (connection: number) => number;
  /**
   * The welcome's `config` (the instance's rule additions) per connection (1-based
   * call count); undefined leaves the key out.
   */
  config?: (connection: number) => unknown;
  /** Answer hello with this error instead of welcome. */
  helloError?: { code: string; reason: string; close: number };
  /** Answer the hello of these connections (1-based call count) with an error instead. */
  refuseHello?: (connection: number) => { code: string; reason: string; close: number } | undefined;
  /** Ack batches automatically (default true). */
  autoAck?: boolean;
  /** Never answer hello (a collector that accepts sockets but hangs). */
  silent?: boolean;
}

export class FakeSocket {
  readyState = 0;
  sent: string[] = [];
  closedWith: number | undefined;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(
    readonly url: string,
    private readonly collector: FakeCollector,
  ) {}

  send(data: unknown): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError');
    if (typeof data !== 'string') throw new Error('test collector only accepts text frames');
    this.sent.push(data);
    this.collector.receive(this, data);
  }

  close(code = 1005): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = code;
  }

  /** The server's side: deliver a message. */
  deliver(message: object): void {
    setTimeout(() => this.onmessage?.({ data: JSON.stringify(message) }), 0);
  }

  /** The server's side: close the connection. */
  drop(code: number): void {
    setTimeout(() => {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code });
    }, 0);
  }
}

export class FakeCollector {
  sockets: FakeSocket[] = [];
  hellos: Record<string, unknown>[] = [];
  /** Batches as received, and their events as the collector expands them (rrweb's shape). */
  batches: { seq: number; wire: EventWithTime[]; events: RrwebEvent[] }[] = [];
  acked = new Set<number>();

  constructor(public behaviour: CollectorBehaviour = {}) {}

  /** A WebSocket constructor bound to this collector. */
  get WebSocket(): unknown {
    const collector = this;
    return class extends FakeSocket {
      constructor(url: string) {
        super(url, collector);
        collector.sockets.push(this);
        setTimeout(() => {
          if (this.readyState !== 0) return;
          this.readyState = 1;
          this.onopen?.();
        }, 0);
      }
    };
  }

  receive(socket: FakeSocket, frame: string): void {
    const message = JSON.parse(frame) as Record<string, unknown>;
    if (message.type === 'hello') {
      this.hellos.push(message);
      if (this.behaviour.silent) return;
      const error = this.behaviour.helloError ?? this.behaviour.refuseHello?.(this.hellos.length);
      if (error) {
        socket.deliver({ type: 'error', code: error.code, reason: error.reason });
        socket.drop(error.close);
        return;
      }
      const next = this.behaviour.nextSeq?.(this.hellos.length) ?? 1;
      const config = this.behaviour.config?.(this.hellos.length);
      const welcome = { type: 'welcome', session_id: message.session_id, next_seq: next };
      socket.deliver(config === undefined ? welcome : { ...welcome, config });
    } else if (message.type === 'batch') {
      const seq = message.seq as number;
      const wire = message.events as EventWithTime[];
      this.batches.push({ seq, wire, events: wire.map(unpackEvent) });
      if (this.behaviour.autoAck !== false) this.ack(socket, seq);
    }
  }

  ack(socket: FakeSocket, seq: number): void {
    this.acked.add(seq);
    socket.deliver({ type: 'ack', seq });
  }

  get events(): RrwebEvent[] {
    return this.batches.flatMap((batch) => batch.events);
  }

  /** Every frame the page sent, as one string to search for leaks. */
  get wire(): string {
    return this.sockets.flatMap((socket) => socket.sent).join('\n');
  }

  get last(): FakeSocket {
    return this.sockets[this.sockets.length - 1];
  }
}

export interface Page {
  dom: JSDOM;
  win: Win;
  doc: Document;
  api: PhiReplayApi;
  collector: FakeCollector;
  options(extra?: Partial<StartOptions>): StartOptions;
  close(): void;
}

/** The page made last: `element()` looks ids up in its recorder's pseudonyms. */
let current: Page | undefined;

export function makePage(html: string, behaviour: CollectorBehaviour = {}, url = PAGE_URL): Page {
  const dom = new JSDOM(html, { url, pretendToBeVisual: true });
  const win = dom.window as unknown as Win;
  const collector = new FakeCollector(behaviour);
  (win as unknown as { WebSocket: unknown }).WebSocket = collector.WebSocket;
  // jsdom's style sheets lack the standard ownerNode, which the recorder reads.
  Object.defineProperty(win.CSSStyleSheet.prototype, 'ownerNode', {
    configurable: true,
    get(this: CSSStyleSheet) {
      return [...win.document.querySelectorAll('style,link')].find((el) => (el as HTMLStyleElement).sheet === this) ?? null;
    },
  });
  const api = createApi(() => win);
  current = {
    dom,
    win,
    doc: win.document,
    api,
    collector,
    options: (extra = {}) => ({ endpoint: 'http://127.0.0.1:8700', appKey: 'dev', user: 'nurse.demo', ...extra }),
    close: () => {
      api.stop();
      win.close();
    },
  };
  return current;
}

/** What an element's id became on the wire (its pseudonym), for finding it in a snapshot. */
export function idOf(id: string, page: Page | undefined = current): string | undefined {
  return page?.api.pseudonym(id);
}

/** Let timers, microtasks and fake-socket deliveries run. */
export function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Start recording a page and wait until everything so far is acked. */
export async function record(html: string, extra: Partial<StartOptions> = {}, url = PAGE_URL): Promise<Page> {
  const page = makePage(html, {}, url);
  await page.api.start(page.options(extra));
  await page.api.flush();
  return page;
}

export function fullSnapshot(page: Page): SerializedNode {
  const event = page.collector.events.find((e) => e.type === 2);
  if (!event || event.type !== 2) throw new Error('no full snapshot');
  return event.data.node;
}

/** Depth-first list of serialized nodes. */
export function nodes(node: SerializedNode): SerializedNode[] {
  const out: SerializedNode[] = [node];
  if ('childNodes' in node) node.childNodes.forEach((child) => out.push(...nodes(child)));
  return out;
}

/**
 * The first serialized element with this tag and (optionally) this id on the page: its
 * pseudonym on the wire, looked up in the recorder of the page made last.
 */
export function element(root: SerializedNode, tagName: string, id?: string) {
  const wireId = id === undefined ? undefined : (idOf(id) ?? `(no pseudonym for ${id})`);
  for (const node of nodes(root)) {
    if (node.type === 2 && node.tagName === tagName && (id === undefined || node.attributes.id === wireId)) return node;
  }
  throw new Error(`no <${tagName}${id ? `#${id}` : ''}> in the snapshot`);
}

/** Concatenated text of a serialized subtree. */
export function textOf(node: SerializedNode): string {
  return nodes(node)
    .map((n) => (n.type === 3 ? n.textContent : ''))
    .join('');
}

/** Incremental events of one source. */
export function incremental(page: Page, source: number) {
  return page.collector.events.flatMap((e) => (e.type === 3 && e.data.source === source ? [e.data] : []));
}
