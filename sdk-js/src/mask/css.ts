// CSS as it may leave the page: needed to replay the layout, stripped of what could
// carry data.

import { clip } from './text';
import { sanitizeUrl } from './url';

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
export function sanitizeCss(css: string, base: string): string {
  const url = (raw: string): string => `url("${sanitizeUrl(raw, base) ?? ''}")`;
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
export function sheetCss(sheet: CSSStyleSheet | null, origin: string, base: string): string | undefined {
  if (!sheet) return undefined;
  const href = sheet.href;
  if (href && sanitizeUrl(href, base)?.indexOf(origin + '/') !== 0) return undefined;
  let rules: CSSRuleList;
  try {
    rules = sheet.cssRules;
  } catch {
    return undefined;
  }
  let css = '';
  for (let i = 0; i < rules.length; i++) css += rules[i].cssText + '\n';
  return css ? clip(sanitizeCss(css, href ?? base)) : undefined;
}

