"""CSV cells that a spreadsheet shows as text and never runs as a formula.

The audit CSV carries strings an attacker chose (a failed login's user name). OWASP's
rule for CSV injection (the "CSV Injection" page, and ASVS 1.2.10): quote every field,
double the quotes inside it (RFC 4180), and put a single quote before a field that
starts with `=`, `+`, `-`, `@`, tab, carriage return or NUL. Every character that is not
printable (controls and newlines, zero-width and bidi characters, non-ASCII spaces) is
first written as a visible escape (collector.terminal.safe), so one record is one row in
any reader and nothing invisible precedes a sign; we then look past leading ASCII spaces
(some spreadsheets trim them before deciding) and treat the fullwidth forms of the four
signs alike (some CJK locales of Excel and LibreOffice read U+FF1D as `=`).

    >>> cell("=HYPERLINK(\\"http://x.test\\")")
    '\\'=HYPERLINK("http://x.test")'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from collector.terminal import safe

# What makes a spreadsheet read a cell as a formula, when it comes first.
FORMULA_STARTS = frozenset("=+-@\t\r\x00\uff1d\uff0b\uff0d\uff20")


def cell(value: object) -> str:
    """The value as text that cannot start a formula (and holds no control character).
    Decided on the text as shown: every invisible or spacing character but the ASCII
    space is an escape by then (`safe`), so only ASCII spaces can hide a leading sign."""
    shown = safe(str(value))
    return ("'" if shown.lstrip(" ")[:1] in FORMULA_STARTS else "") + shown


def rows_to_csv(rows: Iterable[Iterable[object]]) -> str:
    """Every cell through `cell`, every field quoted, CRLF between records."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
