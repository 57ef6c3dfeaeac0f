"""Shell completion of profile names and versions (`hotswap deploy pay<TAB>`, `… production 1.<TAB>`).
Runs on every TAB: reads directory names and `git tag -l`, never parses a config file, and is
silent (no candidates) rather than failing when it cannot tell."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def complete_profile(ctx: Any, param: Any, incomplete: str) -> list[str]:
    root = _root(ctx)
    if root is None:
        return []
    profiles = root / "profiles"
    try:
        names = sorted(p.name for p in profiles.iterdir() if (p / "profile.yaml").is_file())
    except OSError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_version(ctx: Any, param: Any, incomplete: str) -> list[str]:
    profile = ctx.params.get("profile")
    root = _root(ctx)
    if root is None or not profile:
        return []
    try:
        listed = subprocess.run(["git", "tag", "-l", f"{profile}/*"], cwd=root, capture_output=True, text=True,
                                timeout=5, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    versions = [line.split("/")[-1] for line in listed.splitlines() if line.count("/") == 1]
    versions.sort(key=_version_key, reverse=True)
    return [v for v in versions if v.startswith(incomplete)]


def _version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def _root(ctx: Any) -> Path | None:
    """The config repo the command line names (--repo) or the one around the working directory."""
    from hotswap_cli.core.config.configrepo import find_root
    from hotswap_cli.errors import HotswapError

    repo = ctx.find_root().params.get("repo")
    try:
        return find_root(Path(repo).resolve() if repo else Path.cwd())
    except HotswapError:
        return None
