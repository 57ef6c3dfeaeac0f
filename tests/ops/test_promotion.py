"""Environments as a promotion path, through the real CLI on local-file instances with a bare
origin and a teammate's clone: Production waits for evidence from Staging's ledger (never
deployed, not long enough, reverted), an emergency override takes a real signed approval, a
freeze window holds a deploy but not a rollback, and `hotswap advance` releases and deploys."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fleet import WORKER_CONFIG, git, local_target
from support.repo import EXAMPLE_REPO

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.versions.git import GitRepo

Cli = Callable[..., Any]
TEMPLATE = {"queue": WORKER_CONFIG["queue"]}


class Service:
    """web.staging and web.production extending one template; origin and a teammate's clone."""

    def __init__(self, tmp_path: Path, cli: Cli, signer: dict[str, str], production: dict[str, Any],
                 staging: dict[str, Any] | None = None) -> None:
        self.cli, self.tmp, self.signer = cli, tmp_path, signer
        self.root = tmp_path / "repo"
        self.files = tmp_path / "instances"
        (self.root / "schemas/worker-config").mkdir(parents=True)
        src = EXAMPLE_REPO / "schemas/worker-config/1.0.json"
        (self.root / "schemas/worker-config/1.0.json").write_text(src.read_text())
        (self.root / "templates").mkdir()
        (self.root / "templates/web.yaml").write_text(yaml.safe_dump(TEMPLATE))
        (self.root / "approvers").write_text(f'alice@example.com namespaces="git" roles="lead" {signer["public"]}\n')
        self.settings(production, staging)
        for env, count in (("Staging", 1), ("Production", 2)):
            name = f"web.{env.lower()}"
            directory = self.root / "profiles" / name
            directory.mkdir(parents=True)
            targets = [local_target(self.files, f"{env.lower()}-{i}") for i in range(1, count + 1)]
            profile = {"environment": env, "serviceType": "Worker", "schema": "worker-config/1.0",
                       "extends": ["web"], "strategy": {"type": "direct", "bake": "0s"},
                       "health": {"interval": "0.1s"}, "targets": targets}
            (directory / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
            (directory / "config.json").write_text(json.dumps({"concurrency": count * 4}) + "\n")
        git(self.root, "init", "-q", "-b", "main")
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", "web")
        bare = tmp_path / "origin.git"
        git(tmp_path, "clone", "-q", "--bare", str(self.root), str(bare))
        git(self.root, "remote", "add", "origin", str(bare))
        git(self.root, "fetch", "-q", "origin")
        git(self.root, "branch", "-q", "-u", "origin/main")
        self.teammate = tmp_path / "teammate"
        git(tmp_path, "clone", "-q", str(bare), str(self.teammate))

    def settings(self, production: dict[str, Any], staging: dict[str, Any] | None = None) -> None:
        (self.root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {
            "Development": {"approvals": 0}, "Staging": {"approvals": 0, **(staging or {})},
            "Production": {"approvals": 0, **production}}}, sort_keys=False))

    def trust(self, production: dict[str, Any], staging: dict[str, Any] | None = None) -> None:
        """A new policy on the default branch, pushed: the trusted ref."""
        self.settings(production, staging)
        git(self.root, "commit", "-qam", "policy")
        git(self.root, "push", "-q", "origin", "main")

    def change(self, prefetch: int) -> None:
        """A change to the template both profiles extend."""
        (self.root / "templates/web.yaml").write_text(yaml.safe_dump(
            {"queue": {**WORKER_CONFIG["queue"], "prefetch": prefetch}}))
        git(self.root, "commit", "-qam", f"prefetch {prefetch}")
        git(self.root, "push", "-q", "origin", "main")

    def release(self, version: str, *envs: str) -> None:
        for env in envs or ("staging", "production"):
            result = self.hs("release", f"web.{env}", version, "--push")
            assert result.exit_code == 0, result

    def hs(self, *args: str, where: Path | None = None, **kwargs: Any) -> Any:
        return self.cli("--repo", str(where or self.root), *args, **kwargs)

    def deploy(self, env: str, version: str, *args: str, where: Path | None = None) -> Any:
        if where is not None:
            git(where, "fetch", "-q", "--tags", "origin")
        return self.hs("deploy", f"web.{env}", version, "--yes", *args, where=where)

    def records(self, profile: str) -> list[dict[str, Any]]:
        return read_records(GitRepo(self.root), profile)


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An approver with a real ssh key, as her own git would be set up to sign."""
    keys = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(keys / "alice")],
                   check=True)
    public = " ".join((keys / "alice.pub").read_text().split()[:2])
    return {"key": str(keys / "alice"), "public": public}


@pytest.fixture
def make_service(tmp_path: Path, cli: Cli, alice: dict[str, str]) -> Callable[..., Service]:
    return lambda production, staging=None: Service(tmp_path, cli, alice, production, staging)


def approve(service: Service, profile: str, version: str) -> None:
    pairs = [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gpg.format", "ssh"),
             ("user.signingkey", service.signer["key"])]
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com"}
    for i, (k, v) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
    result = service.hs("approve", profile, version, "--push", env=env)
    assert result.exit_code == 0, result


def requires(healthy_for: str) -> dict[str, Any]:
    return {"requires": {"environment": "Staging", "healthy_for": healthy_for, "override_approvals": "+1"}}


def test_production_waits_for_evidence_in_staging_from_another_clone(make_service: Callable[..., Service]) -> None:
    svc = make_service(requires("1h"))
    svc.release("1.0.0")

    never = svc.deploy("production", "1.0.0")
    assert never.exit_code == 4, never
    assert ("web.production 1.0.0: Production requires it to run healthy in Staging for 1h first, and it was "
            "never deployed in web.staging: an override needs 1 valid approval(s) (0 + 1), it has 0") in never.stderr
    assert not svc.files.joinpath("production-1/worker.json").exists()

    staged = svc.deploy("staging", "1.0.0", where=svc.teammate)  # the teammate's record reaches origin
    assert staged.exit_code == 0, staged
    staging_run = svc.records("web.staging")
    assert staging_run == [], "the record is on origin only until this clone fetches the ledger"

    young = svc.hs("deploy", "web.production", "1.0.0", "--dry-run")
    assert young.exit_code == 4, young
    assert "of 1h in web.staging (since deploy-" in young.stdout + young.stderr, young

    svc.trust(requires("1s"))
    time.sleep(1.2)
    shipped = svc.deploy("production", "1.0.0")
    assert shipped.exit_code == 0, shipped
    record_id = svc.records("web.staging")[0]["id"]
    assert re.search(rf"note: promotion: ran \d+s in web.staging since {record_id} \(1.0.0\), no revert\n",
                     shipped.stdout), shipped.stdout
    assert json.loads(svc.files.joinpath("production-1/worker.json").read_text())["concurrency"] == 8


def test_a_change_reverted_in_staging_stops_until_an_override_with_the_extra_approval(
        make_service: Callable[..., Service]) -> None:
    svc = make_service(requires("1s"))
    svc.release("1.0.0")
    assert svc.deploy("staging", "1.0.0", where=svc.teammate).exit_code == 0
    svc.change(prefetch=10)
    svc.release("1.1.0")
    assert svc.deploy("staging", "1.1.0", where=svc.teammate).exit_code == 0
    back = svc.hs("rollback", "web.staging", "--to", "1.0.0", "--yes", where=svc.teammate)
    assert back.exit_code == 0, back
    time.sleep(1.2)

    refused = svc.deploy("production", "1.1.0")
    assert refused.exit_code == 4, refused
    rollback_id = svc.records("web.staging")[0]["id"]
    assert rollback_id.startswith("rollback-")
    assert f"it was reverted in web.staging by {rollback_id} (to 1.0.0) at " in refused.stderr, refused

    # 1.0.0 is what the rollback put back in staging: that is evidence for it
    earlier = svc.hs("deploy", "web.production", "1.0.0", "--dry-run")
    assert earlier.exit_code == 0, earlier
    assert re.search(rf"promotion: ran \d+s in web.staging since {rollback_id} \(1.0.0\), no revert",
                     earlier.stdout), earlier.stdout

    approve(svc, "web.production", "1.1.0")  # approvals 0 + 1 for the override
    forced = svc.deploy("production", "1.1.0")
    assert forced.exit_code == 0, forced
    assert "note: emergency override: Production requires it to run healthy in Staging for 1s first, and it was " \
           f"reverted in web.staging by {rollback_id}" in forced.stdout
    assert "it goes with 1 valid approval(s) (0 + 1 for the override: alice@example.com)" in forced.stdout
    assert "approvals: approved by: alice@example.com (lead)" in forced.stdout
    assert svc.records("web.production")[0]["approvals"] == ["alice@example.com"]
    assert json.loads(svc.files.joinpath("production-1/worker.json").read_text())["queue"]["prefetch"] == 10


def test_a_production_only_change_needs_no_new_staging_run(make_service: Callable[..., Service]) -> None:
    svc = make_service(requires("0s"))
    svc.release("1.0.0")
    assert svc.deploy("staging", "1.0.0").exit_code == 0
    (svc.root / "profiles/web.production/config.json").write_text(json.dumps({"concurrency": 16}) + "\n")
    git(svc.root, "commit", "-qam", "production only")
    svc.release("1.1.0", "production")
    assert svc.deploy("production", "1.1.0").exit_code == 0  # the shared template and schema did not change
    svc.change(prefetch=10)
    svc.release("1.2.0", "production")
    shared = svc.hs("deploy", "web.production", "1.2.0", "--dry-run")
    assert shared.exit_code == 4 and "never deployed in web.staging" in shared.stdout + shared.stderr, shared


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M}-{end:%Y-%m-%d %H:%M} UTC"


def test_a_freeze_window_holds_a_deploy_but_not_a_rollback(make_service: Callable[..., Service]) -> None:
    svc = make_service({})
    svc.release("1.0.0")
    assert svc.deploy("production", "1.0.0").exit_code == 0
    svc.change(prefetch=10)
    svc.release("1.1.0")
    now = datetime.now(UTC)
    window = _window(now - timedelta(hours=1), now + timedelta(days=1))
    svc.trust({"freeze": [window]})

    held = svc.deploy("production", "1.1.0")
    assert held.exit_code == 4, held
    until = (now + timedelta(days=1)).strftime("%a %Y-%m-%d %H:%M")
    assert f'Production is frozen until {until} UTC (freeze window "{window}")' in held.stderr, held
    assert "an override needs 1 valid approval(s) (0 + 1), it has 0" in held.stderr
    assert svc.deploy("staging", "1.1.0").exit_code == 0  # only Production is frozen

    approve(svc, "web.production", "1.1.0")
    forced = svc.deploy("production", "1.1.0")
    assert forced.exit_code == 0, forced
    assert "note: emergency override: Production is frozen until" in forced.stdout
    back = svc.hs("rollback", "web.production", "--to", "1.0.0", "--yes")  # undoing needs no override
    assert back.exit_code == 0, back

    svc.trust({"freeze": [_window(now - timedelta(days=2), now - timedelta(days=1))]})
    assert svc.deploy("production", "1.1.0").exit_code == 0  # the window is over

    svc.trust({"freeze": ["weekends"]})
    bad = svc.deploy("production", "1.0.0")
    assert bad.exit_code == 1 and 'freeze window "weekends" is not understood' in bad.stderr, bad


def test_advance_releases_what_ran_in_staging_and_deploys_it_to_production(
        make_service: Callable[..., Service]) -> None:
    svc = make_service(requires("1h"))
    svc.release("1.0.0", "staging")
    assert svc.deploy("staging", "1.0.0", where=svc.teammate).exit_code == 0

    dry = svc.hs("advance", "web", "--to", "production", "--dry-run")
    assert dry.exit_code == 0, dry
    commit = git(svc.root, "rev-parse", "HEAD").strip()[:12]
    assert "would release web.production 1.0.0 at commit " + commit in dry.stderr, dry
    assert not GitRepo(svc.root).git("tag", "-l", "web.production/*").stdout.strip()

    young = svc.hs("advance", "web", "--to", "Production", "--yes")
    assert young.exit_code == 4, young  # released, then held: staging has not run it for 1h
    assert "released web.production 1.0.0 at commit " in young.stderr and "of 1h in web.staging" in young.stderr
    svc.trust(requires("1s"))
    time.sleep(1.2)
    went = svc.hs("advance", "web", "--to", "Production", "--yes")
    assert went.exit_code == 0, went
    staging_id = svc.records("web.staging")[0]["id"]
    assert f"web.staging runs 1.0.0 (commit {commit}, {staging_id}): advancing it to web.production " \
           "(Production)" in went.stderr
    assert "web.production 1.0.0 is that commit already released" in went.stderr
    assert "promotion: ran " in went.stdout
    assert [r["version"] for r in svc.records("web.production")] == ["1.0.0"]
    assert git(svc.tmp / "origin.git", "tag", "-l", "web.production/*").strip() == "web.production/1.0.0"


def _rec(rid: str, status: str, commit: str, finished: str, kind: str = "deploy") -> dict[str, Any]:
    return {"id": rid, "kind": kind, "status": status, "commit": commit, "version": commit.upper(),
            "finished_at": f"2026-12-01T{finished}:00Z"}


NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("records", "met", "detail"), [  # newest first; "c" carries the change
    ([], False, "it was never deployed in web.staging"),
    ([_rec("d2", "reverted", "c", "11:00")], False, "it never completed in web.staging: d2 was reverted at "),
    ([_rec("d1", "completed", "c", "10:48")], True, "ran 1h12m in web.staging since d1 (C), no revert"),
    ([_rec("d1", "completed", "c", "11:48")], False, "it ran only 12m of 1h in web.staging (since d1 at "),
    ([_rec("d2", "completed", "x", "11:30"), _rec("d1", "completed", "c", "10:00")], True,
     "ran 1h30m in web.staging since d1 (C) until d2 replaced it, no revert"),
    ([_rec("d2", "completed", "x", "10:30"), _rec("d1", "completed", "c", "10:00")], False,
     "it ran only 30m of 1h in web.staging (since d1 at 2026-12-01T10:00:00Z) until d2 replaced it"),
    ([_rec("r1", "completed", "x", "11:00", "rollback"), _rec("d1", "completed", "c", "09:00")], False,
     "it was reverted in web.staging by r1 (to X) at 2026-12-01T11:00:00Z"),
    ([_rec("d2", "reverted", "c", "11:00"), _rec("d1", "completed", "c", "09:00")], False,
     "d2 of C in web.staging was reverted at 2026-12-01T11:00:00Z"),
    ([_rec("d2", "reverted", "x", "11:00"), _rec("d1", "completed", "c", "09:00")], True,
     "ran 3h in web.staging since d1 (C), no revert"),  # another change failed and put this one back
    ([_rec("r1", "completed", "c", "10:00", "rollback"), _rec("d1", "completed", "x", "09:00")], True,
     "ran 2h in web.staging since r1 (C), no revert"),  # rolled back to it: it runs there again
])
def test_the_evidence_from_a_ledger(records: list[dict[str, Any]], met: bool, detail: str) -> None:
    from hotswap_cli.core.deploy.promotion import judge

    evidence = judge(records, lambda commit: commit == "c", "web.staging", "Staging", 3600.0, NOON)
    assert evidence.met is met
    assert evidence.detail.startswith(detail), evidence.detail
