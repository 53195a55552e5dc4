"""CSV cells that a spreadsheet shows as text and never runs as a formula.

The audit CSV carries strings an attacker chose (a failed login's user name). OWASP's
rule for CSV injection (the "CSV Injection" page, and ASVS 1.2.10): quote every field,
double the quotes inside it (RFC 4180), and put a single quote before a field that
starts with `=`, `+`, `-`, `@`, tab, carriage return or NUL. We also look past leading
spaces (some spreadsheets trim them before deciding) and treat the fullwidth forms of
the four signs alike (some CJK locales of Excel and LibreOffice read U+FF1D as `=`).
Control characters, newlines included, are first written as visible escapes
(collector.terminal.safe), so one record is one row in any reader, line-based or not.

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
    """The value as text that cannot start a formula (and holds no control character)."""
    text = str(value)
    starts = text.lstrip(" \u3000")[:1]  # after spaces, ideographic ones too
    return ("'" if starts in FORMULA_STARTS else "") + safe(text)


def rows_to_csv(rows: Iterable[Iterable[object]]) -> str:
    """Every cell through `cell`, every field quoted, CRLF between records."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()
