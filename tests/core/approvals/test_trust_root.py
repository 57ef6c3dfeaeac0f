"""The trust root (approvers and policy never come from the version under approval), remotes,
and signed commits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from approval_helpers import PROFILE, Signer, change, git, signed_tag

from hotswap_cli.core.approvals.approvers import ssh_fingerprint

Cli = Callable[..., Any]


def approve(cli: Cli, repo: Path, who: Signer, version: str, *args: str) -> Any:
    return cli("--repo", str(repo), "approve", PROFILE, version, *args, env=who.env())


def listing(cli: Cli, repo: Path, version: str, *args: str) -> dict[str, Any]:
    result = cli("--repo", str(repo), "approvals", PROFILE, version, "--json", *args)
    assert result.exit_code == 0, result
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _mallory_adds_herself(repo: Path, mallory: Signer) -> None:
    """On a branch: mallory's key in approvers, her config change, a weaker policy, tagged 1.2.0."""
    git(repo, "checkout", "-q", "-b", "feature")
    with (repo / "approvers").open("a") as fh:
        fh.write(mallory.approvers_line("lead,sre"))
    settings = repo / "hotswap.yaml"
    settings.write_text(settings.read_text().replace("approvals: 2", "approvals: 0"))
    change(repo, mallory, "mallory approves herself", "mallory was here")
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release 1.2.0", env=mallory.env())


def test_a_commit_adding_its_authors_key_cannot_approve_itself(cli: Cli, repo: Path,
                                                               keyring: dict[str, Signer]) -> None:
    mallory = keyring["mallory"]
    _mallory_adds_herself(repo, mallory)
    refused = approve(cli, repo, mallory, "1.2.0")
    assert refused.exit_code == 4 and "is not in the approvers file (refs/heads/main:approvers)" in refused.stderr
    signed_tag(repo, mallory, f"approvals/{PROFILE}/1.2.0/mallory@example.com", f"{PROFILE}/1.2.0^{{commit}}")
    data = listing(cli, repo, "1.2.0")
    assert [a["status"] for a in data["approvals"]] == ["unknown key"]
    assert (data["required"], data["met"]) == (2, False)  # her approvals: 0 is not the trusted policy
    # merged: her key is trusted now, but not for the version that she wrote
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "feature")
    assert [a["status"] for a in listing(cli, repo, "1.2.0")["approvals"]] == ["self-approval"]
    again = approve(cli, repo, mallory, "1.2.0")
    assert again.exit_code == 4 and "mallory@example.com authored changes" in again.stderr


def test_moving_a_profile_to_development_does_not_lower_its_quorum(cli: Cli, repo: Path,
                                                                   keyring: dict[str, Signer]) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    meta = repo / "profiles" / PROFILE / "profile.yaml"
    meta.write_text(meta.read_text().replace("environment: Production", "environment: Development"))
    change(repo, keyring["pat"], "demote", "demoted")
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release", env=keyring["pat"].env())
    data = listing(cli, repo, "1.2.0")
    assert (data["environment"], data["required"], data["met"]) == ("Production", 2, False)


def test_operator_approvers_file_overrides(cli: Cli, repo: Path, tmp_path: Path,
                                           keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"], "1.1.0").exit_code == 0
    assert approve(cli, repo, keyring["bob"], "1.1.0").exit_code == 0
    only_bob = tmp_path / "approvers"
    only_bob.write_text(keyring["bob"].approvers_line("sre"))
    data = listing(cli, repo, "1.1.0", "--approvers", str(only_bob))
    assert [a["status"] for a in data["approvals"]] == ["unknown key", "valid"]
    assert data["trust_source"] == str(only_bob)
    env = cli("--repo", str(repo), "approvals", PROFILE, "1.1.0", "--check", env={"HOTSWAP_APPROVERS": str(only_bob)})
    assert env.exit_code == 4 and "approved by: bob@example.com (sre); missing: 1 more" in env.stderr


def test_remote_is_the_trust_root_and_approvals_are_fetched(cli: Cli, repo: Path, tmp_path: Path,
                                                            keyring: dict[str, Signer]) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    ops = tmp_path / "ops"
    git(tmp_path, "clone", "-q", str(origin), str(ops))
    pushed = approve(cli, repo, keyring["alice"], "1.1.0", "--push")
    assert pushed.exit_code == 0 and "and pushed it" in pushed.stderr
    assert approve(cli, repo, keyring["carol"], "1.1.0", "--push").exit_code == 0
    assert f"approvals/{PROFILE}/1.1.0/carol@example.com" in git(origin, "tag", "--list")
    check = cli("--repo", str(ops), "approvals", PROFILE, "1.1.0", "--check")
    assert check.exit_code == 0, check
    # a local, unpushed edit of main in ops is not the trust root: origin/main is
    mallory = keyring["mallory"]
    with (ops / "approvers").open("a") as fh:
        fh.write(mallory.approvers_line("lead"))
    git(ops, "commit", "-qam", "add mallory", env=mallory.env())
    refused = approve(cli, ops, mallory, "1.1.0")
    assert refused.exit_code == 4 and "(refs/remotes/origin/main:approvers)" in refused.stderr


def test_require_signed_commits_lists_unsigned_and_unknown(cli: Cli, repo: Path,
                                                          keyring: dict[str, Signer]) -> None:
    bob, mallory = keyring["bob"], keyring["mallory"]
    for who, text in ((bob, "signed by bob"), (mallory, "signed by mallory")):
        config = repo / "profiles" / PROFILE / "config.yaml"
        config.write_text(config.read_text() + f"# {text}\n")
        git(repo, "commit", "-S", "-qam", text, env=who.env())
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release", env=bob.env())
    data = listing(cli, repo, "1.2.0", "--require-signed-commits")["signed_commits"]
    assert [(c["subject"], c["state"]) for c in data["commits"]] == [
        ("signed by mallory", "unknown"), ("signed by bob", "good")]
    assert data["ok"] is False and data["commits"][1]["signer"] == "bob@example.com"
    unsigned = listing(cli, repo, "1.1.0", "--require-signed-commits")["signed_commits"]
    assert [(c["subject"], c["state"]) for c in unsigned["commits"]] == [("raise pool size", "unsigned")]
    since = listing(cli, repo, "1.2.0", "--require-signed-commits", "--since", "1.1.0")["signed_commits"]
    assert since["range"] == f"refs/tags/{PROFILE}/1.1.0..{PROFILE}/1.2.0"
    for who in ("alice", "carol"):
        assert approve(cli, repo, keyring[who], "1.2.0").exit_code == 0
    gate = cli("--repo", str(repo), "approvals", PROFILE, "1.2.0", "--check", "--require-signed-commits")
    assert gate.exit_code == 4
    fingerprint = ssh_fingerprint(mallory.public.split()[1])
    assert "1 commit(s) in" in gate.stderr and f"(unknown: {fingerprint})" in gate.stderr
