"""Writing the keyring: through a temp file this process created itself (O_EXCL, 0600), so
a symlink or a world-readable file planted beside the keyring never receives key
material, and a temp file left by an earlier crash is cleaned up."""

from __future__ import annotations

import stat
from pathlib import Path

from collector.crypto import Keyring


def leftovers(directory: Path) -> list[str]:
    # The lock file stays by design: removing a lock file others may hold is a race.
    kept = {"keyring.json", "keyring.json.lock"}
    return sorted(p.name for p in directory.iterdir() if p.name not in kept)


def test_a_planted_tmp_symlink_is_never_followed(tmp_path: Path) -> None:
    keys_dir = tmp_path / "etc"
    keys_dir.mkdir()
    ring = Keyring.create(keys_dir / "keyring.json")
    # Someone who can write the keyring's directory (not read the keyring) plants a link
    # where earlier versions wrote their temp file, to a file of their own.
    theirs = tmp_path / "attacker-readable"
    theirs.write_text("")
    theirs.chmod(0o644)
    (keys_dir / "keyring.json.tmp").symlink_to(theirs)
    ring.rotate()
    assert theirs.read_text() == ""  # nothing was written through the link
    assert (keys_dir / "keyring.json.tmp").is_symlink()  # and it was left alone
    loaded = Keyring.load(keys_dir / "keyring.json")
    assert loaded.active == ring.active
    assert len(loaded.keys) == 2
    assert stat.S_IMODE((keys_dir / "keyring.json").stat().st_mode) == 0o600


def test_a_leftover_tmp_file_does_not_lend_its_mode_and_is_removed(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    ring = Keyring.create(path)
    stale = tmp_path / "keyring.json.tmp"
    stale.write_text("left by a crash")
    stale.chmod(0o644)
    ring.rotate()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    Keyring.load(path)  # a 0644 keyring would be refused here
    assert leftovers(tmp_path) == []  # the stale file went, and no temp file of ours stays
