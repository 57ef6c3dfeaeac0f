"""Attacks on the approval gate by someone who can push branches and tags but not `main`, and by a
CI job that checks out what it deploys. Each must fail, say why, and put nothing on an instance."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from approval_helpers import EXAMPLE_REPO, PROFILE, Signer, approvers_text, git, signed_tag

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV

Cli = Callable[..., Any]
STAGING = "payment-service.staging"


@dataclass
class World:
    origin: Path
    ops: Path  # the admins' clone: the only one that pushes main
    attacker: Path
    ci: Path  # a fresh clone, as a CI job has
    instances: Path

    def live(self, profile: str) -> Path:
        return self.instances / profile / "config.json"


def local_targets(root: Path, profile: str, instances: Path) -> None:
    meta_file = root / "profiles" / profile / "profile.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    meta["targets"] = [{"name": f"{profile}-1",
                        "transport": {"type": "local", "path": str(instances / profile / "config.json")}}]
    meta["strategy"] = {"type": "direct", "bake": 0}
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))
    (instances / profile).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def world(tmp_path: Path, keyring: dict[str, Signer], admin: Signer) -> World:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    ops = tmp_path / "ops"
    shutil.copytree(EXAMPLE_REPO, ops)
    (ops / "approvers").write_text(approvers_text(keyring))
    instances = tmp_path / "instances"
    for profile in (PROFILE, STAGING):
        local_targets(ops, profile, instances)
    git(ops, "init", "-q", "-b", "main")
    git(ops, "add", "-A")
    git(ops, "commit", "-q", "-m", "the fleet", env=admin.env())
    git(ops, "tag", "-a", f"{PROFILE}/1.0.0", "-m", "release 1.0.0", env=admin.env())
    git(ops, "remote", "add", "origin", str(origin))
    git(ops, "push", "-q", "origin", "main", "--tags")
    attacker = tmp_path / "attacker"
    git(tmp_path, "clone", "-q", str(origin), str(attacker))
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", str(origin), str(ci))
    return World(origin, ops, attacker, ci, instances)


def hs(cli: Cli, repo: Path, *args: str, who: Signer | None = None) -> Any:
    return cli("--repo", str(repo), *args, env={KEY_ENV: DEMO_SECRET_KEY, **(who.env() if who else {})})


def attacker_release(cli: Cli, world: World, mallory: Signer, version: str, change: Callable[[Path], None],
                     profile: str = PROFILE) -> None:
    """On a branch of their own: change files, commit, release, push branch and tag."""
    repo = world.attacker
    git(repo, "checkout", "-q", "-B", "feature")
    change(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{version}: looks harmless", env=mallory.env())
    released = hs(cli, repo, "release", profile, version, "-m", "release", who=mallory)
    assert released.exit_code == 0, released
    git(repo, "push", "-q", "origin", "feature", f"refs/tags/{profile}/{version}")


def relabel(environment: str, profile: str = PROFILE) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        meta = repo / "profiles" / profile / "profile.yaml"
        meta.write_text(meta.read_text().replace("environment: Production", f"environment: {environment}")
                        .replace("environment: Staging", f"environment: {environment}"))
        config = repo / "profiles" / profile / "config.yaml"
        config.write_text(config.read_text() + "# attacker's change\n")
    return change


def test_a_version_that_relabels_its_environment_still_needs_the_production_quorum(
        cli: Cli, world: World, keyring: dict[str, Signer]) -> None:
    attacker_release(cli, world, keyring["mallory"], "1.1.0", relabel("Development"))
    git(world.ci, "fetch", "-q", "--tags", "origin")
    deployed = hs(cli, world.ci, "deploy", PROFILE, "1.1.0", "--yes")
    assert deployed.exit_code == 4, deployed
    assert "1.1.0 is short of its quorum (2 required)" in deployed.stderr
    check = hs(cli, world.ci, "approvals", PROFILE, "1.1.0", "--check")
    assert check.exit_code == 4  # deploy and `approvals --check` agree
    assert not world.live(PROFILE).exists()


def test_an_unreleased_revision_cannot_skip_approvals(cli: Cli, world: World, keyring: dict[str, Signer]) -> None:
    attacker_release(cli, world, keyring["mallory"], "1.1.0", relabel("Development", STAGING), profile=STAGING)
    git(world.ci, "fetch", "-q", "origin")
    staging = hs(cli, world.ci, "deploy", STAGING, "--rev", "origin/feature", "--yes")
    assert staging.exit_code == 4, staging
    assert "answers to Staging (refs/remotes/origin/main), which requires 1 approval(s): an unreleased revision " \
           "cannot have them" in staging.stderr
    assert not world.live(STAGING).exists()
    production = hs(cli, world.ci, "deploy", PROFILE, "--rev", "origin/feature", "--yes")
    assert production.exit_code == 4, production
    assert "answers to Production, a production environment (refs/remotes/origin/main): only released versions " \
           "are deployed" in production.stderr
    assert not world.live(PROFILE).exists()


def weaken_everything(mallory: Signer) -> Callable[[Path], None]:
    def change(repo: Path) -> None:
        settings = repo / "hotswap.yaml"
        settings.write_text(settings.read_text().replace("approvals: 2", "approvals: 0")
                            + "default_branch: feature\n")  # the key older hotswap versions read
        (repo / "approvers").write_text(mallory.approvers_line("lead,sre"))
        relabel("Production")(repo)
    return change


def test_a_checked_out_tag_cannot_bring_its_own_trust_root(cli: Cli, world: World,
                                                          keyring: dict[str, Signer]) -> None:
    mallory = keyring["mallory"]
    attacker_release(cli, world, mallory, "1.2.0", weaken_everything(mallory))
    # she even approves it with the key her own approvers file lists
    approved = hs(cli, world.attacker, "approve", PROFILE, "1.2.0", who=mallory)
    assert approved.exit_code == 4 and "is not in the approvers file (refs/remotes/origin/main:approvers)" \
        in approved.stderr
    # the CI job checks the tag out, as many do, and deploys it
    git(world.ci, "fetch", "-q", "--tags", "origin")
    git(world.ci, "checkout", "-q", f"refs/tags/{PROFILE}/1.2.0")
    assert "approvals: 0" in (world.ci / "hotswap.yaml").read_text()  # the working tree says so...
    deployed = hs(cli, world.ci, "deploy", PROFILE, "1.2.0", "--yes")
    assert deployed.exit_code == 4, deployed  # ...but main's policy and approvers decide
    assert "short of its quorum (2 required)" in deployed.stderr
    assert not world.live(PROFILE).exists()


def test_a_forged_ledger_record_does_not_make_a_version_deployable(cli: Cli, world: World,
                                                                  keyring: dict[str, Signer]) -> None:
    mallory = keyring["mallory"]
    attacker_release(cli, world, mallory, "1.6.0", relabel("Production"))
    record = {"id": "deploy-forged", "kind": "deploy", "profile": PROFILE, "version": "1.6.0", "sha256": "00",
              "status": "completed", "exit_code": 0, "who": "alice@example.com", "instances": []}
    repo = world.attacker
    blob = git(repo, "hash-object", "-w", "--stdin", input=json.dumps(record)).strip()
    tree = git(repo, "mktree", input=f"100644 blob {blob}\trecord.json\n").strip()
    commit = git(repo, "commit-tree", tree, "-m", f"deploy {PROFILE} 1.6.0: completed (deploy-forged)",
                 env=mallory.env()).strip()
    git(repo, "push", "-q", "origin", f"{commit}:refs/hotswap/ledger/{PROFILE}")
    git(world.ci, "fetch", "-q", "--tags", "origin")
    named = hs(cli, world.ci, "rollback", PROFILE, "--to", "1.6.0", "--yes")
    assert named.exit_code == 4, named
    assert "rollback to 1.6.0" in named.stderr and "short of its quorum (2 required)" in named.stderr
    assert not world.live(PROFILE).exists()


def test_the_gate_lets_an_approved_version_through_and_signs_the_ledger(
        cli: Cli, world: World, keyring: dict[str, Signer]) -> None:
    """The control: on the same world, two valid approvals deploy, and the deployer's key signs the record."""
    git(world.ops, "push", "-q", "origin", "--tags")
    for who in ("alice", "bob"):
        assert hs(cli, world.ops, "approve", PROFILE, "1.0.0", "--push", who=keyring[who]).exit_code == 0
    git(world.ci, "fetch", "-q", "--tags", "origin")
    deployed = hs(cli, world.ci, "deploy", PROFILE, "1.0.0", "--yes", who=keyring["alice"])
    assert deployed.exit_code == 0, deployed
    assert world.live(PROFILE).exists()
    raw = git(world.ci, "cat-file", "commit", f"refs/hotswap/ledger/{PROFILE}")
    assert "gpgsig -----BEGIN SSH SIGNATURE-----" in raw  # evidence of who wrote it, never authority


