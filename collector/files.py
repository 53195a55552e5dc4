"""Writing files whole or not at all, and making them durable: the keyring and the
embedded store's key files both go through here."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def fsync_path(path: Path) -> None:
    """fsync a file or directory by name (a directory: the entries it holds)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_file(path: Path, data: bytes, *, sync: bool) -> None:
    """Write `data` under `path` whole or not at all: a fresh random temporary beside it,
    created O_EXCL with mode 0600 and never through a symlink (nothing already there, a
    planted link or a world-readable leftover, is ever opened), then renamed over. With
    `sync`, the file and the rename are durable before it returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if sync:
        fsync_path(path.parent)
