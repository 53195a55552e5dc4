// Adds a capturing, passive listener and returns the function that removes it.
export function listen(target: EventTarget, type: string, handler: (event: Event) => void): () => void {
  const options = { capture: true, passive: true };
  target.addEventListener(type, handler, options);
  return () => target.removeEventListener(type, handler, options);
}

/** The innermost target, also inside a shadow root (event.target is retargeted to the host). */
export function targetOf(event: Event): Node | null {
  return (event.composedPath?.()[0] ?? event.target) as Node | null;
}

/** The id of `node` or of its nearest recorded ancestor (e.g. a blocked placeholder). */
export function nearestId(mirror: { getId(node: Node | null): number | undefined }, node: Node | null): number | undefined {
  for (let n = node; n; n = n.parentNode) {
    const id = mirror.getId(n);
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * Wraps `target[key]` (a method) so that `after` runs after each call (and `before`, if
 * given, before it), and returns the function that puts the original back. Neither
 * hook ever throws into the page.
 */
export function wrapMethod<T extends object>(
  target: T,
  key: string,
  after: (self: unknown, args: unknown[], result: unknown) => void,
  before?: (self: unknown, args: unknown[]) => void,
): () => void {
  const holder = target as Record<string, unknown>;
  const original = holder[key];
  if (typeof original !== 'function') return () => undefined;
  const own = Object.prototype.hasOwnProperty.call(target, key);
  const wrapped = function (this: unknown, ...args: unknown[]): unknown {
    try {
      before?.(this, args);
    } catch {
      // Recording must never break the page.
    }
    const result = (original as (...a: unknown[]) => unknown).apply(this, args);
    try {
      after(this, args, result);
    } catch {
      // Recording must never break the page.
    }
    return result;
  };
  holder[key] = wrapped;
  return () => {
    if (holder[key] !== wrapped) return; // Someone wrapped after us: leave their wrapper alone.
    if (own) holder[key] = original;
    else delete holder[key];
  };
}

/**
 * Hooks the setter of an accessor property on a prototype (e.g. HTMLInputElement
 * `value`), so values set by script without events are seen. Returns the restore.
 */
export function hookSetter(
  proto: object,
  key: string,
  after: (self: unknown) => void,
  before?: (self: unknown) => void,
): () => void {
  const original = Object.getOwnPropertyDescriptor(proto, key);
  if (!original?.set || !original.configurable) return () => undefined;
  const set = original.set;
  const hooked: PropertyDescriptor = {
    ...original,
    set(this: unknown, value: unknown) {
      try {
        before?.(this);
      } catch {
        // Recording must never break the page.
      }
      set.call(this, value);
      try {
        after(this);
      } catch {
        // Recording must never break the page.
      }
    },
  };
  Object.defineProperty(proto, key, hooked);
  return () => {
    if (Object.getOwnPropertyDescriptor(proto, key)?.set === hooked.set) Object.defineProperty(proto, key, original);
  };
}
