"""A breaking version needs the extra quorum hotswap.yaml's `breaking:` asks (real signed approvals):
`approvals --check`, the deploy plan and `--dry-run` say why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from approval_helpers import PROFILE, Signer, git
from test_quorum import approve

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV

Cli = Callable[..., Any]


@pytest.fixture
def breaking_repo(repo: Path, admin: Signer, keyring: dict[str, Signer], cli: Cli) -> Path:
    """`repo` plus: Production's breaking changes need one more approval, from an sre; 1.2.0 adds a
    feature flag (not breaking), 1.3.0 (by pat) removes it again: a key removed is breaking."""
    settings = repo / "hotswap.yaml"
    data = yaml.safe_load(settings.read_text())
    data["environments"]["Production"]["breaking"] = {"approvals": "+1", "roles": ["sre"]}
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "commit", "-qam", "breaking changes need an sre", env=admin.env())
    config = repo / "profiles" / PROFILE / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("  savedCards: true\n", "  savedCards: true\n  betaCheckout: true\n"))
    git(repo, "commit", "-qam", "beta checkout", env=keyring["pat"].env())
    git(repo, "tag", "-a", f"{PROFILE}/1.2.0", "-m", "release 1.2.0", env=admin.env())
    config.write_text(text)
    git(repo, "commit", "-qam", "beta checkout is over", env=keyring["pat"].env())
    git(repo, "tag", "-a", f"{PROFILE}/1.3.0", "-m", "release 1.3.0", env=admin.env())
    return repo


def check(cli: Cli, repo: Path, version: str) -> Any:
    return cli("--repo", str(repo), "approvals", PROFILE, version, "--check", "--json")


def test_a_breaking_version_needs_the_extra_approval_from_the_named_role(
        cli: Cli, breaking_repo: Path, keyring: dict[str, Signer]) -> None:
    for who in ("alice", "carol"):  # two leads: enough for an ordinary version
        assert approve(cli, breaking_repo, keyring[who], "1.3.0").exit_code == 0
    short = check(cli, breaking_repo, "1.3.0")
    assert short.exit_code == 4, short
    report = json.loads(short.stdout)
    assert report["required"] == 3 and report["breaking_roles"] == ["sre"]
    assert any("$.features.betaCheckout removed" in reason for reason in report["breaking"]), report["breaking"]
    assert "1 approval from roles sre (a breaking change)" in report["missing"]

    planned = cli("--repo", str(breaking_repo), "deploy", PROFILE, "1.3.0", "--dry-run", env={KEY_ENV: DEMO_SECRET_KEY})
    assert planned.exit_code == 4, planned
    assert "breaking change (config: $.features.betaCheckout removed" in planned.stdout + planned.stderr
    assert "from roles sre" in planned.stdout + planned.stderr

    assert approve(cli, breaking_repo, keyring["bob"], "1.3.0").exit_code == 0  # the sre
    ok = check(cli, breaking_repo, "1.3.0")
    assert ok.exit_code == 0, ok
    assert json.loads(ok.stdout)["met"] is True


def test_a_version_that_breaks_nothing_needs_the_usual_quorum(
        cli: Cli, breaking_repo: Path, keyring: dict[str, Signer]) -> None:
    for who in ("alice", "carol"):
        assert approve(cli, breaking_repo, keyring[who], "1.2.0").exit_code == 0  # adds a key: not breaking
    ok = check(cli, breaking_repo, "1.2.0")
    assert ok.exit_code == 0, ok
    report = json.loads(ok.stdout)
    assert (report["required"], report["breaking"]) == (2, [])


def test_moving_to_a_schema_version_that_breaks_its_mode_needs_the_extra_approval(
        cli: Cli, breaking_repo: Path, admin: Signer, keyring: dict[str, Signer]) -> None:
    schemas = breaking_repo / "schemas" / "payment-config"
    schema = json.loads((schemas / "1.0.json").read_text())
    schema["properties"]["rateLimits"]["additionalProperties"]["minimum"] = 10  # narrower: not backward
    schema["$id"] = "payment-config/2.0"
    (schemas / "2.0.json").write_text(json.dumps(schema, indent=2) + "\n")
    profile = breaking_repo / "profiles" / PROFILE / "profile.yaml"
    profile.write_text(profile.read_text().replace("schema: payment-config/1.0", "schema: payment-config/2.0"))
    git(breaking_repo, "add", "-A")
    git(breaking_repo, "commit", "-qm", "payment-config 2.0", env=keyring["pat"].env())
    git(breaking_repo, "tag", "-a", f"{PROFILE}/1.4.0", "-m", "release 1.4.0", env=admin.env())
    for who in ("alice", "carol"):
        assert approve(cli, breaking_repo, keyring[who], "1.4.0").exit_code == 0
    short = check(cli, breaking_repo, "1.4.0")
    assert short.exit_code == 4, short
    [reason] = json.loads(short.stdout)["breaking"]  # the rendered config is the same: only the schema moved
    assert reason.startswith("schema payment-config/1.0 -> payment-config/2.0 is not backward-compatible: "
                             "$.rateLimits.*") and "minimum 1 -> 10" in reason, reason
