"""What the operator's terminal shows of recorder-supplied strings: every control
character as a visible escape, never as a command to the terminal or a row of its own."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from collector.crypto import DataKey, Keyring
from collector.embedded import EmbeddedStore
from collector.records import seal_batch
from collector.store import SessionRecord
from collector.terminal import safe
from tests.factories import sealed_session

# A synthetic user name as a hostile page would send it in its hello (any string of up
# to 200 characters is allowed there): clear the screen, retitle the window, a C1 CSI,
# a forged second row, a bidi override that reverses what follows.
HOSTILE_USER = (
    "canary.user\x1b[2J\x1b]0;owned\x07\x9b31m\nsess-forged-row  trials  admin\u202etxt.exe"
)


def store_session(data_dir: Path, keyring: Keyring) -> None:
    async def run() -> None:
        store = EmbeddedStore(data_dir)
        try:
            sid = "sess-hostile-0001"
            dek = DataKey.generate()
            record = SessionRecord(
                sid, "trials", HOSTILE_USER, "prod", "tab-00000001", 0.0,
                keyring.wrap(dek, "trials", sid),
            )  # fmt: skip
            await store.open_session(record)
        finally:
            await store.aclose()

    asyncio.run(run())


def sessions(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", "sessions", "--data-dir", str(data_dir), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_sessions_shows_control_characters_as_escapes(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    store_session(data_dir, Keyring.create(tmp_path / "keyring.json"))
    result = sessions(data_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # the header and the one session: no forged row
    for bad in ("\x1b", "\x07", "\x9b", "\u202e", "\r"):
        assert bad not in result.stdout
    row = lines[1]
    assert "canary.user\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\x0asess-forged-row" in row
    assert "\\u202etxt.exe" in row


def test_sessions_json_keeps_the_value_and_escapes_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    store_session(data_dir, Keyring.create(tmp_path / "keyring.json"))
    result = sessions(data_dir, "--json")
    assert "\x1b" not in result.stdout
    assert "\x9b" not in result.stdout
    [line] = result.stdout.splitlines()
    assert json.loads(line)["user"] == HOSTILE_USER  # lossless for tools


def test_safe_keeps_printable_text_and_escapes_the_rest() -> None:
    assert safe("nurse.jones@clinic.test Ünïcødé 看护") == "nurse.jones@clinic.test Ünïcødé 看护"
    assert safe("a\tb\x00c\x7fd\u2028e\u2066f") == "a\\x09b\\x00c\\x7fd\\u2028e\\u2066f"


def test_export_writes_recorder_text_as_json_escapes_not_terminal_commands(
    tmp_path: Path,
) -> None:
    """`export` usually lands on a terminal first: a custom event's text carrying ESC, C1
    and bidi characters comes out as JSON's \\u escapes, and reads back unchanged."""
    keyring = Keyring.create(tmp_path / "keyring.json")
    data_dir = tmp_path / "var"
    text = "CANARY-TTY\x1b]0;owned\x07\x9b2J\u202eexe"
    event = {"type": 5, "timestamp": 1_700_000_000_000, "data": {"tag": "t", "payload": text}}

    async def run() -> None:
        store = EmbeddedStore(data_dir)
        try:
            dek = DataKey.generate()
            session = await store.open_session(sealed_session(keyring, dek, "sess-tty00001"))
            assert await store.append("sess-tty00001", seal_batch(session, dek, 1, [event]))
        finally:
            await store.aclose()

    asyncio.run(run())
    result = subprocess.run(
        [sys.executable, "-m", "collector", "export", "--data-dir", str(data_dir),
         "--keyring", str(keyring.path), "--all"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in result.stdout
    [line] = result.stdout.splitlines()
    assert json.loads(line)["event"]["data"]["payload"] == text


def test_invisible_characters_are_escaped_by_default_not_by_a_list() -> None:
    # Bidi marks, the Arabic letter mark, zero-width space and joiner, BOM, a tag
    # character, non-ASCII spaces: none is a control, and none may reach a terminal raw.
    for char in ("\u200e", "\u200f", "\u061c", "\u200b", "\u200d", "\ufeff", "\U000e0041"):
        assert char not in safe(f"a{char}b")
    assert safe("a\u00a0b\u2003c") == "a\\xa0b\\u2003c"


def test_no_invisible_character_can_hide_a_formula_sign_from_the_csv_rule() -> None:
    from collector.spreadsheet import FORMULA_STARTS, cell

    for lead in ("", " ", "  ", "\u00a0", "\u2003", "\u3000", "\u200b", "\ufeff", "\u2060"):
        for sign in "=+-@\uff1d\uff0b\uff0d\uff20":
            shown = cell(f"{lead}{sign}HYPERLINK(1)")
            first = shown.lstrip(" ")[:1]
            assert shown.startswith("'") or first not in FORMULA_STARTS, (lead, sign, shown)
            assert shown.lstrip("' ")[:1] not in ("\u00a0", "\u200b", "\ufeff")
