"""The JSON contract (docs/json.md), held to the schemas that ship in the package: every command runs
for real with `--json` (a copy of the example repo, local-file and demo instances, a bare origin and a
teammate's clone), a success and a failure each, and every stdout document (every line of a stream)
must validate against `hotswap output-schema COMMAND`. A command without a schema fails the suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from support.example import PROFILE
from support.repo import EXAMPLE_REPO, git

from hotswap_cli.cli.output_schema import ALIASES, bundled, command_names, stem_of
from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY

SCHEMAS = Path(__file__).resolve().parents[2] / "hotswap_cli" / "data" / "output-schemas"
STREAMS = ("deploy", "rollback", "advance", "watch")  # JSON lines; every other command prints one document
WORKER: dict[str, Any] = {
    "queue": {"url": "amqps://mq.internal:5671", "name": "orders", "prefetch": 50, "visibilityTimeoutS": 120},
    "concurrency": 8}
SICK = 99  # a config with this concurrency fails its instance's health check


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    def __repr__(self) -> str:
        return f"Result(exit_code={self.exit_code}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


Run = Callable[..., Result]


def _app() -> typer.Typer:
    from hotswap_cli.cli.app import build_app

    return build_app()


@pytest.fixture
def hs() -> Run:
    """`hotswap ARGS` through the real app, in-process."""
    from typer.testing import CliRunner

    app = _app()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), input=input, env=env)
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def documents(result: Result, command: str) -> list[Any]:
    """Every document on stdout (each line of a stream), each checked against the command's schema."""
    validator = Draft202012Validator(bundled(command))
    if command in STREAMS:
        lines = result.stdout.splitlines()
        assert lines, result
        docs = [json.loads(line) for line in lines]
        assert all(isinstance(d, dict) and isinstance(d.get("event"), str) for d in docs), result
    else:
        docs = [json.loads(result.stdout)]  # exactly one document: json.loads refuses anything after it
    for doc in docs:
        error = best_match(validator.iter_errors(doc))
        assert error is None, f"{command}: {error.message} at {list(error.absolute_path)} in {json.dumps(doc)[:3000]}"
    return docs


def ok(result: Result, command: str, code: int = 0) -> Any:
    """A success (or a verdict: exit `code` with its document): the document, or a stream's lines."""
    assert result.exit_code == code, result
    docs = documents(result, command)
    assert not any(isinstance(d, dict) and "error" in d and d.get("event") in (None, "error") for d in docs), result
    return docs if command in STREAMS else docs[0]


def failed(result: Result, command: str, code: int, kind: str, words: str = "") -> dict[str, Any]:
    """A failure: its exit code, and the error document last on stdout."""
    assert result.exit_code == code, result
    docs = documents(result, command)
    last = docs[-1]
    if command in STREAMS:
        assert last["event"] == "error", result
    assert last["error"]["code"] == code and last["error"]["kind"] == kind, last
    assert words in last["error"]["message"], last
    return dict(last["error"])


# -- the contract's coverage ---------------------------------------------------------------------


def _commands() -> list[str]:
    """Every command of the app, and every subcommand of its groups (`secret set`)."""
    from typer.main import get_command

    names = []
    for name, command in get_command(_app()).commands.items():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            names.append(name)
            continue
        names += [f"{name} {sub}" for sub in subcommands]
        if getattr(command, "invoke_without_command", False):  # `hotswap demo` runs by itself too
            names.append(name)
    return names


def test_every_command_and_subcommand_has_an_output_schema() -> None:
    commands = _commands()
    assert {"deploy", "secret set", "deployments show", "demo up", "demo", "output-schema"} <= set(commands)
    have = {stem_of(n) for n in command_names()}
    missing = [c for c in commands if stem_of(ALIASES.get(c, c)) not in have]
    assert not missing, f"commands without an output schema in {SCHEMAS}: {missing}"
    unused = sorted(have - {stem_of(ALIASES.get(c, c)) for c in commands})
    assert not unused, f"schemas of no command: {unused}"


