"""`targets_from:` for real: demo instances started with `--etcd` register themselves in a real
etcd under a lease, and the plan lists exactly the live ones and says where from; a deploy to them
completes; a stopped instance leaves the next plan. A command inventory (a script printing JSON)
feeds a deploy to local-file targets; a command that fails, prints garbage or hangs is one clear
line within its timeout; `validate` never contacts the registry. A demo instance started with
`--etcd-key` takes each new value of its key as its config (the documented watch-style consumer)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_fleet import Fleet, git, local_target
from deploy_support import DemoRepo, hotswap_cmd, make_demo_repo, parse_json_lines, running_hash, subprocess_env
from support.etcd import Etcd
from support.sshd import free_port

from hotswap_cli.model import config_hash

ROOT = Path(__file__).resolve().parents[2]


class Registered:
    """One demo service process with one instance, registered in etcd with `--etcd`."""

    def __init__(self, tmp: Path, name: str, endpoint: str, ttl: int, *extra: str) -> None:
        self.name = name
        config = tmp / name / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({"service": "demo", "simulate": {"errorRate": 0.0, "latencyMs": 35}}))
        ready = tmp / name / "ready.json"
        log = (tmp / name / "service.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hotswap_cli.demo.service", "--instance", f"{name}=0:{config}",
             "--ready-file", str(ready), "--etcd", endpoint, "--etcd-ttl", str(ttl), *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, env={**os.environ, "PYTHONPATH": str(ROOT)})
        log.close()
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert self.process.poll() is None, (tmp / name / "service.log").read_text()
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{json.loads(ready.read_text())['ports'][name]}"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


@pytest.fixture
def registered(tmp_path: Path, etcd: Etcd) -> Iterator[Callable[..., Registered]]:
    started: list[Registered] = []

    def start(name: str, ttl: int = 120, *extra: str) -> Registered:
        started.append(Registered(tmp_path / "instances", name, etcd.endpoint, ttl, *extra))
        return started[-1]

    yield start
    for instance in started:
        instance.stop(signal.SIGKILL)


def with_targets_from(root: Path, profile: str, targets_from: dict[str, Any],
                      targets: list[dict[str, Any]] | None = None) -> None:
    path = root / "profiles" / profile / "profile.yaml"
    meta = yaml.safe_load(path.read_text())
    meta.pop("targets", None)
    if targets:
        meta["targets"] = targets
    meta["targets_from"] = targets_from
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "targets_from")


@pytest.fixture
def etcd_repo(tmp_path: Path, etcd: Etcd) -> DemoRepo:
    repo = make_demo_repo(tmp_path / "repo", [], environment="Staging",
                          strategy={"type": "rolling", "batch": 1, "bake": "0.2s"})
    with_targets_from(repo.root, repo.profile, {"etcd": {"endpoints": [etcd.endpoint],
                                                         "prefix": "/instances/{service}/", "timeout": "3s"}})
    return repo


def plan(cli: Callable[..., Any], repo: Any, *args: str) -> Any:
    return cli("--repo", str(repo.root), "deploy", repo.profile, "--rev", "HEAD", "--dry-run", *args)


def test_registered_instances_are_the_plan_and_a_deploy_reaches_them(
        registered: Callable[..., Registered], etcd_repo: DemoRepo, etcd: Etcd, cli: Callable[..., Any]) -> None:
    instances = [registered(f"demo-{i}") for i in (1, 2, 3)]
    other = etcd.client()
    other.put("/instances/another-service/x", b'{"name": "x", "url": "http://127.0.0.1:1"}')  # not this service
    other.close()

    result = plan(cli, etcd_repo)
    assert result.exit_code == 0, result
    line = next(x.strip() for x in result.stdout.splitlines() if x.strip().startswith("targets:"))
    assert line.startswith(f"targets: 3 from etcd /instances/demo/ at {etcd.endpoint} (revision ")
    phases = [x.split(": ", 1)[1] for x in result.stdout.splitlines() if x.startswith("  ") and "[deploy" in x]
    assert sorted(phases) == ["demo-1", "demo-2", "demo-3"]

    document = parse_json_lines(plan(cli, etcd_repo, "--json").stdout)[0]
    source = document["targets_from"]
    assert (source["kind"], source["count"], source["static"]) == ("etcd", 3, 0)
    assert source["keys"] == {f"demo-{i}": f"/instances/demo/demo-{i}" for i in (1, 2, 3)}
    assert isinstance(source["revision"], int) and source["revision"] > 0

    deployed = cli("--repo", str(etcd_repo.root), "deploy", etcd_repo.profile, "--rev", "HEAD", "--yes")
    assert deployed.exit_code == 0, deployed
    expected = config_hash(etcd_repo.config())
    assert [running_hash(i.url) for i in instances] == [expected] * 3


def test_a_stopped_instance_leaves_the_next_plan(
        registered: Callable[..., Registered], etcd_repo: DemoRepo, cli: Callable[..., Any]) -> None:
    first, _, third = registered("demo-1"), registered("demo-2"), registered("demo-3", ttl=2)
    first.stop()  # SIGTERM: the service revokes its lease, its key goes at once
    third.stop(signal.SIGKILL)  # no goodbye: its 2 s lease expires
    time.sleep(3.5)

    result = plan(cli, etcd_repo)
    assert result.exit_code == 0, result
    assert "targets: 1 from etcd /instances/demo/" in result.stdout
    assert "demo-2" in result.stdout and "demo-1" not in result.stdout and "demo-3" not in result.stdout


def test_an_instance_that_leaves_mid_deploy_is_reported_as_gone(
        registered: Callable[..., Registered], tmp_path: Path, etcd: Etcd) -> None:
    # rolling, one instance a phase with a 3 s bake: demo-3's turn comes ~6 s in; it is killed
    # (no goodbye) as the run starts, and its 2 s lease expires before then
    repo = make_demo_repo(tmp_path / "slow", [], environment="Staging",
                          strategy={"type": "rolling", "batch": 1, "bake": "3s"}, health={"interval": "0.5s"})
    with_targets_from(repo.root, repo.profile, {"etcd": {"endpoints": [etcd.endpoint],
                                                         "prefix": "/instances/{service}/", "timeout": "3s"}})
    repo.set_simulate(latencyMs=36)  # a new config (still healthy)
    git(repo.root, "commit", "-q", "-am", "a little slower")
    first, second, third = registered("demo-1"), registered("demo-2"), registered("demo-3", ttl=2)
    proc = subprocess.Popen(hotswap_cmd(repo.root, "deploy", repo.profile, "--rev", "HEAD", "--yes", "--json"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=subprocess_env())
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line).get("event") == "phase_started":
                third.stop(signal.SIGKILL)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 6, err  # the others were reverted
    gone = "its registration /instances/demo/demo-3 is gone (its lease expired: the instance left the registry)"
    result = json.loads(out.strip().splitlines()[-1])
    # the plan read demo-3 while it was up; the run finds it gone at its push (a refused connection:
    # the config never reached it, so nothing of it needs restoring) or, when the plan's read was
    # stale, at reading it again
    assert result["event"] == "result" and re.search(r"demo-3: (read current config|swap: push): ", result["reason"])
    assert gone in result["reason"], result["reason"]
    assert {i["instance"]: i["state"] for i in result["instances"]}["demo-3"] in ("failed", "reverted"), result
    expected = config_hash(repo.config())
    assert expected not in {running_hash(first.url), running_hash(second.url)}  # put back


def test_an_unreachable_registry_is_one_line_and_validate_never_asks_it(
        tmp_path: Path, cli: Callable[..., Any]) -> None:
    repo = make_demo_repo(tmp_path / "repo", [], environment="Staging")
    unused = f"http://127.0.0.1:{free_port()}"
    with_targets_from(repo.root, repo.profile, {"etcd": {"endpoints": unused, "prefix": "/instances/{service}/",
                                                         "timeout": "1s"}})
    started = time.monotonic()
    validated = cli("--repo", str(repo.root), "validate")
    assert validated.exit_code == 0, validated
    assert time.monotonic() - started < 5

    result = plan(cli, repo)
    assert result.exit_code == 1, result
    assert f"targets_from: cannot list /instances/demo/: no etcd endpoint answered within 1s: {unused}" \
        in result.stderr


INVENTORY = """import json, sys
print(json.dumps([{"name": name, "transport": {"type": "local", "path": sys.argv[1] + "/" + name + ".json"},
                   "health": [{"type": "command", "command": ["true"]}]} for name in ("web-1", "web-2")]))
