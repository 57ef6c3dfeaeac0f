"""Where config repo files are read from: the working tree, or (see core.versions.git) a git
revision. Both are jails: a path that climbs out of the repo, or a symlink that points out of
it, is refused, so no repo file can make hotswap read (and print) a file of the machine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from hotswap_cli.errors import ConfigError


class Source(Protocol):
    """Read-only view of a config repo; paths are relative to its root, '/'-separated."""

    label: str  # "working tree" or a revision

    def read(self, relpath: str) -> bytes | None: ...

    def listdir(self, relpath: str) -> list[str]: ...


def inside(relpath: str) -> str:
    """`relpath` if it names a place inside the repo; ConfigError when it is absolute or climbs out."""
    parts = relpath.replace("\\", "/").split("/")
    if relpath.startswith(("/", "\\")) or ".." in parts or (parts and parts[0].endswith(":")):
        raise ConfigError(f"{relpath}: outside the config repo; refused",
                          hint="profiles, templates and schemas are named by paths inside the repo")
    return relpath


class DirSource:
    """The config repo as it is on disk."""

    label = "working tree"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real = str(root.resolve())
        self._inside_real = os.path.join(self._real, "")
        self._real_dirs: dict[str, str] = {}  # folder relpath -> its real path, resolved once per folder

    def _path(self, relpath: str) -> str:
        path = os.path.join(self.root, inside(relpath))
        real = self._real_path(relpath.rstrip("/"), path)
        if real != self._real and not real.startswith(self._inside_real):
            raise ConfigError(f"{relpath}: a symlink to {real}, outside the config repo; refused",
                              hint="keep every file hotswap reads inside the repo (copy it in)")
        return path

    def _real_path(self, relpath: str, path: str) -> str:
        """os.path.realpath(path), with each folder resolved once: a file that is not a symlink is
        its real folder plus its name (one lstat, where realpath takes one per path component)."""
        folder, _, name = relpath.rpartition("/")
        if name in ("", ".", "..") or os.path.islink(path):
            return os.path.realpath(path)
        real_folder = self._real_dirs.get(folder)
        if real_folder is None:
            real_folder = self._real_dirs[folder] = os.path.realpath(os.path.join(self.root, folder))
        return os.path.join(real_folder, name)

    def read(self, relpath: str) -> bytes | None:
        path = self._path(relpath)
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def listdir(self, relpath: str) -> list[str]:
        path = self._path(relpath)
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