def forged_change(world: World, real: Signer, posing_as: Signer, version: str) -> None:
    """`real` commits a change (signing it with their own key, as their git does) with the author
    and committer set to `posing_as`; it lands on main and is released."""
    repo = world.ops
    config = repo / "profiles" / PROFILE / "config.yaml"
    config.write_text(config.read_text() + "# raise the limits a little\n")
    git(repo, "add", "-A")
    env = {**real.env(), "GIT_AUTHOR_NAME": posing_as.name, "GIT_AUTHOR_EMAIL": posing_as.email,
           "GIT_COMMITTER_NAME": posing_as.name, "GIT_COMMITTER_EMAIL": posing_as.email}
    git(repo, "commit", "-q", "-S", "-m", "raise the limits", env=env)
    git(repo, "tag", "-a", f"{PROFILE}/{version}", "-m", f"release {version}", env=real.env())
    git(repo, "push", "-q", "origin", "main", "--tags")


def require_signed_commits(world: World, by: Signer) -> None:
    """`by` (a listed key: from now on every commit in a release's range must be signed by one)
    turns the switch on in hotswap.yaml on main."""
    settings = world.ops / "hotswap.yaml"
    settings.write_text(settings.read_text().replace("    max_age: 7d\n", "    max_age: 7d\n"
                                                                        "    require_signed_commits: true\n"))
    git(world.ops, "commit", "-q", "-S", "-am", "Production: signed commits", env=by.env())
    git(world.ops, "push", "-q", "origin", "main")


