// URLs as they may leave the page: origin and templated path, no query, no fragment.

/** A `srcset` candidate's descriptor (`2x`, `640w`). */
const SRCSET_DESCRIPTOR = /^\d+(\.\d+)?[wx]$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A path segment that looks like an identifier: digits, uuid, long hex, mixed ids. */
function isIdSegment(segment: string): boolean {
  const stem = segment.replace(/\.[a-z0-9]{1,5}$/i, '');
  return (
    /[^\w.-]/.test(segment) ||
    /^\d+$/.test(stem) ||
    UUID.test(stem) ||
    /^[0-9a-f]{12,}$/i.test(stem) ||
    (/\d/.test(stem) && /^[\w-]{6,}$/.test(stem)) ||
    stem.length >= 24
  );
}

/** Origin + path with identifier-like segments templated to `:id`; no query, no fragment. */
export function sanitizeUrl(raw: string, base: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw.trim(), base);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  const path = url.pathname
    .split('/')
    .map((segment) => {
      if (segment === '' || !isIdSegment(segment)) return segment;
      const ext = /\.[a-z0-9]{1,5}$/i.exec(segment);
      return ':id' + (ext && /^[\w.-]+$/.test(segment) ? ext[0] : '');
    })
    .join('/');
  return url.origin + path;
}

/** Each candidate's URL sanitised; a candidate that cannot be made safe is dropped. */
export function sanitizeSrcset(srcset: string, base: string): string {
  return srcset
    .split(/,\s+|,(?=\S)/)
    .flatMap((candidate) => {
      const [raw, descriptor] = candidate.trim().split(/\s+/);
      const url = raw ? sanitizeUrl(raw, base) : undefined;
      if (!url) return [];
      return [descriptor && SRCSET_DESCRIPTOR.test(descriptor) ? `${url} ${descriptor}` : url];
    })
    .join(', ');
}