def test_the_schemas_are_valid_closed_and_self_contained() -> None:
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path
        for where, node in _objects(schema):
            assert "additionalProperties" in node, f"{path.name}: an open object at {where}"
            assert set(node.get("required", ())) <= set(node["properties"]), f"{path.name}: {where}"
    from referencing import Registry, Resource

    shipped = {p.name: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")}
    registry = Registry().with_resources(  # the files as shipped: relative `$ref`s between them
        (name, Resource.from_contents(schema)) for name, schema in shipped.items())
    for name, schema in shipped.items():
        for ref in _refs(schema):
            registry.resolver(base_uri=name).lookup(ref)  # raises when a `$ref` names nothing
    for name in command_names():
        text = json.dumps(bundled(name))
        Draft202012Validator.check_schema(json.loads(text))
        assert "common.json" not in text and "error.json" not in text, name  # one file is enough to validate


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _objects(node: Any, where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{where}/{i}")


def test_the_schemas_catch_drift() -> None:
    """Strict enough to fail on a renamed field, a missing one, a state outside its enum, prose for a time."""
    error = {"error": {"code": 4, "kind": "approval", "message": "short of its quorum", "hint": None}}
    validator = Draft202012Validator(bundled("versions"))
    assert validator.is_valid(error)
    assert not validator.is_valid({"error": {**error["error"], "kind": "nope"}})
    assert not validator.is_valid({"error": {"code": 4, "message": "m", "hint": None}})
    line = {"event": "instance_state", "at": "2026-11-30T17:02:03.123Z", "elapsed_s": 0.5, "instance": "web-1",
            "state": "live", "detail": ""}
    deploy = Draft202012Validator(bundled("deploy"))
    assert deploy.is_valid(line)
    assert not deploy.is_valid({**line, "state": "sleeping"})
    assert not deploy.is_valid({**line, "at": 542.39})
    assert not deploy.is_valid({**line, "surprise": 1})
    assert not deploy.is_valid({k: v for k, v in line.items() if k != "elapsed_s"})


def test_output_schema_lists_prints_and_refuses(hs: Run) -> None:
    listed = ok(hs("--json", "output-schema"), "output-schema")
    assert "deploy" in listed["commands"] and "secret set" in listed["commands"]
    assert "error" not in listed["commands"] and "common" not in listed["commands"]
    text = hs("output-schema")
    assert text.exit_code == 0 and "secret set" in text.stdout.splitlines()
    schema = ok(hs("output-schema", "secret", "set", "--json"), "output-schema")
    assert schema == bundled("secret set") == json.loads(hs("output-schema", "secret-set").stdout)
    failed(hs("--json", "output-schema", "deplyo"), "output-schema", 2, "usage", "did you mean 'deploy'?")


# -- the config repo's commands ------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example repo, committed, with version 1.0.0 of the production profile; its secret key set."""
    root = tmp_path / "config-repo"
    shutil.copytree(EXAMPLE_REPO, root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial config")
    git(root, "tag", "-a", f"{PROFILE}/1.0.0", "-m", "hotswap release")
    monkeypatch.setenv("HOTSWAP_SECRET_KEY", DEMO_SECRET_KEY)
    monkeypatch.delenv("HOTSWAP_APPROVERS", raising=False)
    return root


def test_init(hs: Run, tmp_path: Path) -> None:
    made = ok(hs("--json", "init", str(tmp_path / "new")), "init")
    assert made["git_initialised"] is True and "hotswap.yaml" in made["files"]
    failed(hs("init", str(tmp_path / "new"), "--json"), "init", 1, "config", "refusing to overwrite")


def test_profiles_render_and_validate(hs: Run, repo: Path, tmp_path: Path) -> None:
    at = ("--repo", str(repo))
    rows = ok(hs(*at, "--json", "profiles"), "profiles")
    assert PROFILE in [r["name"] for r in rows]
    failed(hs("--repo", str(tmp_path / "nowhere"), "--json", "profiles"), "profiles", 1, "config", "hotswap.yaml")

    config = ok(hs(*at, "render", PROFILE, "--json"), "render")
    assert config["service"]["name"] == "payment-service"
    payload = ok(hs(*at, "render", "shop-edge.development", "--target", "edge-1", "--json"), "render")
    Draft202012Validator({**bundled("render"), "anyOf": [{"$ref": "#/$defs/payload"}]}).validate(payload)
    assert payload["format"] == "text" and payload["text"].startswith("# shop-edge.development on edge-1")
    failed(hs(*at, "--json", "render", PROFILE, "--target", "nope"), "render", 2, "usage", "has no target 'nope'")

    assert ok(hs(*at, "--json", "validate"), "validate")["valid"] is True
    config_file = repo / "profiles" / PROFILE / "config.yaml"
    config_file.write_text(config_file.read_text().replace("service:", "servicex:", 1))
    report = ok(hs(*at, "--json", "validate", PROFILE), "validate", code=3)  # a verdict: the report, exit 3
    assert report["valid"] is False and report["errors"][0]["file"].endswith("config.yaml")


def test_release_versions_show_history_and_diff(hs: Run, repo: Path) -> None:
    at = ("--repo", str(repo))
    released = ok(hs(*at, "--json", "release", "payment-service.staging", "1.0.0", "-m", "first"), "release")
    assert (released["version"], released["pushed"]) == ("1.0.0", False) and released["date"].endswith("Z")
    failed(hs(*at, "--json", "release", "payment-service.staging", "1.0"), "release", 2, "usage")

    [version] = ok(hs(*at, "versions", PROFILE, "--json"), "versions")
    assert version["tag"] == f"{PROFILE}/1.0.0" and version["sha256"] is None  # tagged by hand: no trailers
    failed(hs(*at, "--json", "versions", "payment-service.prodution"), "versions", 2, "usage", "not found")

    shown = ok(hs(*at, "--json", "show", PROFILE, "1.0.0"), "show")
    assert shown["payments"]["apiKey"].startswith("***")  # masked
    failed(hs(*at, "--json", "show", PROFILE, "9.9.9"), "show", 1, "repo")

    [entry] = ok(hs(*at, "--json", "history", PROFILE), "history")
    assert entry["versions"] == ["1.0.0"] and entry["note"] == "created"
    failed(hs(*at, "--json", "history", "nope"), "history", 2, "usage")

    config_file = repo / "profiles" / PROFILE / "config.yaml"
    config_file.write_text(config_file.read_text().replace("max: 80", "max: 81"))
    diff = ok(hs(*at, "--json", "diff", PROFILE, "--exit-code"), "diff", code=1)  # a verdict: differences
    assert diff["from"]["version"] == "1.0.0" and diff["to"]["ref"] == "working tree", diff
    assert [(c["path"], c["old"], c["new"]) for c in diff["changed"]] == [("$.database.pool.max", 80, 81)]
    failed(hs(*at, "--json", "diff", "payment-service.development"), "diff", 1, "repo", "has no versions yet")


def test_secrets_and_schema_diff(hs: Run, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = ("--repo", str(repo))
    written = ok(hs(*at, "--json", "secret", "set", PROFILE, "$.payments.apiKey", input="sk_live_new\n"),
                 "secret set")
    assert written == {"profile": PROFILE, "path": "$.payments.apiKey",
                       "file": f"profiles/{PROFILE}/config.yaml", "comments_kept": written["comments_kept"]}
    assert "sk_live_new" not in json.dumps(written)
    failed(hs(*at, "--json", "secret", "set", PROFILE, "$.service.name", input="x\n"), "secret set", 1, "config",
           "is not a secret field")
    rotation = ok(hs(*at, "--json", "secret", "rotate", "--dry-run"), "secret rotate")
    assert rotation["dry_run"] is True
    monkeypatch.delenv("HOTSWAP_SECRET_KEY")
    failed(hs(*at, "--json", "secret", "rotate"), "secret rotate", 1, "secret")

    compared = ok(hs(*at, "--json", "schema", "diff", "worker-config", "1.0", "2.0"), "schema diff")
    assert compared["compatible"]["backward"] is True
    failed(hs(*at, "--json", "schema", "diff", "worker-config", "1.0", "7.0"), "schema diff", 1, "config")


@pytest.fixture(scope="module")
def approver(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Someone with a real ssh signing key, set up as their own git would be."""
    keys = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", str(keys / "alice")],
                   check=True)
    public = " ".join((keys / "alice.pub").read_text().split()[:2])
    pairs = [("user.name", "Alice"), ("user.email", "alice@example.com"), ("gpg.format", "ssh"),
             ("user.signingkey", str(keys / "alice"))]
    env = {"GIT_CONFIG_COUNT": str(len(pairs)), "GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
           "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com"}
    for i, (k, v) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = k, v
    return {"public": public, **env}


def test_approve_approvals_and_unlock(hs: Run, repo: Path, approver: dict[str, str]) -> None:
    at = ("--repo", str(repo))
    (repo / "approvers").write_text(f'alice@example.com namespaces="git" roles="lead" {approver["public"]}\n')
    git(repo, "commit", "-qam", "approvers")
    git(repo, "tag", "-a", f"{PROFILE}/1.1.0", "-m", "hotswap release")
    who = {k: v for k, v in approver.items() if k != "public"}
    approval = ok(hs(*at, "--json", "approve", PROFILE, "1.1.0", "-m", "lgtm", env=who), "approve")
    assert (approval["approver"], approval["status"]) == ("alice@example.com", "valid"), approval
    failed(hs(*at, "--json", "approve", PROFILE, "7.7.7", env=who), "approve", 4, "approval", "does not exist")

    report = ok(hs(*at, "--json", "approvals", PROFILE, "1.1.0"), "approvals")
    assert report["approved_by"] == ["alice@example.com"] and report["signed_commits"] is None
    short = ok(hs(*at, "--json", "approvals", PROFILE, "1.1.0", "--check"), "approvals", code=4)  # 1 of 2
    assert short["met"] is False and short["required"] == 2
    failed(hs(*at, "--json", "approvals", PROFILE, "7.7.7"), "approvals", 4, "approval", "does not exist")

    free = ok(hs(*at, "--json", "unlock", PROFILE), "unlock")
    assert free == {"profile": PROFILE, "held": False, "broken": False, "holder": None}
    from hotswap_cli.core.deploy import lock
    from hotswap_cli.core.versions.git import GitRepo

    held = lock.acquire(GitRepo(repo), PROFILE)
    try:
        locked = ok(hs(*at, "--json", "unlock", PROFILE), "unlock", code=5)  # a verdict: held
        assert locked["held"] is True and locked["holder"]["pid"] == os.getpid()
        broken = ok(hs(*at, "--json", "unlock", PROFILE, "--force"), "unlock")
        assert broken["broken"] is True and broken["holder"]["since"].endswith("Z")
    finally:
        held.release()
    failed(hs("--repo", str(repo.parent / "nowhere"), "--json", "unlock", PROFILE), "unlock", 1, "config")


# -- deploys: local-file instances, a bare origin, a teammate's clone ----------------------------


class Fleet:
    """web.staging (3 instances) and web.production (2), whose health check fails on concurrency SICK."""

    def __init__(self, tmp_path: Path) -> None:
        self.root, self.files = tmp_path / "repo", tmp_path / "instances"
        root = self.root
        (root / "schemas/worker-config").mkdir(parents=True)
        shutil.copy(EXAMPLE_REPO / "schemas/worker-config/1.0.json", root / "schemas/worker-config/1.0.json")
        (root / "hotswap.yaml").write_text(yaml.safe_dump({"environments": {
            e: {"approvals": 0} for e in ("Development", "Staging", "Production")}}))
        for env, count in (("staging", 3), ("production", 2)):
            targets = []
            for i in range(1, count + 1):
                path = self.files / f"{env}-{i}" / "worker.json"
                path.parent.mkdir(parents=True)
                sick = f"! grep -q '\"concurrency\": {SICK}' {path}"
                targets.append({"name": f"{env}-{i}", "transport": {"type": "local", "path": str(path)},
                                "health": [{"type": "command", "command": ["sh", "-c", sick]}]})
            profile = {"environment": env.title(), "serviceType": "Worker", "schema": "worker-config/1.0",
                       "strategy": {"type": "canary", "steps": [50, 100], "bake": "0.3s"},
                       "health": {"interval": "0.1s"}, "targets": targets}
            directory = root / "profiles" / f"web.{env}"
            directory.mkdir(parents=True)
            (directory / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
            self.set(env, WORKER["concurrency"])
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "web")
        bare = tmp_path / "origin.git"
        git(tmp_path, "clone", "-q", "--bare", str(root), str(bare))
        git(root, "remote", "add", "origin", str(bare))
        git(root, "fetch", "-q", "origin")
        git(root, "branch", "-q", "-u", "origin/main")
        self.teammate = tmp_path / "teammate"
        git(tmp_path, "clone", "-q", str(bare), str(self.teammate))

    def set(self, env: str, concurrency: int) -> None:
        path = self.root / "profiles" / f"web.{env}" / "config.json"
        path.write_text(json.dumps({**WORKER, "concurrency": concurrency}, indent=2) + "\n")

    def release(self, hs: Run, env: str, version: str, concurrency: int) -> None:
        self.set(env, concurrency)
        git(self.root, "commit", "-qam", f"{env} {version}", "--allow-empty")
        git(self.root, "push", "-q", "origin", "main")
        assert hs("--repo", str(self.root), "release", f"web.{env}", version, "--push").exit_code == 0


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    return Fleet(tmp_path)


def events(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines]


def test_deploy_rollback_status_and_deployments(hs: Run, fleet: Fleet) -> None:
    at = ("--repo", str(fleet.root))
    fleet.release(hs, "staging", "1.0.0", 8)
    fleet.release(hs, "staging", "1.1.0", SICK)

    dry = ok(hs(*at, "--json", "deploy", "web.staging", "1.0.0", "--dry-run"), "deploy")
    assert events(dry) == ["plan"] and dry[0]["live"][0]["status"] == "absent"

    good = ok(hs(*at, "deploy", "web.staging", "1.0.0", "--yes", "--json"), "deploy")
    kinds = events(good)
    assert kinds[0] == "plan" and kinds[1] == "deploy_started" and kinds[-1] == "result", kinds
    assert {"phase_started", "instance_state", "health_sample", "bake_started", "verdict",
            "deploy_finished"} <= set(kinds)
    times = [line["elapsed_s"] for line in good[1:-1]]
    assert times[0] == 0 and times == sorted(times)
    assert good[-1]["status"] == "completed" and good[-1]["recorded"] is True
    assert good[-1]["instances"][0]["started_at"].endswith("Z")

    same = ok(hs(*at, "--json", "deploy", "web.staging", "1.0.0", "--yes"), "deploy")
    assert (same[-1]["status"], same[-1]["id"]) == ("unchanged", None)

    bad = ok(hs(*at, "--json", "deploy", "web.staging", "1.1.0", "--yes"), "deploy", code=6)  # the gate reverts
    assert {"revert_started", "revert_finished"} <= set(events(bad))
    assert (bad[-1]["status"], bad[-1]["exit_code"], bad[-1]["failed_phase"]) == ("reverted", 6, 1)
    failed(hs(*at, "--json", "deploy", "web.staging", "4.0.0", "--yes"), "deploy", 1, "repo")

    back = ok(hs(*at, "--json", "rollback", "web.staging", "--to", "1.0.0", "--yes"), "rollback")
    assert back[0]["kind"] == "rollback" and back[-1]["status"] == "completed"
    failed(hs(*at, "--json", "rollback", "web.staging", "--to", "4.0.0", "--yes"), "rollback", 1, "repo")

    status = ok(hs(*at, "--json", "status", "web.staging"), "status")
    health = status["instances"][0]["health"]
    assert (health["state"], health["checks_ok"], health["probes"][0]["probe"]) == ("healthy", True, "command")
    assert status["instances"][0]["version"] == "1.0.0" and status["problem"] is False
    (fleet.files / "staging-2" / "worker.json").write_text(json.dumps({**WORKER, "concurrency": SICK}))
    drift = ok(hs(*at, "--json", "status", "web.staging"), "status", code=1)  # a verdict: drift, failing health
    row = next(r for r in drift["instances"] if r["instance"] == "staging-2")
    assert (row["drifted"], row["health"]["state"], row["version"]) == (True, "failing", "1.1.0"), row
    failed(hs(*at, "--json", "status", "web.stagin"), "status", 2, "usage")

    listed = ok(hs(*at, "--json", "deployments", "web.staging"), "deployments")
    assert [r["status"] for r in listed] == ["completed", "reverted", "completed"]
    one = ok(hs(*at, "--json", "deployments", "show", listed[1]["id"]), "deployments show")
    assert one["timeline"]["format"] == 1 and one["verdicts"][0]["ok"] is False
    failed(hs(*at, "--json", "deployments", "show", "deploy-nope"), "deployments show", 1, "error")
    assert ok(hs(*at, "--json", "deployments", "--push"), "deployments") == {"pushed": []}
    failed(hs("--repo", str(fleet.root.parent / "nowhere"), "--json", "deployments"), "deployments", 1, "config")


def test_advance(hs: Run, fleet: Fleet) -> None:
    at = ("--repo", str(fleet.root))
    fleet.release(hs, "staging", "1.0.0", 8)
    assert hs(*at, "deploy", "web.staging", "1.0.0", "--yes").exit_code == 0
    dry = ok(hs(*at, "--json", "advance", "web", "--to", "Production", "--dry-run"), "advance")
    assert events(dry) == ["advance"] and dry[0]["released"] is False
    went = ok(hs(*at, "--json", "advance", "web", "--to", "Production", "--yes"), "advance")
    assert events(went)[:2] == ["advance", "plan"] and went[-1]["status"] == "completed"
    failed(hs(*at, "--json", "advance", "web", "--to", "Nowhere", "--yes"), "advance", 1, "config")


def _child(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "hotswap_cli", "--repo", str(root), *args]


def _child_env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, "NO_COLOR": "1",
            "HOTSWAP_CONTROL_POLL": "0.3"}


def test_watch_promote_resume_and_abort_a_running_deploy(hs: Run, fleet: Fleet) -> None:
    fleet.release(hs, "staging", "1.0.0", 8)
    git(fleet.teammate, "fetch", "-q", "--tags")
    mate = ("--repo", str(fleet.teammate))
    for command in ("promote", "resume", "abort"):
        failed(hs(*mate, "--json", command, "web.staging", "--wait", "1"), command, 1, "repo", "is running")
    failed(Result(*_run(_child(fleet.teammate, "--json", "watch", "web.staging"))), "watch", 1, "repo")

    deploy = subprocess.Popen(_child(fleet.root, "--json", "deploy", "web.staging", "--steps", "50,pause,100",
                                     "--bake", "60s", "--yes"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env())
    watcher = None
    try:
        lines = _read_until(deploy, "bake_started", timeout=120)
        watcher = subprocess.Popen(_child(fleet.teammate, "watch", "web.staging", "--interval", "0.3", "--json"),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_env())
        promoted = ok(hs(*mate, "--json", "promote", "web.staging"), "promote")  # ends the bake: then the pause
        assert promoted["taken"] is True and promoted["action"] == "promote"
        lines += _read_until(deploy, "phase_paused", timeout=60)
        resumed = ok(hs(*mate, "--json", "resume", "web.staging"), "resume")
        assert resumed["taken"] is True
        lines += _read_until(deploy, "bake_started", timeout=60)
        aborted = ok(hs(*mate, "--json", "abort", "web.staging"), "abort")
        assert aborted["taken"] is True
        out, err = deploy.communicate(timeout=60)
        assert deploy.returncode == 9, err
        watched, watch_err = watcher.communicate(timeout=120)
        assert watcher.returncode == 9, watch_err
    finally:
        for proc in (deploy, watcher):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    stream = Result(9, "".join(json.dumps(line) + "\n" for line in lines) + out, err)
    run = documents(stream, "deploy")
    assert [c["action"] for c in run if c["event"] == "control"] == ["promote", "resume", "abort"]
    assert run[-1]["status"] == "aborted"
    follow = documents(Result(9, watched, watch_err), "watch")
    assert follow[0]["event"] == "live_record" and follow[0]["state"] == "running"
    assert (follow[-1]["event"], follow[-1]["status"], follow[-1]["exit_code"]) == ("result", "aborted", 9)


def _run(args: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run(args, capture_output=True, text=True, env=_child_env(), timeout=120, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _read_until(proc: subprocess.Popen[str], event: str, timeout: float) -> list[dict[str, Any]]:
    """The child's stdout lines up to and including the first `event` (its lines stay JSON)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the deploy ended before {event}: {lines[-3:]}")
        lines.append(json.loads(line))
        if lines[-1]["event"] == event:
            return lines
    raise AssertionError(f"no {event} within {timeout}s")


# -- the demo ------------------------------------------------------------------------------------


def test_demo_up_and_down(hs: Run, tmp_path: Path) -> None:
    up = ok(hs("--json", "demo", "up", "-n", "2", "--dir", str(tmp_path)), "demo up")
    try:
        assert [i["name"] for i in up["instances"]] == ["demo-1", "demo-2"]
        failed(hs("--json", "demo", "up", "--dir", str(tmp_path)), "demo up", 1, "error", "already run")
    finally:
        down = ok(hs("--json", "demo", "down", "--dir", str(tmp_path)), "demo down")
    assert down == {"directory": str(tmp_path), "stopped": ["demo-1", "demo-2"]}
    assert ok(hs("demo", "down", "--dir", str(tmp_path), "--json"), "demo down")["stopped"] == []


def test_demo_run(tmp_path: Path) -> None:
    (tmp_path / "empty-gitconfig").write_text("")
    env = {**_child_env(), "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(tmp_path / "empty-gitconfig")}
    proc = subprocess.run([sys.executable, "-m", "hotswap_cli", "--json", "demo", "--bake", "0.5s"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env, check=False)
    summary = ok(Result(proc.returncode, proc.stdout, proc.stderr), "demo")
    assert [(d["version"], d["status"]) for d in summary["deploys"]] == [("1.0.0", "completed"), ("1.1.0", "reverted")]
    assert {i["running"] for i in summary["instances"]} == {"1.0.0"}
    assert "deploying 1.0.0" in proc.stderr  # the runs' progress: on stderr
    bad = subprocess.run([sys.executable, "-m", "hotswap_cli", "demo", "--bake", "soon", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env, check=False)
    failed(Result(bad.returncode, bad.stdout, bad.stderr), "demo", 2, "usage", "--bake")
