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


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def safe(text: str) -> str:
    """`text` with every character that is not printable shown as `\\xNN`/`\\uNNNN`.

    Default-deny, by Python's `str.isprintable`: controls (C0, C1, DEL), format
    characters (bidi marks, overrides and isolates: "Trojan Source", CVE-2021-42574;
    zero-width characters; BOM), line and paragraph separators, spaces other than the
    ASCII one, surrogates, private-use and unassigned code points all show as escapes."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
