"""Local files written whole or not at all: a reader (or a crash) sees the old bytes or the new."""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

FULL = (errno.ENOSPC, errno.EDQUOT)


def write_fd(fd: int, data: bytes, name: str) -> None:
    """Write all of `data` to the open file `fd` and flush it to disk. A full disk (or quota) is one
    OSError(ENOSPC) saying how far it got: "disk full: wrote N of M bytes"."""
    written = 0
    view = memoryview(data)
    try:
        while written < len(data):
            written += os.write(fd, view[written:])
        os.fsync(fd)  # some file systems (NFS, quotas) report a full disk only here
    except OSError as exc:
        if exc.errno in FULL:
            raise OSError(exc.errno, f"disk full: wrote {written} of {len(data)} bytes", name) from None
        raise


def write_new(path: str | Path, data: bytes) -> None:
    """Create `path` (it must not exist) with mode 0600 from its first byte, holding exactly `data`,
    flushed to disk. The caller gives it its final mode (and removes it if this raises)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_fd(fd, data, str(path))
    finally:
        os.close(fd)


def verify(path: str | Path, data: bytes) -> None:
    """Read `path` back: an OSError(EIO) unless it holds exactly `data` (size and sha256)."""
    with open(path, "rb") as fh:
        found = fh.read()
    if len(found) != len(data) or hashlib.sha256(found).digest() != hashlib.sha256(data).digest():
        raise OSError(errno.EIO, f"the written file holds {len(found)} bytes that differ from the "
                                 f"{len(data)} written", str(path))


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path` (0600 until it is complete and checked), flush it
    to disk, read it back, and rename it over `path` (keeping `path`'s mode; 0644 for a new file).
    On any error `path` is untouched and the temporary file is gone."""
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".hotswap-tmp", dir=path.parent)  # 0600
    try:
        try:
            write_fd(fd, data, tmp)
        finally:
            os.close(fd)
        verify(tmp, data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    sync_directory(path.parent)


def sync_directory(path: str | Path) -> None:
    """Make a rename in directory `path` durable (best effort: not every file system can)."""
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
