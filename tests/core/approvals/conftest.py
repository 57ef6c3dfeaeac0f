"""Approval fixtures: real ssh and gpg keys, approvers, a config repo with two versions."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from approval_helpers import EXAMPLE_REPO, PROFILE, Signer, approvers_text, change, git, run


@pytest.fixture(scope="session")
def gnupghome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A keyring of our own; its gpg-agent is stopped at the end."""
    gnupg = tmp_path_factory.mktemp("gnupg")
    gnupg.chmod(0o700)
    yield gnupg
    subprocess.run(["gpgconf", "--kill", "gpg-agent"], env={**os.environ, "GNUPGHOME": str(gnupg)}, check=False)


@pytest.fixture(scope="session")
def keyring(tmp_path_factory: pytest.TempPathFactory, gnupghome: Path) -> dict[str, Signer]:
    """alice, bob, dave, pat, mallory (ssh) and carol (gpg), generated once per session."""
    keys = tmp_path_factory.mktemp("keys")
    signers = {}
    for name in ("alice", "bob", "dave", "pat", "mallory"):
        path = keys / name
        run(keys, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path))
        public = " ".join(path.with_suffix(".pub").read_text().split()[:2])
        signers[name] = Signer(name.title(), f"{name}@example.com", "ssh", str(path), public)
    genv = {"GNUPGHOME": str(gnupghome)}
    run(keys, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
        "Carol <carol@example.com>", "ed25519", "sign", "never", env=genv)
    listing = run(keys, "gpg", "--batch", "--with-colons", "--list-secret-keys", "carol@example.com", env=genv)
    fpr = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
    signers["carol"] = Signer("Carol", "carol@example.com", "gpg", fpr)
    return signers


@pytest.fixture(autouse=True)
def _isolated_home(gnupghome: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never the user's HOME, ~/.ssh or keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GNUPGHOME", str(gnupghome))
    monkeypatch.delenv("HOTSWAP_APPROVERS", raising=False)
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                "GIT_COMMITTER_DATE", "GIT_CONFIG_COUNT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def admin() -> Signer:
    return Signer("Admin", "admin@example.com", "ssh", "")


@pytest.fixture
def repo(tmp_path: Path, keyring: dict[str, Signer], admin: Signer) -> Path:
    """Config repo on main: 1.0.0 (by admin, with approvers), 1.1.0 (pat changed the production config)."""
    root = tmp_path / "config-repo"
    shutil.copytree(EXAMPLE_REPO, root)
    (root / "approvers").write_text(approvers_text(keyring))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial config", env=admin.env())
    git(root, "tag", "-a", f"{PROFILE}/1.0.0", "-m", "release 1.0.0", env=admin.env())
    change(root, keyring["pat"], "raise pool size", "maxConnections: 77")
    git(root, "tag", "-a", f"{PROFILE}/1.1.0", "-m", "release 1.1.0", env=admin.env())
    return root
