"""`hotswap deploy` checks the quorum with real signed tags before touching anything."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from approval_helpers import PROFILE, Signer
from test_quorum import approve

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV

Cli = Callable[..., Any]


def dry_run(cli: Cli, repo: Path, version: str = "1.1.0") -> Any:
    return cli("--repo", str(repo), "deploy", PROFILE, version, "--dry-run", env={KEY_ENV: DEMO_SECRET_KEY})


def test_deploy_refuses_until_two_signed_approvals_count(cli: Cli, repo: Path,
                                                         keyring: dict[str, Signer]) -> None:
    none = dry_run(cli, repo)
    assert none.exit_code == 4, none
    assert "short of its quorum (2 required)" in none.stderr
    assert approve(cli, repo, keyring["alice"]).exit_code == 0
    one = dry_run(cli, repo)
    assert one.exit_code == 4
    assert "alice@example.com" in one.stderr and "missing: 1 more approval" in one.stderr
    # pat wrote the change in 1.1.0: their approval is refused, the quorum still not met
    assert approve(cli, repo, keyring["pat"]).exit_code == 4
    assert dry_run(cli, repo).exit_code == 4
    # carol signs with GPG: an SSH and a GPG signer make one quorum
    assert approve(cli, repo, keyring["carol"]).exit_code == 0
    ok = dry_run(cli, repo)
    assert ok.exit_code == 0, ok
    approvals_line = next(line for line in ok.stdout.splitlines() if "approvals:" in line)
    assert "alice@example.com" in approvals_line and "carol@example.com" in approvals_line
    assert "dry run: nothing was changed" in ok.stderr
