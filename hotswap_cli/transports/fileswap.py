"""The file swap both file-based transports (local and ssh) perform, written once: read the live file
(kept for revert) -> stage the new bytes next to it -> rename the staged file into place, keeping the
previous one as `<path>.hotswap-prev` -> on revert put back the exact previous bytes (or remove the
file if there was none). An instance holds either the old bytes or the new ones, never a part.
What differs between this machine and a remote one is only the FileSystem underneath."""

from __future__ import annotations

import posixpath
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hotswap_cli.errors import TransportError

PREV_SUFFIX = ".hotswap-prev"


@dataclass(frozen=True)
class FileMeta:
    """What the live file's replacement inherits: permission bits and owner."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None


class FileSystem(Protocol):
    """The file operations a swap needs, on this machine (os) or on a host (SFTP). Failures raise
    the library's own errors; `guard(step)` turns them into one TransportError line for `step`."""

    def guard(self, step: str) -> AbstractContextManager[None]: ...

    def read(self, path: str) -> tuple[bytes, FileMeta] | None:
        """The file's bytes and metadata; None when it does not exist."""
        ...

    def is_directory(self, path: str) -> bool: ...

    def write_new(self, path: str, data: bytes) -> None:
        """Create `path` (it must not exist) holding exactly `data`, flushed to disk."""
        ...

    def set_meta(self, path: str, mode: int, uid: int | None, gid: int | None) -> None:
        """Set the mode; give the file to uid:gid where allowed (only root may give files away)."""
        ...

    def link(self, src: str, dst: str) -> None:
        """A hard link (OSError where links are not possible)."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace `dst` with `src`."""
        ...

    def remove(self, path: str) -> None:
        """Remove `path`; a missing file is not an error."""
        ...

    def sync_directory(self, path: str) -> None:
        """Make a rename in `path` durable (best effort)."""
        ...


class FileSwap:
    """One live file's swap. Steps run in order: read_current, stage, swap; discard and revert undo."""

    def __init__(self, instance: str, fs: FileSystem, path: str, *, mode: int | None = None,
                 where: str = "") -> None:
        self.instance = instance
        self.fs = fs
        self.path = path
        self.directory = posixpath.dirname(path) or "."
        self.prev_path = path + PREV_SUFFIX
        self.mode = mode
        self.where = where  # " on <host>" in messages about a remote file
        self.previous: bytes | None = None
        self.meta: FileMeta | None = None
        self.staged: str | None = None
        self.swapped = False
        self._read = False

    def read_current(self) -> bytes | None:
        with self.fs.guard("read current config"):
            found = self.fs.read(self.path)
        if found is None:
            self.previous, self.meta = None, None
            self._require_directory()
        else:
            self.previous, self.meta = found
        self._read = True
        return self.previous

    def stage(self, data: bytes) -> str:
        """Write `data` to a new file next to the live one, with the live file's mode and owner."""
        if not self._read:
            self.read_current()
        self.discard()
        staged = posixpath.join(self.directory, f".{posixpath.basename(self.path)}.hotswap-{secrets.token_hex(6)}.tmp")
        with self.fs.guard(f"stage into {self.directory}"):
            try:
                self.staged = staged
                self.fs.write_new(staged, data)
            except FileNotFoundError:
                self.staged = None
                self._require_directory()
                raise
            meta = self.meta or FileMeta()
            self.fs.set_meta(staged, self.mode if self.mode is not None else
                             (meta.mode if meta.mode is not None else 0o644), meta.uid, meta.gid)
        return staged

    def swap(self) -> None:
        staged = self.require_staged("swap")
        with self.fs.guard("swap"):
            if self.previous is not None:
                self._keep_previous()
            self.fs.rename(staged, self.path)
            self.fs.sync_directory(self.directory)
        self.staged = None
        self.swapped = True

    def discard(self) -> None:
        """Remove a staged file that was never swapped in."""
        if self.staged is None:
            return
        with self.fs.guard("discard staged config"):
            self.fs.remove(self.staged)
        self.staged = None

    def revert(self) -> bool:
        """Put back exactly what `read_current` saw; True when the live file was changed back."""
        self.discard()
        if not self.swapped:
            return False
        with self.fs.guard("revert"):
            if self.previous is None:
                self.fs.remove(self.path)
            elif self._kept_copy_intact():
                self.fs.rename(self.prev_path, self.path)
            else:  # the kept copy is gone or changed: write the remembered bytes, atomically
                staged = self.stage(self.previous)
                self.fs.rename(staged, self.path)
                self.staged = None
            self.fs.sync_directory(self.directory)
        self.swapped = False
        return True

    def require_staged(self, step: str) -> str:
        if self.staged is None:
            raise TransportError(self.instance, f"{step}: nothing staged")
        return self.staged

    def _keep_previous(self) -> None:
        """A hard link to the live file (instant, no copy); the remembered bytes where links fail."""
        self.fs.remove(self.prev_path)
        try:
            self.fs.link(self.path, self.prev_path)
        except OSError:
            self.fs.write_new(self.prev_path, self.previous or b"")

    def _kept_copy_intact(self) -> bool:
        try:
            found = self.fs.read(self.prev_path)
        except OSError:
            return False
        return found is not None and found[0] == self.previous

    def _require_directory(self) -> None:
        with self.fs.guard("read current config"):
            present = self.fs.is_directory(self.directory)
        if not present:
            raise TransportError(self.instance, f"{'remote ' if self.where else ''}directory {self.directory} "
                                 f"does not exist{self.where}", hint="create it or fix the target's path")