"""


def test_a_command_inventory_feeds_a_deploy(tmp_path: Path, make_fleet: Callable[..., Fleet],
                                            cli: Callable[..., Any]) -> None:
    fleet = make_fleet([local_target(tmp_path / "instances", "web-0")])
    script = tmp_path / "inventory.py"
    script.write_text(INVENTORY)
    (tmp_path / "pushed").mkdir()
    with_targets_from(fleet.root, fleet.profile, {"command": [sys.executable, str(script), str(tmp_path / "pushed")],
                                                  "timeout": "10s"},
                      targets=[local_target(tmp_path / "instances", "web-0")])

    result = plan(cli, fleet)
    assert result.exit_code == 0, result
    assert f"targets: 2 from command `{sys.executable} {script} {tmp_path / 'pushed'}`, 1 from profile.yaml" \
        in result.stdout

    deployed = cli("--repo", str(fleet.root), "deploy", fleet.profile, "--rev", "HEAD", "--yes")
    assert deployed.exit_code == 0, deployed
    pushed = {p.name: json.loads(p.read_text()) for p in (tmp_path / "pushed").iterdir()}
    assert set(pushed) == {"web-1.json", "web-2.json"}
    assert pushed["web-1.json"] == fleet.running("web-0")


@pytest.mark.parametrize(("program", "message"), [
    ("print('not json')", "did not print JSON (Expecting value at line 1): not json"),
    ("import sys; print('registry down', file=sys.stderr); sys.exit(3)", "exited with 3: registry down"),
    ("import time; time.sleep(30)", "did not finish within 1s"),
    ("import json; print(json.dumps([{'name': 'a', 'transport': {'type': 'local', 'path': '/tmp/a.json'}}, "
     "{'name': 'b', 'transport': {'type': 'ftp'}}]))", "target 1: transport/type: 'ftp' is not one of"),
    ("import json; print(json.dumps({'name': 'a'}))", "printed dict, not a list of targets"),
])
def test_a_broken_command_inventory_is_one_clear_line_within_its_timeout(
        tmp_path: Path, make_fleet: Callable[..., Fleet], cli: Callable[..., Any], program: str, message: str) -> None:
    fleet = make_fleet(1)
    script = tmp_path / "inventory.py"
    script.write_text(program + "\n")
    with_targets_from(fleet.root, fleet.profile, {"command": [sys.executable, str(script)], "timeout": "1s"})
    started = time.monotonic()
    result = plan(cli, fleet)
    assert time.monotonic() - started < 8
    assert result.exit_code == 1, result
    errors = [line for line in result.stderr.splitlines() if line.startswith("hotswap: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr
    assert errors[0].startswith(f"hotswap: error: targets_from: `{sys.executable} {script}` "), errors[0]


def test_the_demo_service_with_etcd_key_runs_what_its_key_holds(
        registered: Callable[..., Registered], etcd: Etcd) -> None:
    instance = registered("demo-1", 120, "--etcd-key", "/config/{service}/{instance}")

    def running() -> tuple[bytes, dict[str, str]]:
        import httpx

        reply = httpx.get(f"{instance.url}/config", timeout=3)
        return reply.content, dict(reply.headers)

    def wait_for(check: Callable[[bytes, dict[str, str]], bool]) -> tuple[bytes, dict[str, str]]:
        deadline = time.monotonic() + 10
        while not check(*(seen := running())):
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)
        return seen

    wanted = {"service": "demo", "version": 2, "simulate": {"errorRate": 0.0}}
    etcd.etcdctl("put", "/config/demo/demo-1", json.dumps(wanted))
    body, headers = wait_for(lambda body, _: json.loads(body) == wanted)
    assert headers["x-config-sha256"] == config_hash(wanted)
    etcd.etcdctl("put", "/config/demo/demo-1", "{not json")  # kept out, and said so
    body, headers = wait_for(lambda _, headers: "x-config-error" in headers)
    assert json.loads(body) == wanted
    assert headers["x-config-error"].startswith("/config/demo/demo-1: ")
