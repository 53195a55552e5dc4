// The backstop detector: text the application chose to unmask is still masked when it
// looks like PHI (SSN, e-mail, phone numbers, dates, MRN-like ids). It is a backstop,
// never the mechanism: capture is default-deny whatever the detector says.

const DETECTOR = new RegExp(
  [
    /\b\d{3}-\d{2}-\d{4}\b/, // SSN
    // e-mail; the local part is bounded because `[^\s@]+@` rescans a long run without
    // `@` from every position (quadratic); matching the last 64 characters of it finds
    // exactly the same strings.
    /[^\s@]{1,64}@[^\s@]+\.[a-z]{2,}/,
    /\+?\d[\d ().-]{7,}\d/, // phone
    /\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b/, // numeric date
    /\b\d{1,2}(st|nd|rd|th)? (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?,? \d{2,4}\b/, // 3 March 1980
    /\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(st|nd|rd|th)?,? \d{4}\b/, // March 3, 1980
    /\b[a-z]{0,4}-?\d{6,}\b/, // MRN-like id
  ]
    .map((re) => re.source)
    .join('|'),
  'i',
);

/** True when `text` contains anything shaped like PHI: the whole string is then masked. */
export function looksLikePhi(text: string): boolean {
  return DETECTOR.test(text);
}
