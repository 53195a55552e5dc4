// Node ids for one full snapshot and the mutations that follow it. A new full snapshot
// gets a new Mirror; ids keep counting up so that no id is ever reused in a recording.

export class Mirror {
  readonly #ids = new WeakMap<Node, number>();
  /** Nodes whose children are never recorded (blocked placeholders, textarea, template). */
  readonly #opaque = new WeakSet<Node>();
  /** Elements recorded as a blocked placeholder. */
  readonly #blocked = new WeakSet<Node>();
  /** Last masked text sent per text node, so unchanged masks are not sent again. */
  readonly #texts = new WeakMap<Node, string>();

  #next: number;

  constructor(next = 1) {
    this.#next = next;
  }

  /** The Mirror for the next full snapshot: ids continue, nothing else carries over. */
  successor(): Mirror {
    return new Mirror(this.#next);
  }

  add(node: Node): number {
    const id = this.#next++;
    this.#ids.set(node, id);
    return id;
  }

  getId(node: Node | null): number | undefined {
    return node ? this.#ids.get(node) : undefined;
  }

  /** Drop the ids of a node and its current subtree (removed, or about to be re-serialised). */
  forget(node: Node): void {
    this.#ids.delete(node);
    for (let child = node.firstChild; child; child = child.nextSibling) this.forget(child);
  }

  getText(node: Node): string | undefined {
    return this.#texts.get(node);
  }

  setText(node: Node, text: string): void {
    this.#texts.set(node, text);
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
