"""Helpers for the versions, history, diff and secrets tests (imported by name: conftest is ambiguous)."""

from __future__ import annotations

from pathlib import Path

from support.repo import git  # noqa: F401 - the one git helper (re-exported)

PROFILE = "payment-service.production"
# What the example repo's ciphertexts hold (encrypted under the public DEMO_SECRET_KEY).
PROD_SECRET = "sk_live_demo_9f8e7d6c5b"
TEMPLATE_SECRET = "sk_test_demo_4242424242"
OTHER_KEY = "00" * 32


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()
