"""A secret reaches the instance decrypted, and appears in no output, event or ledger record."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from support.repo import git

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


# A validator that does what `nginx -t` does on a bad line: it echoes the config, with its
# environment for good measure, and fails.
ECHOING_CHECK = ["python3", "-c", "import json, os, sys; print(' '.join(sorted(os.environ))); "
                 "print(json.dumps(json.load(open(sys.argv[1])))); sys.exit(1)", "{path}"]


def test_a_command_that_echoes_the_config_and_its_environment_leaks_nothing(
        config_repo: Path, tmp_path: Path, cli: Callable, spans: object) -> None:
    instance = tmp_path / "pay-dev-1" / "config.json"
    instance.parent.mkdir()
    profile_file = config_repo / "profiles" / PROFILE / "profile.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["targets"][0]["transport"].update(path=str(instance), check=ECHOING_CHECK)
    profile_file.write_text(yaml.safe_dump(profile))
    git(config_repo, "commit", "-qam", "a validator that talks too much")
    env = {KEY_ENV: DEMO_SECRET_KEY, "HOTSWAP_CANARY_VARIABLE": "visible-to-commands"}
    outputs = []
    for extra in ((), ("--json",)):
        result = cli("--repo", str(config_repo), "deploy", PROFILE, "--rev", "HEAD", "--yes", *extra, env=env)
        assert result.exit_code == 6, result  # the check failed: nothing went live
        outputs.append(result.stdout + result.stderr)
    assert not instance.exists()
    ledger = git(config_repo, "log", "-p", "--format=%B", "--glob=refs/hotswap/ledger/*")
    traces = json.dumps([dict(s.attributes or {}) | {"events": [dict(e.attributes or {}) for e in s.events]}
                         for s in spans.get_finished_spans()])  # type: ignore[attr-defined]
    for text in (*outputs, ledger, traces):
        assert PLAINTEXT not in text and DEMO_SECRET_KEY not in text
    for text, scrubbed in ((outputs[0], '"apiKey": "***"'), (outputs[1], '\\"apiKey\\": \\"***\\"'),
                           (ledger, '\\"apiKey\\": \\"***\\"')):
        assert "HOTSWAP_CANARY_VARIABLE" in text  # the command's environment was echoed...
        assert f"{KEY_ENV} " not in text  # ...without the key variable in it
        assert scrubbed in text  # ...and the config was echoed, with the secret scrubbed
