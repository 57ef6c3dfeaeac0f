"""`hotswap deploy`'s guards, through the real CLI on local-file instances: a deploy of what already
runs is a no-op, a reverted version warns, a dry run shows the plan before exit 4, Production's
minimum bake and interval, pause steps and merged canary phases in the plan, --full-diff."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from deploy_fleet import Fleet, git, local_target

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV
from hotswap_cli.core.versions.git import GitRepo


def deploy(cli: Callable, fleet: Fleet, *args: str):  # type: ignore[no-untyped-def]
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args)


def records(fleet: Fleet) -> list[dict]:  # type: ignore[type-arg]
    return read_records(GitRepo(fleet.root), fleet.profile)


def edit_profile(fleet: Fleet, **changes: object) -> None:
    path = fleet.root / "profiles" / fleet.profile / "profile.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


# -- nothing to do ------------------------------------------------------------------------------


def test_deploying_what_runs_everywhere_does_nothing_unless_redeploy(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(3)
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "--yes").exit_code == 0
    again = deploy(cli, fleet, "--yes")
    assert again.exit_code == 0, again
    assert "nothing to do: web.staging 1.0.0 already runs on all 3 instances (--redeploy pushes it again)" \
        in again.stderr
    assert "phase 1" not in again.stderr  # no run: no progress, no lock, no ledger record
    assert len(records(fleet)) == 1
    as_json = deploy(cli, fleet, "--yes", "--json")
    result = [json.loads(line) for line in as_json.stdout.splitlines()][-1]
    assert (as_json.exit_code, result["event"], result["status"]) == (0, "result", "unchanged")
    forced = deploy(cli, fleet, "--yes", "--redeploy")
    assert forced.exit_code == 0, forced
    assert "1.0.0 is live on 3 instance(s)" in forced.stderr
    assert len(records(fleet)) == 2
    fleet.path("web-3").unlink()  # one instance lost its config: there is something to do again
    partial = deploy(cli, fleet, "--yes")
    assert partial.exit_code == 0 and "nothing to do" not in partial.stderr, partial
    assert fleet.running("web-3") is not None and len(records(fleet)) == 3


# -- a version that was reverted ----------------------------------------------------------------


def reverted_fleet(make_fleet: Callable, tmp_path: Path, cli: Callable) -> Fleet:
    """web.staging: 1.0.0 live on 3 instances; 1.1.0 (concurrency 99) rejected by web-2's check, reverted."""
    files = tmp_path / "instances"
    targets = [local_target(files, f"web-{i}") for i in range(1, 4)]
    targets[1]["transport"]["check"] = [sys.executable, "-c", "import json,sys; "
                                        "sys.exit(json.load(open(sys.argv[1]))['concurrency'] == 99)", "{path}"]
    fleet = make_fleet(targets, strategy={"type": "rolling", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "--yes").exit_code == 0
    fleet.set_config(concurrency=99)
    fleet.release(cli, "1.1.0")
    assert deploy(cli, fleet, "1.1.0", "--yes").exit_code == 6
    return fleet


def test_the_latest_version_that_was_reverted_warns_and_needs_yes(make_fleet: Callable, tmp_path: Path,
                                                                  cli: Callable) -> None:
    fleet = reverted_fleet(make_fleet, tmp_path, cli)
    failed = records(fleet)[0]["id"]
    dry = deploy(cli, fleet, "--dry-run")  # no VERSION: the latest release, 1.1.0
    assert dry.exit_code == 0, dry
    assert "WARNING: 1.1.0 was reverted at " in dry.stdout
    assert f"({failed}: " in dry.stdout and "deploying it again may fail the same way" in dry.stdout
    assert "hotswap: warning: 1.1.0 was reverted" in dry.stderr
    unasked = deploy(cli, fleet)
    assert unasked.exit_code == 2, unasked
    assert "hotswap: warning: 1.1.0 was reverted" in unasked.stderr
    assert "refusing to deploy without confirmation: stdin is not a terminal" in unasked.stderr
    plan = json.loads(deploy(cli, fleet, "--dry-run", "--json").stdout.splitlines()[0])
    assert plan["warnings"][0].startswith("1.1.0 was reverted at ")
    assert deploy(cli, fleet, "1.0.0", "--dry-run").stdout.count("WARNING") == 0  # 1.0.0 is fine
    confirmed = deploy(cli, fleet, "--yes")
    assert confirmed.exit_code == 6  # it asked for it: it got it (and web-2 refuses it again)
    assert "hotswap: warning: 1.1.0 was reverted" in confirmed.stderr


def test_the_prompt_restates_what_and_where_with_the_warning(make_fleet: Callable, tmp_path: Path,
                                                             cli: Callable) -> None:
    fleet = reverted_fleet(make_fleet, tmp_path, cli)
    master, slave = pty.openpty()  # stdin is a terminal: hotswap asks
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        os.write(master, b"n\n")
        proc = subprocess.run([sys.executable, "-m", "hotswap_cli", "--repo", str(fleet.root), "deploy",
                               fleet.profile], stdin=slave, capture_output=True, text=True, env=env, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 0, proc.stderr  # saying no is not a failure
    assert "hotswap: warning: 1.1.0 was reverted at " in proc.stderr
    assert "Deploy web.staging 1.1.0 (Staging) to 3 instances despite the warning above? [y/N] " in proc.stderr
    assert proc.stderr.rstrip().endswith("[y/N] deploy cancelled: nothing was changed") and "error" not in proc.stderr
    assert len(records(fleet)) == 2


def test_a_version_a_rollback_replaced_warns(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2, strategy={"type": "rolling", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "--yes").exit_code == 0
    fleet.set_config(concurrency=16)
    fleet.release(cli, "1.1.0")
    assert deploy(cli, fleet, "--yes").exit_code == 0
    assert cli("--repo", str(fleet.root), "rollback", fleet.profile, "--yes").exit_code == 0
    rollback_id = records(fleet)[0]["id"]
    dry = deploy(cli, fleet, "--dry-run")
    assert dry.exit_code == 0, dry
    assert "WARNING: 1.1.0 was rolled back to 1.0.0 at " in dry.stdout
    assert f"({rollback_id}); deploying it again undoes that rollback" in dry.stdout


# -- dry run and approvals ----------------------------------------------------------------------


def test_a_dry_run_shows_the_plan_then_exits_4_without_approvals(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2, environment="Production", approvals=2)
    fleet.release(cli, "1.0.0")
    dry = deploy(cli, fleet, "--dry-run")
    assert dry.exit_code == 4, dry
    assert "deploy web.production 1.0.0 (Production)" in dry.stdout
    assert "approvals: NOT MET: web.production 1.0.0 is short of its quorum (2 required)" in dry.stdout
    assert "1. canary 10% [deploy, bake 300ms]: web-1" in dry.stdout
    assert "web-1, web-2: no config yet" in dry.stdout
    assert dry.stderr.index("dry run: nothing was changed") < dry.stderr.index("short of its quorum")
    as_json = deploy(cli, fleet, "--dry-run", "--json")
    assert as_json.exit_code == 4
    plan = json.loads(as_json.stdout.splitlines()[0])
    assert plan["event"] == "plan" and "short of its quorum" in plan["approval_error"]
    assert plan["approvals"]["met"] is False
    real = deploy(cli, fleet, "--yes")  # not a dry run: refused before anything is shown
    assert real.exit_code == 4 and real.stdout == "", real
    assert fleet.running("web-1") is None


# -- Production's minimum bake and interval -----------------------------------------------------


def test_production_refuses_a_hasty_command_line(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2, environment="Production")  # the profile bakes 0.3s: reviewed, so allowed
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet, "--dry-run").exit_code == 0
    no_bake = deploy(cli, fleet, "--bake", "0", "--dry-run")
    assert no_bake.exit_code == 2, no_bake
    assert "hotswap: error: --bake 0s: a bake of 0s is below Production's minimum of 30s (pass --bake 30s or " \
           "more; the minimum is `environments.Production.min_bake` in hotswap.yaml on the default branch)" \
        in no_bake.stderr
    no_interval = deploy(cli, fleet, "--interval", "0", "--dry-run")
    assert no_interval.exit_code == 2
    assert "--interval 0s: a sampling interval of 0s is below Production's minimum of 1s" in no_interval.stderr
    direct = deploy(cli, fleet, "--direct", "--dry-run")
    assert direct.exit_code == 2
    assert "--direct: a bake of 0s is below Production's minimum of 30s" in direct.stderr
    assert deploy(cli, fleet, "--bake", "1s", "--dry-run").exit_code == 0  # longer than the profile's
    assert deploy(cli, fleet, "--direct", "--bake", "30s", "--dry-run").exit_code == 0
    assert cli("--repo", str(fleet.root), "rollback", fleet.profile, "--to", "1.0.0", "--dry-run").exit_code == 0


def test_hotswap_yaml_on_the_default_branch_sets_the_minimum(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(2, environment="Production")
    settings = fleet.root / "hotswap.yaml"
    data = yaml.safe_load(settings.read_text())
    data["environments"]["Production"].update(min_bake="0s", min_interval="0.1s")
    settings.write_text(yaml.safe_dump(data))
    git(fleet.root, "switch", "-q", "-c", "lenient")  # a branch cannot lower it ...
    fleet.release(cli, "1.0.0")
    refused = deploy(cli, fleet, "--bake", "0", "--dry-run")
    assert refused.exit_code == 2 and "below Production's minimum of 30s" in refused.stderr, refused
    git(fleet.root, "switch", "-q", "main")  # ... the default branch can
    git(fleet.root, "merge", "-q", "--ff-only", "lenient")
    assert deploy(cli, fleet, "--bake", "0", "--dry-run").exit_code == 0
    slow = deploy(cli, fleet, "--interval", "50ms", "--dry-run")
    assert slow.exit_code == 2 and "a sampling interval of 50ms is below Production's minimum of 100ms" in slow.stderr


# -- pause steps --------------------------------------------------------------------------------


PAUSED_PLAN = [
    "1. canary 10% [deploy, bake 300ms]: web-1, then pause until resumed (`hotswap resume web.staging`)",
    "2. canary 50% [deploy, bake 300ms]: web-2, web-3, web-4, web-5, then pause 10m (resumes by itself)",
    "3. canary 100% [deploy, bake 300ms]: web-6, web-7, web-8, web-9, web-10",
]


def test_pause_steps_on_the_command_line(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(10)
    fleet.release(cli, "1.0.0")
    dry = deploy(cli, fleet, "--steps", "10,pause,50,pause:10m,100", "--dry-run")
    assert dry.exit_code == 0, dry
    for line in PAUSED_PLAN:
        assert f"  {line}\n" in dry.stdout
    assert "plus 1 pause(s) until resumed" in dry.stdout
    plan = json.loads(deploy(cli, fleet, "--steps", "10,pause,50,pause:10m", "--dry-run", "--json").stdout
                      .splitlines()[0])
    assert [p["pause"] for p in plan["phases"]] == [{"until_resumed": True, "seconds": None},
                                                    {"until_resumed": False, "seconds": 600.0}, None]
    assert plan["estimate"]["open_pauses"] == 1
    assert deploy(cli, fleet, "--bake", "0", "--interval", "0", "--dry-run").exit_code == 0  # Staging: no minimum


def test_pause_steps_in_profile_yaml(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(10, strategy={"type": "canary", "bake": "0.3s",
                                     "steps": [10, "pause", 50, {"pause": "10m"}, 100]})
    assert cli("--repo", str(fleet.root), "validate", fleet.profile).exit_code == 0
    fleet.release(cli, "1.0.0")
    dry = deploy(cli, fleet, "--dry-run")
    assert dry.exit_code == 0, dry
    for line in PAUSED_PLAN:
        assert f"  {line}\n" in dry.stdout
    plain = deploy(cli, fleet, "--steps", "10,50", "--dry-run")  # the command line's steps replace the pauses too
    assert "pause" not in plain.stdout


def test_misplaced_pauses_are_refused(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(3)
    fleet.release(cli, "1.0.0")
    for steps, message in (("pause,50", "the steps start with a pause"),
                           ("10,pause,pause,50", "steps 2 and 3 are both pauses"),
                           ("10,100,pause", "a pause after the 100% step"),
                           ("10,pause:soon", "step 2: not a duration: 'soon'")):
        result = deploy(cli, fleet, "--steps", steps, "--dry-run")
        assert result.exit_code == 2, result
        assert f"hotswap: error: --steps {steps}: {message}" in result.stderr
    edit_profile(fleet, strategy={"type": "canary", "steps": [10, "pause", "pause", 50]})
    invalid = cli("--repo", str(fleet.root), "validate", fleet.profile)
    assert invalid.exit_code == 3, invalid
    assert "profiles/web.staging/profile.yaml:" in invalid.stdout + invalid.stderr
    assert "$.strategy.steps[2]  steps 2 and 3 are both pauses: give one pause between two steps" \
        in invalid.stdout + invalid.stderr
    git(fleet.root, "commit", "-qam", "two pauses")
    refused = deploy(cli, fleet, "--rev", "HEAD", "--dry-run")
    assert refused.exit_code == 3 and "steps 2 and 3 are both pauses" in refused.stderr, refused


# -- merged phases ------------------------------------------------------------------------------


def test_a_small_fleet_says_which_canary_phases_it_merged(make_fleet: Callable, cli: Callable) -> None:
    fleet = make_fleet(3)
    fleet.release(cli, "1.0.0")
    dry = deploy(cli, fleet, "--canary", "10", "--dry-run")
    assert dry.exit_code == 0, dry
    assert "  note: 3 instances: canary 10% and 30% both mean 1 instance: merged into one phase\n" in dry.stdout
    assert [line.strip() for line in dry.stdout.splitlines() if line.startswith("  ") and ". canary" in line] == [
        "1. canary 10% [deploy, bake 300ms]: web-1",
        "2. canary 50% [deploy, bake 300ms]: web-2",
        "3. canary 100% [deploy, bake 300ms]: web-3",
    ]
    plan = json.loads(deploy(cli, fleet, "--dry-run", "--json").stdout.splitlines()[0])
    assert plan["notes"] == ["3 instances: canary 10% and 30% both mean 1 instance: merged into one phase"]
    assert "note:" not in deploy(cli, fleet, "--rolling", "--dry-run").stdout


# -- --full-diff --------------------------------------------------------------------------------


def test_full_diff_shows_added_subtrees_whole_with_secrets_masked(config_repo: Path, tmp_path: Path,
                                                                 cli: Callable) -> None:
    profile = "payment-service.development"
    instance = tmp_path / "pay-dev-1" / "config.json"
    instance.parent.mkdir()
    meta_file = config_repo / "profiles" / profile / "profile.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    meta["targets"][0]["transport"]["path"] = str(instance)
    meta_file.write_text(yaml.safe_dump(meta))
    config_file = config_repo / "profiles" / profile / "config.yaml"
    currencies = ["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK", "HUF", "JPY", "CAD"]
    config_file.write_text(config_file.read_text() + f"payments:\n  currencies: {json.dumps(currencies)}\n")
    git(config_repo, "commit", "-qam", "an instance in tmp; many currencies")
    env = {KEY_ENV: DEMO_SECRET_KEY}
    args = ("--repo", str(config_repo), "deploy", profile, "--rev", "HEAD", "--dry-run")
    short = cli(*args, env=env)
    assert short.exit_code == 0, short
    assert '+ $.payments: {"apiKey": "*** hmac:' in short.stdout and '"...' in short.stdout
    assert "(values cut short: --full-diff shows them whole)" in short.stdout
    full = cli(*args, "--full-diff", env=env)
    assert full.exit_code == 0, full
    lines = full.stdout.splitlines()
    start = lines.index("      + $.payments:")
    block = "\n".join(lines[start + 1:start + 20])
    assert '        "apiKey": "*** hmac:' in block  # masked, with its fingerprint
    assert '          "JPY",' in block and '          "CAD"' in block  # the whole list
    assert '      + $.service: {"logLevel": "debug", "name": "payment-service"}' in lines  # short ones stay short
    assert "cut short" not in full.stdout
    assert "sk_test_demo_4242424242" not in full.stdout + full.stderr
