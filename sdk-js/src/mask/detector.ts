// The backstop detector: text the application chose to unmask is still masked when it
// looks like PHI. It is a backstop, never the mechanism: capture is default-deny
// whatever the detector says, and a string it misses is only as exposed as the
// application's own unmask rule made it.
//
// Formats (FORMATS below, one small pattern each, compiled once into one RegExp,
// case-insensitive, found anywhere in the text):
//   ssn            123-45-6789, 123 45 6789, 123.45.6789, 123456789
//   email          jane.roe@example.org
//   phoneUs        (555) 010-0004, 555-010-0004, 555.010.0004
//   phoneIntl      +1 555 010 0004, +44 20 7946 0958, +49 30 1234567, any + and 7 digits
//   phoneNational  020 7946 0958, 07700 900123, 030 1234567, 0171 1234567, 030/1234567
//   dateNumeric    09/07/1943, 07/09/1943, 07.09.1943, 7. 9. 1943, 07-09-43
//   dateIso        1943-09-07, 1943/9/7
//   dateDayMonth   7 Sep, 07-Sep-1943, 07.Sep.1943, 07SEP1943, 7th September, 7. März
//   dateMonthDay   Sep 7, September 7, 1943, Sep-07-1943, 1943-Sep-07, Sep 7th
//   mrn            MRN70000606, A-1234567, 1234567: 0-4 letters, optional -, 6+ digits
//   labelledId     MRN: 12345, MRN #12345, PID 1234, Patient ID 42
//   ipv4           192.168.10.20
//
// Not matched, on purpose: a month name or a year alone, or month and year (September,
// Sep 2024, Mai, Mai-Ling); numeric day and month without a year (3/4, 10/10 and 1.2
// are fractions, scores and decimals); seven-digit local numbers without an area code
// (555-0101 reads like the dose range 500-1000 mg); dates spaced like 07 09 1943, the
// rare compact 1943SEP07, clock times (10:40) and IPv6 (its short forms look like times).
// A number next to a month name is a date even when the word means something else:
// "7 Mai-Ling", "up to 5 may join" and "Jan 2" are masked.
//
// Every quantifier has an upper bound, so the work from each starting position is
// bounded and a scan is linear in the text's length (test/detector.test.ts feeds it
// 100k-character runs). A number is guarded by \b before it (so 2024 Sep is not
// "24 Sep") and by (?!\d) after it (a suffix such as 7th or T10:40 may follow).

/**
 * English and German month names, full and abbreviated (a trailing `.` is a separator).
 * ä is written \xe4, or a and a combining diaeresis: the bundle stays ASCII, so a page
 * that loads it in another charset still finds März, in either Unicode form.
 */
const MONTH = String.raw`(jan(uary?)?|j\xe4n(ner)?|feb(ruary?)?|m(ar(ch|z)?|(\xe4|a\u0308)rz?|aerz|rz)|apr(il)?|ma[iy]|jun[ei]?|jul[iy]?|aug(ust)?|sep(t(ember)?)?|o[ck]t(ober)?|nov(ember)?|de[cz](ember)?)`;

/** Not preceded by a digit: a number's start, also when glued to a word (ssn_078-05-1120). */
const START = String.raw`(?:^|\D)`;

const FORMATS = {
  // Three, two and four digits, with a space, dot, hyphen or nothing between them (also
  // spaced out: 078 - 05 - 1120).
  ssn: String.raw`${START}\d{3}( ?[.-] ?| )?\d{2}( ?[.-] ?| )?\d{4}(?!\d)`,
  // The local part is bounded because `[^\s@]+@` rescans a long run without `@` from
  // every position (quadratic: 17 s for 100k characters); matching its last 64
  // characters finds exactly the same strings. Two characters of the top-level domain
  // suffice, in any script (example.рф).
  email: String.raw`[^\s@]{1,64}@[^\s@]{1,255}\.[^\s@.]{2}`,
  // Area code (optionally in parentheses), exchange, line.
  phoneUs: String.raw`(\(\d{3}\) ?|${START}\d{3}( ?[.-] ?| ))\d{3}( ?[.-] ?| )\d{4}(?!\d)`,
  // + and at least 7 digits, each after at most two of space . / ( ) - (as in
  // "+44 (0)20 7946"); "+1,234,567 visits" has commas and stays readable.
  phoneIntl: String.raw`\+([ ./()-]{0,2}\d){7}`,
  // A trunk 0 and at least 7 more digits in the same groups (UK, Germany, most of Europe).
  phoneNational: String.raw`${START}0\d([ ./()-]{0,2}\d){6}`,
  // Day and month in either order (US or European), then a 4- or 2-digit year. A slash
  // or dot may be spaced out (07 / 09 / 1943); a spaced hyphen is a range (10 - 20 - 30).
  dateNumeric: String.raw`${START}\d{1,2}( ?[./] ?|-)\d{1,2}( ?[./] ?|-)(\d{4}|\d{2})(?!\d)`,
  // Year, month, day; a time may follow (1943-09-07T10:40).
  dateIso: String.raw`${START}\d{4}( ?[/.-] ?)\d{1,2}( ?[/.-] ?)\d{1,2}(?!\d)`,
  // A day before a month name, year optional (every date element but the year
  // identifies). No separator is the compact medical form 07SEP1943. The month must end
  // its word, so "2 Junior" and "3 Marches" stay readable.
  dateDayMonth: String.raw`${START}\d{1,2}(st|nd|rd|th)?( of)?[\s./-]{0,3}${MONTH}(?![a-z])`,
  // A month name before a day, year optional; also finds 1943-Sep-07. The day must not
  // go on into a year, so "Sep 2024" stays readable.
  dateMonthDay: String.raw`\b${MONTH}[\s./-]{1,3}\d{1,2}(?!\d)`,
  // Up to four letters, an optional hyphen and six digits start an identifier, whatever
  // follows them (a run of digits is one too).
  mrn: String.raw`(?:^|[^a-z\d])[a-z]{0,4}-?\d{6}`,
  // A label that names a patient or case number, then any number.
  labelledId: String.raw`\b(mrn?|mr#|pid|patient(en)?[ -]?(id|nr|nummer|no)|pat\.?-?nr|fall(nummer|-?nr)|case ?(no|number)|chart ?#)[\s:#.-]{0,3}\d`,
  // Four numbers of up to three digits; a version such as 2.1.0 has three.
  ipv4: String.raw`${START}\d{1,3}(\.\d{1,3}){3}(?!\d)`,
};

/** The names of the formats the detector knows, for tests and reports. */
export const PHI_FORMATS: readonly string[] = /* @__PURE__ */ Object.keys(FORMATS);

// One alternation, so a text is scanned once for every format; `i` for Sep, SEP and sep.
const DETECTOR = new RegExp(Object.values(FORMATS).join('|'), 'i');

/** Anything beyond printable ASCII: only such text needs the normalisation below. */
const UNUSUAL = /[^\x20-\x7e]/;
/** Invisible and formatting characters (soft hyphen, zero-width and bidi controls, variation selectors). */
const INVISIBLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0f\ufeff]/g;
/** Dashes and minus signs, which read as a hyphen. */
const DASHES = /[\u2010-\u2015\u2212\u2043\ufe58\ufe63]/g;
/** Digits of every script, which the shapes above treat alike. */
const DIGITS = /\p{Nd}/gu;
/** Overrides that make the text drawn in the opposite order to its characters. */
const OVERRIDE = /[\u202d\u202e]/;

/**
 * True when `text` contains anything shaped like PHI: the whole string is then masked.
 * `looksLikePhi('Born 07-Sep-1943 in Ulm')` is true, `looksLikePhi('Sep 2024')` false.
 * The shapes are looked for in what a reader sees: full-width and other scripts' digits
 * count as digits, dashes as hyphens, any space as a space; invisible characters are
 * ignored; text drawn right to left by an override is read both ways.
 */
export function looksLikePhi(text: string): boolean {
  if (!UNUSUAL.test(text)) return DETECTOR.test(text);
  const seen = text
    .normalize('NFKC')
    .replace(INVISIBLE, '')
    .replace(DASHES, '-')
    .replace(/\s/g, ' ')
    .replace(DIGITS, (d) => (d < '0' || d > '9' ? '0' : d));
  return DETECTOR.test(seen) || (OVERRIDE.test(text) && DETECTOR.test([...seen].reverse().join('')));
}
