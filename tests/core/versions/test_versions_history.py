"""history: every commit that changed a profile's rendered config, template- and schema-only too."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from support.example import PROFILE, commit, edit

from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.core.versions.history import config_at, profile_history


def test_history_follows_templates_and_schema_and_skips_unrelated_commits(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0", "-m", "first").exit_code == 0
    edit(config_repo / "templates/base-service.yaml", "readMs: 10000", "readMs: 12000")
    template_commit = commit(config_repo, "base template: longer reads")
    edit(config_repo / "templates/gateway.yaml", "burst: 100", "burst: 150")
    commit(config_repo, "gateway only")  # not a template payment-service uses
    edit(config_repo / "profiles/order-worker.staging/config.json", "{", "{ ")
    commit(config_repo, "other profile")
    edit(config_repo / "schemas/payment-config/1.0.json", '"maximum": 500', '"maximum": 400')
    schema_commit = commit(config_repo, "schema: tighter pool")
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "charge: 1200", "charge: 1300")
    own = commit(config_repo, "prod: pool and rate")
    assert hs("release", PROFILE, "1.1.0").exit_code == 0
    assert hs("release", PROFILE, "1.1.1").exit_code == 0  # two names for one commit

    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert [e.message for e in entries] == ["prod: pool and rate", "schema: tighter pool",
                                            "base template: longer reads", "initial config"]
    assert entries[0].commit == own and entries[0].versions == ("1.1.1", "1.1.0")
    assert entries[0].changed == ("$.database.pool.max", "$.rateLimits.charge")
    assert entries[1].commit == schema_commit and entries[1].schema_changed and entries[1].changed == ()
    assert entries[2].commit == template_commit and entries[2].changed == ("$.http.timeouts.readMs",)
    assert entries[3].note == "created" and entries[3].versions == ("1.0.0",)
    assert entries[3].author == "Test Author <author@example.com>"

    data = json.loads(hs("history", PROFILE, "--json").stdout)
    assert [d["commit"] for d in data] == [e.commit for e in entries]
    assert data[0]["changed"] == ["$.database.pool.max", "$.rateLimits.charge"]
    text = hs("history", PROFILE)
    assert text.exit_code == 0
    assert f"{own[:12]}" in text.stdout and "(1.1.1, 1.1.0)" in text.stdout
    assert "changed: $.http.timeouts.readMs" in text.stdout and "[schema changed]" in text.stdout


def test_history_notes_a_commit_that_breaks_rendering(config_repo: Path) -> None:
    edit(config_repo / f"profiles/{PROFILE}/profile.yaml", "extends: [payment-service]", "extends: [nope]")
    commit(config_repo, "broken chain")
    entries = profile_history(GitRepo(config_repo), PROFILE)
    assert entries[0].note.startswith("not renderable: template 'nope' not found")


def test_config_at_versions_revisions_and_worktree(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    repo = GitRepo(config_repo)
    assert config_at(repo, PROFILE, "1.0.0").data["database"]["pool"]["max"] == 80
    assert config_at(repo, PROFILE, "HEAD").data["database"]["pool"]["max"] == 80
    work = config_at(repo, PROFILE, "worktree")
    assert work.data["database"]["pool"]["max"] == 90 and work.commit is None
    assert work.describe() == f"{PROFILE} working tree"
