// Building the player's DOM. Text is only ever set as text (never parsed as HTML).

type Attributes = Record<string, string>;

/** `<tag attributes>children</tag>`; strings become text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  children: (Node | string)[] = [],
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const name of Object.keys(attributes)) el.setAttribute(name, attributes[name]);
  el.append(...children);
  return el;
}

/** Replaces what `el` shows with one message (loading, or why there is no replay). */
export function showMessage(el: HTMLElement, text: string, problem: boolean): void {
  el.classList.add('phi-player');
  const message = h('p', { class: 'phi-player__message', 'data-role': 'message' }, [text]);
  message.setAttribute('role', problem ? 'alert' : 'status');
  if (problem) message.classList.add('phi-player__message--problem');
  el.replaceChildren(message);
}
