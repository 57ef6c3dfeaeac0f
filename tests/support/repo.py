"""Paths shared by test packages (import as `from support.repo import EXAMPLE_REPO`)."""

from __future__ import annotations

from pathlib import Path

EXAMPLE_REPO = (Path(__file__).resolve().parent.parent.parent / "example-config-repo").resolve()
