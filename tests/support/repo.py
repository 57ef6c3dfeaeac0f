"""What every test package shares about repos: the example repo's path and the one `git()` helper."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

EXAMPLE_REPO = (Path(__file__).resolve().parent.parent.parent / "example-config-repo").resolve()


def git(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    """Run git in `cwd` (extra environment on top of the test's); its stdout, or an AssertionError
    carrying git's stderr."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, input=input,
                            env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout
