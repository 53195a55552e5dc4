// The backstop detector: text the application chose to unmask is still masked when it
// looks like PHI. It is a backstop, never the mechanism: capture is default-deny
// whatever the detector says, and a string it misses is only as exposed as the
// application's own unmask rule made it.
//
// Formats (FORMATS below, one small pattern each, compiled once into one RegExp,
// case-insensitive, found anywhere in the text):
//   ssn            123-45-6789
//   email          jane.roe@example.org
//   phone          555-010-0004, +44 20 7946 0958
//   dateNumeric    09/07/1943, 07.09.1943, 1943-09-07
//   dateDayMonth   3 March 1980, 3rd Mar. 1980
//   dateMonthDay   March 3, 1980
//   mrn            MRN70000606, A-1234567: 0-4 letters, optional -, 6+ digits

/** English month names; the patterns take any letters after the first three. */
const MONTH = String.raw`(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)`;

const FORMATS = {
  ssn: String.raw`\b\d{3}-\d{2}-\d{4}\b`,
  // The local part is bounded because `[^\s@]+@` rescans a long run without `@` from
  // every position (quadratic); matching the last 64 characters of it finds exactly the
  // same strings.
  email: String.raw`[^\s@]{1,64}@[^\s@]+\.[a-z]{2,}`,
  // Nine or more digits and separators, starting and ending with a digit.
  phone: String.raw`\+?\d[\d ().-]{7,}\d`,
  dateNumeric: String.raw`\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b`,
  dateDayMonth: String.raw`\b\d{1,2}(st|nd|rd|th)? ${MONTH}[a-z]*\.?,? \d{2,4}\b`,
  dateMonthDay: String.raw`\b${MONTH}[a-z]*\.? \d{1,2}(st|nd|rd|th)?,? \d{4}\b`,
  mrn: String.raw`\b[a-z]{0,4}-?\d{6,}\b`,
};

/** The names of the formats the detector knows, for tests and reports. */
export const PHI_FORMATS: readonly string[] = /* @__PURE__ */ Object.keys(FORMATS);

// One alternation, so a text is scanned once for every format; `i` for Sep, SEP and sep.
const DETECTOR = new RegExp(Object.values(FORMATS).join('|'), 'i');

/**
 * True when `text` contains anything shaped like PHI: the whole string is then masked.
 * `looksLikePhi('Born 3 March 1980 in Ulm')` is true, `looksLikePhi('March 1980')` false.
 */
export function looksLikePhi(text: string): boolean {
  return DETECTOR.test(text);
}
