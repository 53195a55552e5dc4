// Adds a capturing, passive listener and returns the function that removes it.
export function listen(target: EventTarget, type: string, handler: (event: Event) => void): () => void {
  const options = { capture: true, passive: true };
  target.addEventListener(type, handler, options);
  return () => target.removeEventListener(type, handler, options);
}

/** The id of `node` or of its nearest recorded ancestor (e.g. a blocked placeholder). */
export function nearestId(mirror: { getId(node: Node | null): number | undefined }, node: Node | null): number | undefined {
  for (let n = node; n; n = n.parentNode) {
    const id = mirror.getId(n);
    if (id !== undefined) return id;
  }
  return undefined;
}
