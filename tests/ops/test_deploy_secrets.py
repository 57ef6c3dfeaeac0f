"""A secret reaches the instance decrypted, and appears in no output, event or ledger record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV

PLAINTEXT = "sk_test_demo_4242424242"  # templates/payment-service.yaml, encrypted under the demo key
PROFILE = "payment-service.development"


def test_secret_is_pushed_but_never_printed(config_repo: Path, tmp_path: Path, cli: Callable) -> None:
    instance = tmp_path / "pay-dev-1" / "config.json"
    instance.parent.mkdir()
    profile_file = config_repo / "profiles" / PROFILE / "profile.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["targets"][0]["transport"]["path"] = str(instance)
    profile_file.write_text(yaml.safe_dump(profile))
    import subprocess

    subprocess.run(["git", "commit", "-qam", "point at a tmp instance"], cwd=config_repo, check=True)
    env = {KEY_ENV: DEMO_SECRET_KEY}
    repo = ("--repo", str(config_repo))
    outputs = []

    def run(*args: str) -> None:
        result = cli(*repo, *args, env=env)
        outputs.append(result.stdout + result.stderr)
        assert result.exit_code == 0, result

    run("release", PROFILE, "1.0.0", "-m", "first")
    run("deploy", PROFILE, "--yes")
    assert json.loads(instance.read_text())["payments"]["apiKey"] == PLAINTEXT  # the instance needs it
    data = json.loads(instance.read_text())
    data["payments"]["apiKey"] = "sk_test_rotated_by_hand"
    instance.write_text(json.dumps(data))
    run("diff", PROFILE, "1.0.0", "live:pay-dev-1")
    assert "payments.apiKey" in outputs[-1] and "***" in outputs[-1]  # the change shows, masked
    run("deploy", PROFILE, "--yes", "--json")
    run("render", PROFILE)
    run("deployments", PROFILE, "--json")
    run("status", PROFILE, "--json")
    run("rollback", PROFILE, "--to", "1.0.0", "--yes", "--dry-run")
    for text in outputs:
        assert PLAINTEXT not in text
        assert "sk_test_rotated_by_hand" not in text
