"""A secret is bound to the file and JSONPath that define it (ENC[v2:...]): a ciphertext copied
from production into a profile whose instances someone else controls does not decrypt, and a
legacy v1 value (bound to nothing) is only trusted where the protected ref holds it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from support.example import PROD_SECRET, PROFILE, commit, git, set_api_key, v1_token
from support.instances import Listener

DEV = "payment-service.development"


def dev_targets(root: Path, transport: dict[str, str]) -> None:
    meta = root / "profiles" / DEV / "profile.yaml"
    data = yaml.safe_load(meta.read_text())
    data["targets"] = [{"name": "pay-dev-1", "transport": transport}]
    meta.write_text(yaml.safe_dump(data, sort_keys=False))


def dev_instance(root: Path, tmp_path: Path) -> Path:
    """Point the development profile at a file the test can watch."""
    live = tmp_path / "dev-instance" / "config.json"
    live.parent.mkdir()
    dev_targets(root, {"type": "local", "path": str(live)})
    return live


def production_token(root: Path) -> str:
    return str(yaml.safe_load((root / "profiles" / PROFILE / "config.yaml").read_text())["payments"]["apiKey"])


def test_a_production_ciphertext_copied_to_development_does_not_decrypt(
        config_repo: Path, hs: Callable, demo_key: str, listener: Listener) -> None:
    git(config_repo, "checkout", "-q", "-b", "feature")
    dev_targets(config_repo, {"type": "http", "url": f"{listener.url}/config"})  # the attacker's endpoint
    set_api_key(config_repo, DEV, production_token(config_repo))  # the live PSP key, on a dev box
    commit(config_repo, "dev: use the real PSP for a quick test")
    deployed = hs("deploy", DEV, "--rev", "feature", "--yes")
    assert deployed.exit_code == 3, deployed  # the validation gate decrypts with the key, and refuses
    assert f"{DEV} feature does not validate: profiles/{DEV}/config.yaml" in deployed.stderr
    assert "cannot decrypt this secret: wrong key, or a value encrypted for another place " \
           f"(not profiles/{DEV}/config.yaml $.payments.apiKey)" in deployed.stderr
    planned = hs("deploy", DEV, "--rev", "feature", "--dry-run")
    assert planned.exit_code == 3, planned
    assert listener.seen == []  # not even the dry run's read of what runs there
    assert PROD_SECRET not in deployed.stdout + deployed.stderr + planned.stdout + planned.stderr
    checked = hs("validate", DEV)
    assert checked.exit_code == 3 and f"profiles/{DEV}/config.yaml" in checked.stdout
    assert "cannot decrypt this secret" in checked.stdout
    revealed = hs("show", DEV, "feature", "--reveal")
    assert revealed.exit_code == 1 and PROD_SECRET not in revealed.stdout + revealed.stderr


def test_a_v1_secret_is_trusted_only_where_the_protected_ref_holds_it(
        config_repo: Path, hs: Callable, demo_key: str, tmp_path: Path) -> None:
    live = dev_instance(config_repo, tmp_path)
    legacy_prod = v1_token(PROD_SECRET)
    set_api_key(config_repo, PROFILE, legacy_prod)
    set_api_key(config_repo, DEV, v1_token("sk_test_dev_0000"))
    commit(config_repo, "secrets from before v2")
    on_main = hs("deploy", DEV, "--rev", "main", "--yes")
    assert on_main.exit_code == 0, on_main  # main holds it there: deployed, with a nudge
    assert "1 secret(s) in the v1 format, not bound to where they stand: re-encrypt them with " \
           "`hotswap secret rotate`" in on_main.stdout
    assert json.loads(live.read_text())["payments"]["apiKey"] == "sk_test_dev_0000"
    live.unlink()

    git(config_repo, "checkout", "-q", "-b", "feature")
    set_api_key(config_repo, DEV, legacy_prod)  # a v1 value decrypts anywhere: the copy is the attack
    commit(config_repo, "dev: borrow the live key")
    copied = hs("deploy", DEV, "--rev", "feature", "--yes")
    assert copied.exit_code == 1, copied
    assert f"profiles/{DEV}/config.yaml $.payments.apiKey: a v1 secret (not bound to where it stands) that the " \
           "trusted ref (refs/heads/main) does not hold there; nothing was sent" in copied.stderr
    assert not live.exists()
    assert PROD_SECRET not in copied.stdout + copied.stderr
    plan = hs("deploy", DEV, "--rev", "main", "--yes", "--dry-run", "--json")
    assert plan.exit_code == 0 and json.loads(plan.stdout)["notes"], plan
