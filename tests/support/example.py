"""What the tests know about the example repo: its production profile, the plaintexts of its secrets,
a key that is not its key, small edit-and-commit helpers, and a secret as hotswap wrote it before v2."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import yaml

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY
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


def set_api_key(root: Path, profile: str, token: str) -> None:
    config = root / "profiles" / profile / "config.yaml"
    data = yaml.safe_load(config.read_text())
    data.setdefault("payments", {})["apiKey"] = token
    config.write_text(yaml.safe_dump(data, sort_keys=False))


def v1_token(value: Any) -> str:
    """What hotswap wrote before secrets were bound to their place."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(bytes.fromhex(DEMO_SECRET_KEY)).encrypt(nonce, json.dumps(value).encode(), b"hotswap-secret:v1")
    return f"ENC[v1:{base64.b64encode(nonce + sealed).decode()}]"