def test_self_approval_goes_by_the_signer_not_the_author_field(cli: Cli, world: World,
                                                               keyring: dict[str, Signer]) -> None:
    alice, bob, pat = keyring["alice"], keyring["bob"], keyring["pat"]
    require_signed_commits(world, bob)
    forged_change(world, alice, pat, "1.1.0")  # alice's change, dressed up as pat's
    own = hs(cli, world.ops, "approve", PROFILE, "1.1.0", who=alice)
    assert own.exit_code == 4, own
    assert f"alice@example.com signed commits in {PROFILE} 1.1.0" in own.stderr
    assert "no self-approval" in own.stderr
    signed_tag(world.ops, alice, f"approvals/{PROFILE}/1.1.0/alice@example.com", f"{PROFILE}/1.1.0",
               f"Approve {PROFILE} 1.1.0")  # by hand, around the command's check
    assert hs(cli, world.ops, "approve", PROFILE, "1.1.0", who=pat).exit_code == 0  # pat wrote none of it
    assert hs(cli, world.ops, "approve", PROFILE, "1.1.0", who=bob).exit_code == 0
    git(world.ops, "push", "-q", "origin", "--tags")
    git(world.ci, "fetch", "-q", "--tags", "origin")
    check = hs(cli, world.ci, "approvals", PROFILE, "1.1.0", "--json")
    report = json.loads(check.stdout)
    assert report["self_approval_by"] == "commit signers" and report["authors"] == ["alice@example.com"]
    assert {a["approver"]: a["status"] for a in report["approvals"]} == {
        "alice@example.com": "self-approval", "pat@example.com": "valid", "bob@example.com": "valid"}
    deployed = hs(cli, world.ci, "deploy", PROFILE, "1.1.0", "--yes", who=bob)
    assert deployed.exit_code == 0, deployed  # pat and bob make the quorum; alice's own tag never counted
    assert world.live(PROFILE).exists()


def test_without_signed_commits_the_author_field_decides(cli: Cli, world: World, keyring: dict[str, Signer]) -> None:
    """The documented limit of the author rule: a forged author field gets past it."""
    alice, pat = keyring["alice"], keyring["pat"]
    forged_change(world, alice, pat, "1.1.0")
    assert hs(cli, world.ops, "approve", PROFILE, "1.1.0", who=alice).exit_code == 0
    refused = hs(cli, world.ops, "approve", PROFILE, "1.1.0", who=pat)
    assert refused.exit_code == 4 and "pat@example.com authored changes" in refused.stderr
    signed = hs(cli, world.ops, "approve", PROFILE, "1.1.0", "--require-signed-commits", who=pat)
    assert signed.exit_code == 0, signed  # the flag judges by signer, as the policy switch does
