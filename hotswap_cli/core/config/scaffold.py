"""`hotswap init`: lay out a new config repo that validates as created."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hotswap_cli import DATA_DIR
from hotswap_cli.errors import ConfigError

SCAFFOLD = DATA_DIR / "scaffold"


@dataclass(frozen=True)
class InitResult:
    root: Path
    files: tuple[str, ...]
    git_initialised: bool


def _files() -> list[Path]:
    return sorted(p.relative_to(SCAFFOLD) for p in SCAFFOLD.rglob("*") if p.is_file())


def _inside_work_tree(path: Path) -> bool:
    probe = path if path.exists() else next(p for p in path.parents if p.exists())
    result = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=probe,
                            capture_output=True, text=True, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def init_repo(directory: Path) -> InitResult:
    """Copy the scaffold into `directory`; never overwrite; git init + commit when outside git."""
    directory = directory.resolve()
    files = _files()
    clashes = [str(f) for f in files if (directory / f).exists()]
    if clashes:
        raise ConfigError(f"{directory}: refusing to overwrite existing files: {', '.join(clashes)}",
                          hint="choose an empty directory")
    in_git = _inside_work_tree(directory)
    for f in files:
        (directory / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SCAFFOLD / f, directory / f)
    if not in_git:
        _git(directory, "init", "-q", "-b", "main")
        _git(directory, "add", "--", *map(str, files))
        _git(directory, "-c", "user.name=hotswap", "-c", "user.email=hotswap@localhost",
             "commit", "-q", "-m", "hotswap init: new config repo")
    return InitResult(directory, tuple(map(str, files)), not in_git)


def _git(cwd: Path, *args: str) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"git {args[0]} failed in {cwd}: {result.stderr.strip().splitlines()[-1:]}")
