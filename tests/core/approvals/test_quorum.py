"""`hotswap approvals`: each way an approval tag can fail to count, and the quorum gate."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from approval_helpers import PROFILE, Signer, git, signed_tag

from hotswap_cli.core.approvals.quorum import check_quorum
from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.versions.git import GitRepo

Cli = Callable[..., Any]
TAG = f"approvals/{PROFILE}/1.1.0"


def approve(cli: Cli, repo: Path, who: Signer, version: str = "1.1.0", *args: str,
            profile: str = PROFILE) -> Any:
    return cli("--repo", str(repo), "approve", profile, version, *args, env=who.env())


def listing(cli: Cli, repo: Path, version: str = "1.1.0", profile: str = PROFILE) -> dict[str, Any]:
    result = cli("--repo", str(repo), "approvals", profile, version, "--json")
    assert result.exit_code == 0, result
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def statuses(cli: Cli, repo: Path, version: str = "1.1.0") -> dict[str, str]:
    return {a["tag"].rsplit("/", 1)[1]: a["status"] for a in listing(cli, repo, version)["approvals"]}


def report(repo: Path, version: str = "1.1.0", **kw: Any) -> Any:
    config = ConfigRepo.open(repo)
    return check_quorum(GitRepo(repo), load_profile(config, PROFILE), version, **kw)


def test_ssh_and_gpg_approvers_meet_the_production_quorum(cli: Cli, repo: Path,
                                                            keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"], "1.1.0", "-m", "pool size checked").exit_code == 0
    assert approve(cli, repo, keyring["carol"]).exit_code == 0
    data = listing(cli, repo)
    assert data["met"] is True and data["required"] == 2 and data["environment"] == "Production"
    assert data["approved_by"] == ["alice@example.com", "carol@example.com"]
    assert [(a["status"], a["key"], a["roles"]) for a in data["approvals"]] == [
        ("valid", "ssh", ["lead"]), ("valid", "gpg", ["lead"])]
    assert data["approvals"][0]["comment"] == "pool size checked"
    check = cli("--repo", str(repo), "approvals", PROFILE, "1.1.0", "--check")
    assert check.exit_code == 0, check
    assert "approved by: alice@example.com (lead), carol@example.com (lead); missing: nothing" in check.stderr


def test_unmet_quorum_exits_4_and_says_who_and_what_is_missing(cli: Cli, repo: Path,
                                                                keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"]).exit_code == 0
    check = cli("--repo", str(repo), "approvals", PROFILE, "1.1.0", "--check")
    assert check.exit_code == 4
    assert check.stderr.splitlines()[-1] == (
        f"hotswap: error: {PROFILE} 1.1.0 is short of its quorum (2 required): "
        "approved by: alice@example.com (lead); missing: 1 more approval from roles lead, sre")
    none = cli("--repo", str(repo), "approvals", PROFILE, "1.0.0", "--check")
    assert none.exit_code == 4 and "approved by: nobody; missing: 2 more approvals" in none.stderr


def test_one_approver_counts_once_however_many_tags(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"]).exit_code == 0
    signed_tag(repo, keyring["alice"], f"{TAG}/alice-again", f"{PROFILE}/1.1.0")
    data = listing(cli, repo)
    assert [a["status"] for a in data["approvals"]] == ["valid", "valid"]
    assert data["approved_by"] == ["alice@example.com"] and data["met"] is False


def _forge(repo: Path, ref: str, edit: Callable[[str], str]) -> None:
    raw = git(repo, "cat-file", "tag", ref)
    forged = git(repo, "mktag", input=edit(raw)).strip()
    git(repo, "update-ref", f"refs/tags/{ref}", forged)


def test_edited_message_is_a_bad_signature_for_ssh_and_gpg(cli: Cli, repo: Path,
                                                            keyring: dict[str, Signer]) -> None:
    for who in ("alice", "carol"):
        assert approve(cli, repo, keyring[who], "1.1.0", "-m", "ok for Friday").exit_code == 0
        _forge(repo, f"{TAG}/{who}@example.com", lambda raw: raw.replace("ok for Friday", "ok for Monday"))
    assert statuses(cli, repo) == {"alice@example.com": "bad signature", "carol@example.com": "bad signature"}
    assert report(repo).met is False


def test_signature_copied_onto_another_commit_is_bad(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"], "1.0.0").exit_code == 0
    old, new = (git(repo, "rev-parse", f"{PROFILE}/{v}^{{commit}}").strip() for v in ("1.0.0", "1.1.0"))
    git(repo, "tag", f"{TAG}/alice@example.com", f"approvals/{PROFILE}/1.0.0/alice@example.com")
    _forge(repo, f"{TAG}/alice@example.com",
           lambda raw: raw.replace(old, new).replace("/1.0.0/", "/1.1.0/").replace("1.0.0", "1.1.0"))
    assert statuses(cli, repo) == {"alice@example.com": "bad signature"}


def test_wrong_key_is_unknown(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    signed_tag(repo, keyring["mallory"], f"{TAG}/alice@example.com", f"{PROFILE}/1.1.0")
    data = listing(cli, repo)
    assert [(a["status"], a["detail"]) for a in data["approvals"]] == [
        ("unknown key", "ssh key not in the approvers file")]


def test_tag_moved_to_another_commit(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"], "1.0.0").exit_code == 0
    moved = git(repo, "rev-parse", f"approvals/{PROFILE}/1.0.0/alice@example.com").strip()
    git(repo, "update-ref", f"refs/tags/{TAG}/alice@example.com", moved)
    signed_tag(repo, keyring["bob"], f"{TAG}/bob@example.com", f"{PROFILE}/1.0.0")
    assert statuses(cli, repo) == {"alice@example.com": "points at another commit",
                                   "bob@example.com": "points at another commit"}
    assert report(repo).valid == ()


def test_unsigned_tags_made_to_look_like_approvals(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    message = f"Approve {PROFILE} 1.1.0\n\nHotswap-Profile: {PROFILE}\nHotswap-Version: 1.1.0\n"
    git(repo, "tag", "-a", f"{TAG}/alice@example.com", "-m", message, f"{PROFILE}/1.1.0",
        env=keyring["alice"].env())
    git(repo, "tag", f"{TAG}/carol@example.com", f"{PROFILE}/1.1.0^{{commit}}")  # lightweight
    assert statuses(cli, repo) == {"alice@example.com": "unsigned", "carol@example.com": "unsigned"}
    assert cli("--repo", str(repo), "approvals", PROFILE, "1.1.0", "--check").exit_code == 4


def test_signer_without_an_allowed_role(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    signed_tag(repo, keyring["dave"], f"{TAG}/dave@example.com", f"{PROFILE}/1.1.0")
    data = listing(cli, repo)
    assert [(a["status"], a["detail"]) for a in data["approvals"]] == [
        ("signer not allowed", "roles dev; needs lead, sre")]


def test_self_approval_does_not_count(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    signed_tag(repo, keyring["pat"], f"{TAG}/pat@example.com", f"{PROFILE}/1.1.0")
    assert statuses(cli, repo) == {"pat@example.com": "self-approval"}
    assert report(repo).authors == ("admin@example.com", "pat@example.com")


def test_expired_approval(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"]).exit_code == 0
    assert approve(cli, repo, keyring["bob"]).exit_code == 0
    assert report(repo, now=time.time() + 6 * 86400).met is True
    late = report(repo, now=time.time() + 8 * 86400)
    assert [(a.status, a.detail) for a in late.approvals] == [("expired", "older than 7 day(s)")] * 2
    assert late.met is False and late.missing == "2 more approvals from roles lead, sre"


def test_staging_needs_one_and_development_none(cli: Cli, repo: Path, keyring: dict[str, Signer]) -> None:
    for profile in ("payment-service.staging", "payment-service.development"):
        git(repo, "tag", "-a", f"{profile}/2.0.0", "-m", "release", "HEAD")
    dev = cli("--repo", str(repo), "approvals", "payment-service.development", "2.0.0", "--check")
    assert dev.exit_code == 0 and "0 of 0 required" in dev.stderr
    staging = ("--repo", str(repo), "approvals", "payment-service.staging", "2.0.0", "--check")
    assert cli(*staging).exit_code == 4
    assert approve(cli, repo, keyring["bob"], "2.0.0", profile="payment-service.staging").exit_code == 0
    assert cli(*staging).exit_code == 0


def test_human_listing_shows_signer_role_status_and_comment(cli: Cli, repo: Path,
                                                            keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["alice"], "1.1.0", "-m", "LGTM").exit_code == 0
    signed_tag(repo, keyring["dave"], f"{TAG}/dave@example.com", f"{PROFILE}/1.1.0")
    out = cli("--repo", str(repo), "approvals", PROFILE, "1.1.0")
    assert out.exit_code == 0
    first, second = out.stdout.splitlines()
    assert first.split()[:3] == ["valid", "alice@example.com", "lead"] and first.endswith("LGTM")
    assert second.startswith("signer not allowed (roles dev; needs lead, sre)") and "dave@example.com" in second


def test_gpg_key_missing_from_the_checkers_keyring_is_unknown(cli: Cli, repo: Path, tmp_path: Path,
                                                              keyring: dict[str, Signer]) -> None:
    assert approve(cli, repo, keyring["carol"]).exit_code == 0
    empty = tmp_path / "empty-gnupg"
    empty.mkdir(mode=0o700)
    result = cli("--repo", str(repo), "approvals", PROFILE, "1.1.0", "--json", env={"GNUPGHOME": str(empty)})
    (entry,) = json.loads(result.stdout)["approvals"]
    assert (entry["status"], entry["detail"]) == ("unknown key", "gpg public key not in the keyring")
