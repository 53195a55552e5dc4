// CSS as it may leave the page: needed to replay the layout, stripped of what could
// carry data.

import { clip } from './text';

/** What the CSS policy asks of the recorder: URLs and pseudonyms (see policy.ts). */
export interface CssHooks {
  /** A URL (unescaped) as it may leave, or undefined to drop it (`url("")`); `#frag` too. */
  url(raw: string): string | undefined;
  /** The per-session pseudonym of an identifier the page chose (class, id, grid area). */
  ident(token: string): string;
  /** An attribute selector's value as it may leave; undefined: `""`. */
  attribute(name: string, op: string, value: string): string | undefined;
}

function readString(css: string, start: number): [raw: string, next: number] {
  const quote = css[start];
  let i = start + 1;
  while (i < css.length) {
    const c = css[i];
    if (c === '\\') i += 2;
    else if (c === quote) return [css.slice(start + 1, i), i + 1];
    else if (c === '\n') break;
    else i++;
  }
  return [css.slice(start + 1, Math.min(i, css.length)), Math.min(i, css.length)];
}

/**
 * Keep CSS (it is needed to replay the layout) but drop what could carry data:
 * comments, strings in `content:` and custom properties, and URL queries/fragments.
 */
function sanitizeCss(css: string, hooks: CssHooks): string {
  const url = (raw: string): string => `url("${hooks.url(raw) ?? ''}")`;
  // Characters where something may need rewriting; everything between is copied as is.
  const special = /[/"'uU;{}]/g;
  let out = '';
  // The current declaration or prelude so far, to know what a string belongs to.
  let decl = '';
  const emit = (text: string): void => {
    out += text;
    decl += text;
  };
  let i = 0;
  while (i < css.length) {
    special.lastIndex = i;
    const at = special.exec(css)?.index ?? css.length;
    emit(css.slice(i, at));
    i = at;
    if (i >= css.length) break;
    const c = css[i];
    if (c === '/' && css[i + 1] === '*') {
      const end = css.indexOf('*/', i + 2);
      i = end < 0 ? css.length : end + 2;
    } else if (c === '"' || c === "'") {
      const [raw, next] = readString(css, i);
      if (/^\s*@import\b/i.test(decl) || /image-set\([^)]*$/i.test(decl)) emit(url(raw));
      else if (/^\s*(content|--[\w-]*)\s*:/i.test(decl)) emit('""');
      else emit(css.slice(i, next));
      i = next;
    } else if (/^url\(/i.test(css.slice(i, i + 4)) && !/[\w-]/.test(css[i - 1] ?? '')) {
      let j = i + 4;
      while (/\s/.test(css[j] ?? '')) j++;
      let raw: string;
      if (css[j] === '"' || css[j] === "'") {
        [raw, j] = readString(css, j);
      } else {
        const close = css.indexOf(')', j);
        const end = close < 0 ? css.length : close;
        raw = css.slice(j, end);
        j = end;
      }
      while (/\s/.test(css[j] ?? '')) j++;
      if (css[j] === ')') j++;
      emit(url(raw));
      i = j;
    } else {
      out += c;
      decl = c === ';' || c === '{' || c === '}' ? '' : decl + c;
      i++;
    }
  }
  return out;
}

/**
 * The rules of a same-origin stylesheet as sanitised CSS, or `undefined` when they
 * cannot be read (cross-origin, not loaded) or there are none.
 */
export function sheetCss(
  sheet: CSSStyleSheet | null,
  origin: string,
  base: string,
  hooksFor: (base: string) => CssHooks,
): string | undefined {
  if (!sheet) return undefined;
  const href = sheet.href;
  if (href && !sameOrigin(href, base, origin)) return undefined;
  let rules: CSSRuleList;
  try {
    rules = sheet.cssRules;
  } catch {
    return undefined;
  }
  let css = '';
  for (let i = 0; i < rules.length; i++) css += rules[i].cssText + '\n';
  return css ? clip(sanitizeStylesheet(css, hooksFor(href ?? base))) : undefined;
}

function sameOrigin(href: string, base: string, origin: string): boolean {
  try {
    return new URL(href, base).origin === origin;
  } catch {
    return false;
  }
}

/** A stylesheet's text (a <style>'s text, CSSOM cssText). */
export const sanitizeStylesheet = sanitizeCss;
/** A style="" attribute: declarations. */
export const sanitizeDeclarations = sanitizeCss;
/** One value: SVG fill="url(#g)", a media="" query list. */
export const sanitizeValue = sanitizeCss;

