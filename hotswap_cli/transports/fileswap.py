"""The file swap both file-based transports (local and ssh) perform, written once: read the live file
(kept for revert) -> stage the new bytes next to it -> rename the staged file into place, keeping the
previous one as `<path>.hotswap-prev` -> on revert put back the exact previous bytes (or remove the
file if there was none). An instance holds either the old bytes or the new ones, never a part.
What differs between this machine and a remote one is only the FileSystem underneath.

Every file this module writes is all or nothing: created 0600 (no byte of a config is ever readable by
others on the way), flushed to disk, read back and compared (size and sha256) from the side that holds
it, and given its final mode just before the rename that makes it count. A write that fails removes its
temporary file and leaves the live file and the kept copy as they were."""

from __future__ import annotations

import hashlib
import posixpath
import re
import secrets
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from hotswap_cli.errors import TransportError
from hotswap_cli.io.steps import step_error

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

    def list_names(self, directory: str) -> list[str]:
        """The names of the entries in `directory`."""
        ...

    def write_new(self, path: str, data: bytes) -> None:
        """Create `path` (it must not exist) with mode 0600 from its first byte, holding exactly `data`,
        flushed to disk; raise on any write that did not complete (a full disk says how far it got)."""
        ...

    def chown(self, path: str, uid: int, gid: int) -> None:
        """Give the file to uid:gid where allowed (only root may give files away)."""
        ...

    def chmod(self, path: str, mode: int) -> None: ...

    def link(self, src: str, dst: str) -> None:
        """A hard link (OSError where links are not possible)."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace `dst` with `src`."""
        ...

    def remove(self, path: str) -> None:
        """Remove `path`; a missing file is not an error."""
        ...

    def abandon(self, path: str) -> None:
        """Remove a temporary file after a failed step: best effort, never raises, never reconnects."""
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
        self._leftovers = False  # a failed write may have left its temp file (the connection died)
        name = posixpath.basename(path)
        self._temp_prefix = f".{name}.hotswap-"
        self._temp_pattern = re.compile(re.escape(self._temp_prefix) + r"[0-9a-f]{12}\.tmp")

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
        """Write `data` to a new file next to the live one (0600, the live file's owner), checked."""
        if not self._read:
            self.read_current()
        self.discard()
        step = f"stage into {self.directory}"
        with self.fs.guard(step):
            try:
                self._remove_stale()
                self.staged = self._write_checked(data, step)
            except FileNotFoundError:
                self._require_directory()
                raise
        return self.staged

    def swap(self) -> None:
        staged = self.require_staged("swap")
        with self.fs.guard("swap"):
            if self.previous is not None:
                with self.fs.guard(f"swap: keep the previous config as {self.prev_path}"):
                    self._keep_previous()
            self.fs.chmod(staged, self.mode if self.mode is not None else self._live_mode(0o644))
            self.fs.rename(staged, self.path)
            self.fs.sync_directory(self.directory)
        self.staged = None
        self.swapped = True

    def discard(self) -> None:
        """Remove a staged file that was never swapped in, and any temp file a failed write left
        (best effort: it never touched the live file, and the next stage removes it anyway)."""
        if self.staged is not None:
            with self.fs.guard("discard staged config"):
                self.fs.remove(self.staged)
            self.staged = None
        if self._leftovers:
            try:
                with self.fs.guard("remove a partly written temp file"):
                    self._remove_stale()
                self._leftovers = False
            except TransportError:
                pass

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
                restored = self._write_checked(self.previous, "revert")
                self.fs.chmod(restored, self._live_mode(0o644))
                self.fs.rename(restored, self.path)
            self.fs.sync_directory(self.directory)
        self.swapped = False
        return True

    def require_staged(self, step: str) -> str:
        if self.staged is None:
            raise step_error(self.instance, step, "nothing staged")
        return self.staged

    def _write_checked(self, data: bytes, step: str) -> str:
        """A new temporary file beside the live one holding `data`: 0600 from its first byte, flushed,
        read back and compared, owned like the live file. Removed again if any of that fails."""
        path = posixpath.join(self.directory, f"{self._temp_prefix}{secrets.token_hex(6)}.tmp")
        try:
            self.fs.write_new(path, data)
            self._verify(path, data, step)
            if self.meta is not None and self.meta.uid is not None and self.meta.gid is not None:
                self.fs.chown(path, self.meta.uid, self.meta.gid)
        except BaseException:
            self._leftovers = True  # abandon may not reach it: discard tries again, reconnecting
            self.fs.abandon(path)
            raise
        return path

    def _verify(self, path: str, data: bytes, step: str) -> None:
        """Read the written file back (on the host that holds it) and compare size and sha256."""
        found = self.fs.read(path)
        got = found[0] if found is not None else b""
        if len(got) != len(data):
            raise step_error(self.instance, step, f"the written file holds {len(got)} of {len(data)} bytes{self.where}")
        if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
            raise step_error(self.instance, step, f"the written file's sha256 differs from the bytes sent{self.where}")

    def _remove_stale(self) -> None:
        """Remove this live file's temporary files left by a run that died mid-step (kill -9, power
        loss, a lost connection). Safe because the deploy lock is held, so no other hotswap run is
        writing this file now, and only the exact names this class makes for this very file match
        (`.<name>.hotswap-<12 hex>.tmp`); nothing else in the directory is touched."""
        for name in self.fs.list_names(self.directory):
            if self._temp_pattern.fullmatch(name):
                self.fs.remove(posixpath.join(self.directory, name))

    def _keep_previous(self) -> None:
        """Keep the live file as `<path>.hotswap-prev`: a hard link (instant, no copy), or where links
        fail a checked copy of the remembered bytes (0600 until complete, then the live file's mode).
        Either is made under a temporary name and renamed over the old kept copy, so a failure leaves
        that copy as it was.

        A link can name the very file the kept copy already is (a run killed after keeping it, before
        its swap): rename(2) of two links to one file succeeds and does nothing, so the temporary
        name is removed after it (a no-op when the rename moved it)."""
        copy = posixpath.join(self.directory, f"{self._temp_prefix}{secrets.token_hex(6)}.tmp")
        linked = True
        try:
            self.fs.link(self.path, copy)
        except OSError:
            linked = False
            copy = self._write_checked(self.previous or b"", f"keep the previous config as {self.prev_path}")
            self.fs.chmod(copy, self._live_mode(0o600))
        try:
            self.fs.rename(copy, self.prev_path)
        except BaseException:
            self.fs.abandon(copy)
            raise
        if linked:
            self.fs.remove(copy)

    def _live_mode(self, default: int) -> int:
        return self.meta.mode if self.meta is not None and self.meta.mode is not None else default

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
