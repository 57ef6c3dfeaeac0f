"""`hotswap secret rotate`: every secret re-encrypted under a new key, all or nothing; and a key
fetched by a command (a Vault or KMS CLI) instead of sitting in the environment."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from support.example import OTHER_KEY, PROD_SECRET, PROFILE, TEMPLATE_SECRET, set_api_key, v1_token

from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_COMMAND_ENV

NEW_KEY = "1f" * 32
FILES = (f"profiles/{PROFILE}/config.yaml", "templates/payment-service.yaml")


def snapshot(root: Path) -> dict[str, bytes]:
    return {f: (root / f).read_bytes() for f in FILES}


def revealed(hs: Callable, profile: str, env: dict[str, str]) -> str:
    result = hs("show", profile, "worktree", "--reveal", "--format", "json", env=env)
    assert result.exit_code == 0, result
    return str(json.loads(result.stdout)["payments"]["apiKey"])


def test_rotate_to_a_new_key_rewrites_every_secret_and_nothing_else(
        config_repo: Path, hs: Callable, demo_key: str, tmp_path: Path) -> None:
    (config_repo / FILES[0]).write_text((config_repo / FILES[0]).read_text().replace("payments:", "payments:  # PSP"))
    before = snapshot(config_repo)
    key_file = tmp_path / "new.key"
    key_file.write_text(NEW_KEY + "\n")
    dry = hs("secret", "rotate", "--new-key-file", str(key_file), "--dry-run", "--json")
    assert dry.exit_code == 0, dry
    assert {(r["file"], r["path"], r["new_key"]) for r in json.loads(dry.stdout)["rotated"]} == \
        {(f, "$.payments.apiKey", True) for f in FILES}
    assert snapshot(config_repo) == before  # a dry run writes nothing
    rotated = hs("secret", "rotate", "--new-key-file", str(key_file))
    assert rotated.exit_code == 0, rotated
    assert "2 secret(s) re-encrypted in 2 file(s)" in rotated.stderr
    after = snapshot(config_repo)
    assert all(after[f] != before[f] for f in FILES)
    assert b"payments:  # PSP" in after[FILES[0]]  # only the value's line changed
    for out in (dry, rotated):
        assert PROD_SECRET not in out.stdout + out.stderr and NEW_KEY not in out.stdout + out.stderr
    new = {"HOTSWAP_SECRET_KEY": NEW_KEY}
    assert revealed(hs, PROFILE, new) == PROD_SECRET
    assert revealed(hs, "payment-service.staging", new) == TEMPLATE_SECRET
    assert hs("show", PROFILE, "worktree", "--reveal").exit_code == 1  # the old key opens nothing now
    again = hs("secret", "rotate", env=new)
    assert again.exit_code == 0 and "nothing to re-encrypt" in again.stderr
    assert snapshot(config_repo) == after


def test_rotation_is_all_or_nothing_and_an_interrupted_one_can_be_finished(
        config_repo: Path, hs: Callable, demo_key: str, tmp_path: Path) -> None:
    key_file = tmp_path / "new.key"
    key_file.write_text(NEW_KEY)
    original = snapshot(config_repo)
    template = config_repo / FILES[1]
    stranger = hs("secret", "set", PROFILE, "$.payments.apiKey", input="under-another-key",
                  env={"HOTSWAP_SECRET_KEY": OTHER_KEY})
    assert stranger.exit_code == 1  # secret set refuses to mix keys, so plant one by hand
    data = yaml.safe_load(template.read_text())
    foreign = yaml.safe_load((config_repo / FILES[0]).read_text())["payments"]["apiKey"]
    template.write_text(template.read_text().replace(data["payments"]["apiKey"], foreign))
    planted = snapshot(config_repo)
    refused = hs("secret", "rotate", "--new-key-file", str(key_file))
    assert refused.exit_code == 1, refused
    assert f"cannot decrypt {FILES[1]} $.payments.apiKey: wrong key" in refused.stderr
    assert "nothing was rotated" in refused.stderr
    assert snapshot(config_repo) == planted  # the profile's good value was not rewritten either

    (config_repo / FILES[1]).write_bytes(original[FILES[1]])
    assert hs("secret", "rotate", "--new-key-file", str(key_file)).exit_code == 0
    (config_repo / FILES[1]).write_bytes(original[FILES[1]])  # as if the run had stopped after one file
    finished = hs("secret", "rotate", "--new-key-file", str(key_file), "--json")
    assert finished.exit_code == 0, finished
    assert [r["file"] for r in json.loads(finished.stdout)["rotated"]] == [FILES[1]]
    assert revealed(hs, "payment-service.staging", {"HOTSWAP_SECRET_KEY": NEW_KEY}) == TEMPLATE_SECRET


def test_rotate_without_a_new_key_binds_v1_values_to_their_place(config_repo: Path, hs: Callable,
                                                                 demo_key: str) -> None:
    set_api_key(config_repo, PROFILE, v1_token(PROD_SECRET))
    result = hs("secret", "rotate", "--json")
    assert result.exit_code == 0, result
    assert json.loads(result.stdout)["rotated"] == [
        {"file": FILES[0], "path": "$.payments.apiKey", "from": "v1", "to": "v2", "new_key": False}]
    assert "ENC[v2:" in (config_repo / FILES[0]).read_text()
    assert revealed(hs, PROFILE, {}) == PROD_SECRET


def key_command(body: str) -> str:
    return shlex.join([sys.executable, "-c", body])


def test_the_key_can_come_from_a_command(config_repo: Path, hs: Callable, tmp_path: Path) -> None:
    seen = tmp_path / "env-seen"
    good = key_command(f"import os, pathlib; pathlib.Path({str(seen)!r}).write_text("
                       f"'\\n'.join(sorted(os.environ))); print({DEMO_SECRET_KEY!r})")
    assert revealed(hs, PROFILE, {KEY_COMMAND_ENV: good}) == PROD_SECRET
    assert KEY_COMMAND_ENV not in seen.read_text().split()  # the command does not see hotswap's key settings

    failing = key_command(f"import sys; print({NEW_KEY!r}); print('vault: permission denied', file=sys.stderr); "
                          "sys.exit(3)")
    result = hs("show", PROFILE, "HEAD", "--reveal", env={KEY_COMMAND_ENV: failing})
    assert result.exit_code == 1, result
    assert "HOTSWAP_SECRET_KEY_COMMAND: the key command failed (exit 3): vault: permission denied" in result.stderr
    assert NEW_KEY not in result.stdout + result.stderr
    garbage = key_command("print('not-a-key-material-123')")
    bad = hs("show", PROFILE, "HEAD", "--reveal", env={KEY_COMMAND_ENV: garbage})
    assert bad.exit_code == 1 and "HOTSWAP_SECRET_KEY_COMMAND's output is not a usable key" in bad.stderr
    assert "not-a-key-material-123" not in bad.stdout + bad.stderr
    missing = hs("show", PROFILE, "HEAD", "--reveal", env={KEY_COMMAND_ENV: "no-such-vault-cli read key"})
    assert missing.exit_code == 1 and "command not found: no-such-vault-cli" in missing.stderr
