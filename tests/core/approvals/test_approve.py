"""`hotswap approve`: what it signs, what it refuses, and a signer that fails quietly."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from approval_helpers import PROFILE, Signer, change, git

from hotswap_cli.core.approvals.approvers import ssh_fingerprint

Cli = Callable[..., Any]
TAG = f"approvals/{PROFILE}/1.1.0"


def approve(cli: Cli, repo: Path, who: Signer, version: str = "1.1.0", *args: str, **config: str) -> Any:
    return cli("--repo", str(repo), "approve", PROFILE, version, *args, env=who.env(**config))


def tags(repo: Path) -> list[str]:
    return git(repo, "tag", "--list", "approvals/*").split()


def test_approve_signs_a_tag_on_exactly_the_version_commit(cli: Cli, repo: Path,
                                                           keyring: dict[str, Signer]) -> None:
    result = approve(cli, repo, keyring["alice"], "1.1.0", "-m", "checked the pool", "--json")
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert (data["tag"], data["approver"], data["status"]) == (f"{TAG}/alice@example.com", "alice@example.com",
                                                               "valid")
    target = git(repo, "rev-parse", f"{TAG}/alice@example.com^{{}}").strip()
    assert target == git(repo, "rev-parse", f"{PROFILE}/1.1.0^{{commit}}").strip()
    assert git(repo, "cat-file", "-t", f"{TAG}/alice@example.com").strip() == "tag"
    body = git(repo, "cat-file", "tag", f"{TAG}/alice@example.com")
    assert "checked the pool" in body and "-----BEGIN SSH SIGNATURE-----" in body
    gpg = approve(cli, repo, keyring["carol"])
    assert gpg.exit_code == 0, gpg
    assert "-----BEGIN PGP SIGNATURE-----" in git(repo, "cat-file", "tag", f"{TAG}/carol@example.com")
    assert gpg.stderr == (f"approved {PROFILE} 1.1.0 as carol@example.com (lead): signed "
                          f"{TAG}/carol@example.com (push with --push or `git push origin --tags`)\n")


def test_refusals_exit_4_with_a_reason(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    mallory = keyring["mallory"]
    cases = [
        (mallory, "1.1.0", f"hotswap: error: your signing key (ssh {ssh_fingerprint(mallory.public.split()[1])}) "
                           "is not in the approvers file (refs/heads/main:approvers) "
                           "(ask a lead to add it on the default branch)"),
        (keyring["dave"], "1.1.0", "hotswap: error: dave@example.com may not approve Production versions: "
                                   "roles dev, needs one of lead, sre"),
        (keyring["pat"], "1.1.0", f"hotswap: error: pat@example.com authored changes in {PROFILE} 1.1.0 "
                                  "(no earlier approved version): someone else must approve it (no self-approval)"),
        (keyring["alice"], "9.9.9", f"hotswap: error: version 9.9.9 of {PROFILE} does not exist "
                                    f"(`hotswap versions {PROFILE}` lists them)"),
    ]
    for who, version, message in cases:
        result = approve(cli, repo, who, version)
        assert (result.exit_code, result.stderr.strip()) == (4, message)
    assert tags(repo) == []
    assert approve(cli, repo, keyring["alice"]).exit_code == 0
    again = approve(cli, repo, keyring["alice"])
    assert (again.exit_code, again.stderr.strip()) == (
        4, f"hotswap: error: alice@example.com has already approved {PROFILE} 1.1.0")
    bad = approve(cli, repo, keyring["alice"], "1.1")
    assert bad.exit_code == 2 and "invalid version '1.1'" in bad.stderr


def test_a_signer_that_exits_0_without_signing_leaves_no_tag(cli: Cli, repo: Path, tmp_path: Path,
                                                             keyring: dict[str, Signer]) -> None:
    fake = tmp_path / "fake-ssh-keygen"
    fake.write_text('#!/bin/sh\nfor last; do :; done\n'
                    'printf -- "-----BEGIN SSH SIGNATURE-----\\nU1NIU0lH\\n-----END SSH SIGNATURE-----\\n"'
                    ' > "$last.sig"\nexit 0\n')
    fake.chmod(0o755)
    result = approve(cli, repo, keyring["alice"], gpg_ssh_program=str(fake))
    assert result.exit_code == 4
    assert result.stderr.startswith(f"hotswap: error: git wrote {TAG}/alice@example.com but its signature does "
                                    "not verify (bad signature")
    assert "; deleted it" in result.stderr
    assert tags(repo) == []


def test_a_missing_key_fails_before_tagging(cli: Cli, repo: Path, tmp_path: Path,
                                            keyring: dict[str, Signer]) -> None:
    ghost = Signer("Alice", "alice@example.com", "ssh", str(tmp_path / "no-such-key"))
    result = approve(cli, repo, ghost)
    assert result.exit_code == 4 and "cannot read the signing key" in result.stderr
    nogpg = Signer("Carol", "carol@example.com", "gpg", "0123456789ABCDEF0123456789ABCDEF01234567")
    result = approve(cli, repo, nogpg)
    assert result.exit_code == 4 and "no GPG secret key for '0123456789ABCDEF" in result.stderr
    assert tags(repo) == []


def test_authors_count_from_the_previous_approved_version(cli: Cli, repo: Path,
                                                          keyring: dict[str, Signer]) -> None:
    alice, bob, carol, pat = (keyring[n] for n in ("alice", "bob", "carol", "pat"))
    change(repo, bob, "timeouts", "timeout: 5s")
    change(repo, alice, "staging only", "staging tweak", profile="payment-service.staging")
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release 1.2.0", env=bob.env())
    # 1.1.0 (pat's change) was never approved, so pat's change is still part of 1.2.0
    refused = approve(cli, repo, pat, "1.2.0")
    assert refused.exit_code == 4 and "(no earlier approved version)" in refused.stderr
    assert approve(cli, repo, bob, "1.2.0").exit_code == 4  # bob wrote 1.2.0's change
    # alice only touched another profile: she may approve
    assert approve(cli, repo, alice, "1.2.0").exit_code == 0
    assert approve(cli, repo, alice, "1.1.0").exit_code == 0
    assert approve(cli, repo, carol, "1.1.0").exit_code == 0
    # with 1.1.0 approved, 1.2.0 holds only bob's change: pat may approve it now
    result = approve(cli, repo, pat, "1.2.0")
    assert result.exit_code == 0, result


def test_co_author_is_an_author(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    config = repo / "profiles" / PROFILE / "config.yaml"
    config.write_text(config.read_text() + "# pairing\n")
    git(repo, "commit", "-qam", "pairing\n\nCo-authored-by: Alice <alice@example.com>", env=keyring["bob"].env())
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release", env=keyring["bob"].env())
    result = approve(cli, repo, keyring["alice"], "1.2.0")
    assert result.exit_code == 4 and "alice@example.com authored changes" in result.stderr


def test_a_wildcard_principal_cannot_name_a_tag(cli: Cli, repo: Path, tmp_path: Path,
                                                keyring: dict[str, Signer]) -> None:
    approvers = tmp_path / "approvers"
    approvers.write_text(keyring["bob"].approvers_line("sre").replace("bob@example.com", "*@example.com"))
    result = approve(cli, repo, keyring["bob"], "1.1.0", "--approvers", str(approvers))
    assert (result.exit_code, tags(repo)) == (4, [])
    assert "the principal '*@example.com' cannot name a git tag" in result.stderr
