"""Helpers shared by the ledger tests (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROFILE = "payment-service.production"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout
