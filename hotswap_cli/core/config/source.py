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
        self._real = root.resolve()

    def _path(self, relpath: str) -> Path:
        path = self.root / inside(relpath)
        real = path.resolve()
        if real != self._real and not real.is_relative_to(self._real):
            raise ConfigError(f"{relpath}: a symlink to {real}, outside the config repo; refused",
                              hint="keep every file hotswap reads inside the repo (copy it in)")
        return path

    def read(self, relpath: str) -> bytes | None:
        path = self._path(relpath)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def listdir(self, relpath: str) -> list[str]:
        path = self._path(relpath)
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return []
