"""Recorder-supplied strings made safe to show on a terminal or in a one-line field.

Anything a recorder sent (user, instance, environment, session id, page paths) is
hostile: an ESC sequence in a user name can clear the operator's screen, retitle the
window or forge a row; a newline starts a row of its own. `safe()` keeps every other
character and writes each control character as a visible escape, so what the operator
reads is what was stored.

    >>> safe("nurse\\x1b[2Jjones\\n")
    'nurse\\\\x1b[2Jjones\\\\x0a'
"""

from __future__ import annotations

import re

# C0 and C1 controls and DEL; the Unicode line and paragraph separators; the bidirectional
# overrides and isolates, which reorder what is shown ("Trojan Source", CVE-2021-42574).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe(text: str) -> str:
    """`text` with each control, separator or bidi character shown as `\\xNN`/`\\uNNNN`."""
    return _UNSAFE.sub(_escape, text)
