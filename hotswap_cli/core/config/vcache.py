"""Validation cache: a profile whose inputs are byte-identical to a run that found it valid
is not parsed or validated again (pre-commit runs validate on every commit)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hotswap_cli import __version__
from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.errors import ConfigError
from hotswap_cli.io.files import write_atomic

ENV_DIR = "HOTSWAP_CACHE_DIR"
ENV_OFF = "HOTSWAP_NO_CACHE"


def cache_dir() -> Path | None:
    if os.environ.get(ENV_OFF):
        return None
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotswap"


class ValidationCache:
    """Profile name -> (input digest, sha256, size) of its last valid result, per repo."""

    def __init__(self, repo: ConfigRepo, directory: Path) -> None:
        assert repo.root is not None
        self.repo = repo
        self.file = directory / f"validate-{hashlib.sha1(str(repo.root).encode()).hexdigest()[:16]}.json"
        try:
            self.entries: dict[str, list[object]] = json.loads(self.file.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self._shared = self._shared_digest()
        self.dirty = False

    def _shared_digest(self) -> str:
        """Everything a profile may depend on besides its own folder."""
        h = hashlib.sha256(__version__.encode())
        for var in ("HOTSWAP_SECRET_KEY", "HOTSWAP_SECRET_KEY_FILE", "HOTSWAP_SECRET_KEY_COMMAND"):
            h.update(hashlib.sha256(os.environ.get(var, "").encode()).digest())
        for rel in self._files(["hotswap.yaml"], ["templates", "schemas"]):
            h.update(rel.encode() + b"\0" + (self.repo.source.read(rel) or b"") + b"\0")
        return h.hexdigest()

    def _files(self, files: list[str], folders: list[str]) -> list[str]:
        out = list(files)
        stack = list(folders)
        while stack:
            folder = stack.pop()
            for name in self.repo.source.listdir(folder):
                rel = f"{folder}/{name}"
                if self.repo.source.listdir(rel):
                    stack.append(rel)
                else:
                    out.append(rel)
        return sorted(out)

    def digest(self, profile: str) -> str:
        """A digest of the profile's inputs; one that matches nothing when a file cannot be read
        (validation itself then reports why)."""
        h = hashlib.sha256(self._shared.encode())
        folder = f"profiles/{profile}"
        try:
            for name in sorted(self.repo.listdir(folder)):
                h.update(name.encode() + b"\0" + (self.repo.source.read(f"{folder}/{name}") or b"") + b"\0")
        except ConfigError:
            return f"unreadable-{os.urandom(16).hex()}"
        return h.hexdigest()

    def lookup(self, profile: str, digest: str) -> tuple[str, int] | None:
        entry = self.entries.get(profile)
        if entry and entry[0] == digest:
            return str(entry[1]), int(entry[2])  # type: ignore[call-overload]
        return None

    def store(self, profile: str, digest: str, sha256: str, size: int) -> None:
        self.entries[profile] = [digest, sha256, size]
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.file, json.dumps(self.entries).encode())
        except OSError:
            pass  # a cache that cannot be written only costs time
