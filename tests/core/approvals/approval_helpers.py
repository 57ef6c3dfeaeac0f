"""Helpers for approval tests: people with their own signing setup, git as them, hand-made tags."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.repo import EXAMPLE_REPO, git  # noqa: F401 - re-exported for the approvals tests

PROFILE = "payment-service.production"


@dataclass(frozen=True)
class Signer:
    """A person: git identity plus the signing setup their own git would have."""

    name: str
    email: str
    kind: str  # ssh | gpg
    key: str  # ssh: private key path; gpg: fingerprint
    public: str = ""  # ssh: "ssh-ed25519 AAAA..."

    def config(self, **extra: str) -> dict[str, str]:
        pairs = [("user.name", self.name), ("user.email", self.email),
                 ("gpg.format", "ssh" if self.kind == "ssh" else "openpgp"), ("user.signingkey", self.key),
                 *((k.replace("_", "."), v) for k, v in extra.items())]
        env = {"GIT_CONFIG_COUNT": str(len(pairs))}
        for i, (k, v) in enumerate(pairs):
            env[f"GIT_CONFIG_KEY_{i}"] = k
            env[f"GIT_CONFIG_VALUE_{i}"] = v
        return env

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a process acting as this person (git and the hotswap CLI); `extra` adds
        git config (gpg_ssh_program="..." -> gpg.ssh.program)."""
        return {**self.config(**extra), "GIT_AUTHOR_NAME": self.name, "GIT_AUTHOR_EMAIL": self.email,
                "GIT_COMMITTER_NAME": self.name, "GIT_COMMITTER_EMAIL": self.email}

    def approvers_line(self, roles: str) -> str:
        key = self.public if self.kind == "ssh" else f"gpg {self.key}"
        return f'{self.email} namespaces="git" roles="{roles}" {key}\n'


def run(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> str:
    result = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, input=input,
                            env={**os.environ, **(env or {})}, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{args} failed: {result.stderr}")
    return result.stdout


def approvers_text(keyring: dict[str, Signer]) -> str:
    k = keyring
    return ("# hotswap approvers\n" + k["alice"].approvers_line("lead") + k["bob"].approvers_line("sre")
            + k["carol"].approvers_line("lead") + k["dave"].approvers_line("dev")
            + k["pat"].approvers_line("lead"))


def change(root: Path, who: Signer, message: str, line: str, profile: str = PROFILE) -> str:
    """Append a comment line to a profile's config and commit it as `who`; returns the sha."""
    config = root / "profiles" / profile / "config.yaml"
    config.write_text(config.read_text() + f"# {line}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message, env=who.env())
    return git(root, "rev-parse", "HEAD").strip()


def signed_tag(root: Path, who: Signer, name: str, target: str, message: str = "Approve") -> None:
    """A raw `git tag -s` as someone would make it by hand (bypassing hotswap's checks)."""
    git(root, "tag", "-s", "-m", message, name, target, env=who.env())
