"""Where config repo files are read from: the working tree, or (see core.repo) a git revision."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Source(Protocol):
    """Read-only view of a config repo; paths are relative to its root, '/'-separated."""

    label: str  # "working tree" or a revision

    def read(self, relpath: str) -> bytes | None: ...

    def listdir(self, relpath: str) -> list[str]: ...


class DirSource:
    """The config repo as it is on disk."""

    label = "working tree"

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relpath: str) -> bytes | None:
        try:
            return (self.root / relpath).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def listdir(self, relpath: str) -> list[str]:
        try:
            return sorted(os.listdir(self.root / relpath))
        except (FileNotFoundError, NotADirectoryError):
            return []
