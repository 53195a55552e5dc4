// Node ids for one full snapshot and the mutations that follow it. A new full snapshot
// gets a new Mirror; ids keep counting up so that no id is ever reused in a recording.
//
// Ids and the last text sent are kept on the nodes themselves, under symbols private to
// one recorder: a property write is several times cheaper than a WeakMap entry
// (measured in Chromium: the WeakMap was a tenth of the recorder's time in a mixed
// mutation burst) and costs the garbage collector nothing extra. What the page could
// read there (numbers, masked text) is what leaves anyway. An id from an earlier
// snapshot is below the current mirror's first id, so it reads as unknown.

/** A node as the mirror sees it: its own properties under the recorder's symbols. */
type Tagged = Node & Record<symbol, number | string | undefined>;

/** Where one recorder keeps a node's id, its last text sent, and which mirror sent that. */
interface Keys {
  id: symbol;
  text: symbol;
  owner: symbol;
}

export class Mirror {
  /** Nodes whose children are never recorded (blocked placeholders, textarea, template). */
  readonly #opaque = new WeakSet<Node>();
  /** Elements recorded as a blocked placeholder. */
  readonly #blocked = new WeakSet<Node>();
  /** The lowest id this mirror gave. */
  readonly #first: number;
  readonly #keys: Keys;
  #next: number;

  constructor(next = 1, keys: Keys = { id: Symbol('phi-replay id'), text: Symbol('phi-replay text'), owner: Symbol('phi-replay text owner') }) {
    this.#next = this.#first = next;
    this.#keys = keys;
  }

  /** The Mirror for the next full snapshot: ids continue, nothing else carries over. */
  successor(): Mirror {
    return new Mirror(this.#next, this.#keys);
  }

  add(node: Node): number {
    const id = this.#next++;
    (node as Tagged)[this.#keys.id] = id;
    return id;
  }

  getId(node: Node | null): number | undefined {
    if (!node) return undefined;
    const id = (node as Tagged)[this.#keys.id];
    return typeof id === 'number' && id >= this.#first ? id : undefined;
  }

  /** Drop the ids of a node and its current subtree (removed, or about to be re-serialised). */
  forget(node: Node): void {
    (node as Tagged)[this.#keys.id] = undefined;
    for (let child = node.firstChild; child; child = child.nextSibling) this.forget(child);
  }

  /** The last text this mirror sent for a text node (one an earlier snapshot sent does not count). */
  getText(node: Node): string | undefined {
    const tagged = node as Tagged;
    return tagged[this.#keys.owner] === this.#first ? (tagged[this.#keys.text] as string) : undefined;
  }

  setText(node: Node, text: string): void {
    const tagged = node as Tagged;
    tagged[this.#keys.text] = text;
    tagged[this.#keys.owner] = this.#first;
  }

  markOpaque(node: Node, blocked: boolean): void {
    this.#opaque.add(node);
    if (blocked) this.#blocked.add(node);
  }

  isOpaque(node: Node): boolean {
    return this.#opaque.has(node);
  }

  wasBlocked(node: Node): boolean {
    return this.#blocked.has(node);
  }
}
