"""Notifications (`notify:`) against a real receiver on loopback: what each webhook gets, in which
order and shape; a receiver that fails or stalls never changes the deploy's outcome; no secret in
any payload."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from deploy_fleet import Fleet, local_target
from support.repo import git

from hotswap_cli.core.deploy.ledger import read_records
from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.ops import notify
from hotswap_cli.ops.notify import FINISH_WAIT, choose_notify, shown_url, webhooks_from
from hotswap_cli.runner.events import DeployStarted, GatePaused, PhasePaused, PhaseStarted

Cli = Callable[..., Any]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@dataclass
class Receiver:
    """Records every POST (path, headers, JSON body). /fail answers 500, /stall does not answer
    until the test ends, /drip sends its answer a byte at a time; any other path answers 200."""

    url: str = ""
    seen: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self, path: str) -> list[Any]:
        return [body for p, _, body in self.seen if p == path]

    def events(self, path: str) -> list[str]:
        return [b["event"] for b in self.bodies(path)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    record = Receiver()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            with lock:
                record.seen.append((path, dict(self.headers), json.loads(body)))
            if path.startswith("/stall"):
                record.release.wait(30)
            status = 500 if path.startswith("/fail") else 200
            self.send_response(status)
            self.send_header("Content-Length", "50")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b".")
                self.wfile.flush()
                if path.startswith("/drip") and record.release.wait(0.3):
                    break

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    record.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield record
    record.release.set()
    server.shutdown()
    server.server_close()


def edit_yaml(path: Path, **changes: Any) -> None:
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def fleet_with(make_fleet: Callable[..., Fleet], targets: Any = 3, *,
               notify: list[dict[str, Any]] | None = None, default: list[dict[str, Any]] | None = None,
               **kwargs: Any) -> Fleet:
    fleet = make_fleet(targets, **kwargs)
    if notify is not None:
        edit_yaml(fleet.root / "profiles" / fleet.profile / "profile.yaml", notify=notify)
    if default is not None:
        edit_yaml(fleet.root / "hotswap.yaml", notify=default)
    return fleet


def deploy(cli: Cli, fleet: Fleet, *args: str, env: dict[str, str] | None = None) -> Any:
    return cli("--repo", str(fleet.root), "deploy", fleet.profile, *args, "--yes", env=env)


def test_a_passing_canary_sends_started_then_finished(make_fleet: Callable[..., Fleet], cli: Cli,
                                                     receiver: Receiver) -> None:
    hook = {"url": f"{receiver.url}/ok", "headers": {"Authorization": "Bearer ${NOTIFY_TOKEN}"}}
    fleet = fleet_with(make_fleet, notify=[hook], default=[{"url": f"{receiver.url}/default"}])
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet, env={"NOTIFY_TOKEN": "t0ken-for-the-hook", "HOTSWAP_ALLOW_ENV": "NOTIFY_TOKEN"})
    assert result.exit_code == 0, result
    assert "warning" not in result.stderr, result.stderr
    record = read_records(GitRepo(fleet.root), fleet.profile)[0]
    assert receiver.events("/ok") == ["started", "finished"]
    assert receiver.bodies("/default") == []  # the profile's own list replaces hotswap.yaml's
    started, finished = receiver.bodies("/ok")
    for body in (started, finished):
        assert body["schema"] == "hotswap.notification/1"
        assert (body["profile"], body["environment"], body["version"], body["kind"], body["strategy"]) == \
            (fleet.profile, "Staging", "1.0.0", "deploy", "canary")
        assert body["record_id"] == record["id"]
        assert ISO.match(body["time"]), body["time"]
        assert body["who"] == "Test Author <author@example.com>"
        assert body["phases"] == len(record["phases"])
    assert started["phase"] is None and started["status"] is None and started["figures"] == {"instances": 3}
    assert started["text"].startswith(f"{fleet.profile} 1.0.0: deploy started by Test Author")
    assert (finished["status"], finished["exit_code"], finished["reason"]) == ("completed", 0, None)
    assert finished["figures"]["duration_s"] == record["duration_s"]
    assert finished["figures"]["instances"] == 3
    headers = {k.lower(): v for k, v in receiver.seen[0][1].items()}
    assert headers["authorization"] == "Bearer t0ken-for-the-hook"
    assert headers["content-type"] == "application/json"


def sick_when(files: Path, name: str) -> list[str]:
    """A health check that fails once the instance runs a config with concurrency 99."""
    return [sys.executable, "-c", "import json,os,sys; p=sys.argv[1]; "
            "sys.exit(1 if os.path.exists(p) and json.load(open(p)).get('concurrency') == 99 else 0)",
            str(files / name / "worker.json")]


def test_a_failing_canary_sends_verdict_failed_reverted_finished(make_fleet: Callable[..., Fleet], tmp_path: Path,
                                                                 cli: Cli, receiver: Receiver) -> None:
    files = tmp_path / "instances"
    targets = [local_target(files, f"web-{i}", probes=[{"type": "command", "command": sick_when(files, f"web-{i}")}])
               for i in (1, 2, 3)]
    hooks = [{"url": f"{receiver.url}/json"},
             {"url": f"{receiver.url}/slack", "format": "slack", "events": ["verdict_failed", "finished"]}]
    fleet = fleet_with(make_fleet, targets, notify=hooks, health={"interval": "0.1s", "failure_limit": 0},
                       strategy={"type": "canary", "bake": "1s"})
    fleet.set_config(concurrency=99)
    fleet.release(cli, "1.0.0")
    result = deploy(cli, fleet)
    assert result.exit_code == 6, result
    assert receiver.events("/json") == ["started", "verdict_failed", "reverted", "finished"]
    _, failed, reverted, finished = receiver.bodies("/json")
    assert failed["phase"] == 1
    assert "health checks failed" in failed["reason"]
    assert failed["figures"]["outcome"] == "fail"
    [instance] = failed["figures"]["instances"]
    assert instance["instance"] == "web-1"
    assert {f["rule"]: f["failed"] for f in instance["findings"]}["failure_limit"] >= 1  # the numbers behind it
    assert (reverted["phase"], reverted["figures"]["restored"], reverted["figures"]["unrestored"]) == (1, 1, [])
    assert "health gate failed" in reverted["reason"]
    assert (finished["status"], finished["exit_code"], finished["phase"]) == ("reverted", 6, 1)
    assert finished["text"].startswith(f"{fleet.profile} 1.0.0: deploy reverted in ")
    slack = receiver.bodies("/slack")
    assert len(slack) == 2  # only the events it asked for
    for body in slack:
        assert set(body) == {"text", "blocks"}
        assert [b["type"] for b in body["blocks"]] == ["section", "context"]
        assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert slack[0]["text"].startswith(f"{fleet.profile} 1.0.0: health gate failed at phase 1/")
    assert slack[1]["text"] == finished["text"]
    assert slack[1]["blocks"][0]["text"]["text"].startswith(":warning: ")
    assert f"`{finished['record_id']}`" in slack[1]["blocks"][1]["elements"][0]["text"]


def test_failing_and_stalling_receivers_never_change_the_deploy(make_fleet: Callable[..., Fleet], cli: Cli,
                                                                receiver: Receiver) -> None:
    host = receiver.url.removeprefix("http://")
    hooks = [{"url": f"http://user:hunter22@{host}/fail/deep/path?token=qs-secret"},  # answers 500
             {"url": f"{receiver.url}/stall", "timeout": "60s"},  # takes the request, never answers
             {"url": f"{receiver.url}/drip", "timeout": "1s"},  # answers a byte every 0.3 s
             {"url": "http://127.0.0.1:9/closed"}]  # nothing listens
    fleet = fleet_with(make_fleet, notify=hooks)
    fleet.release(cli, "1.0.0")
    t0 = time.monotonic()
    result = deploy(cli, fleet)
    took = time.monotonic() - t0
    assert result.exit_code == 0, result
    assert fleet.running("web-3")["concurrency"] == 8
    assert took < FINISH_WAIT + 8, took  # the deploy's own second or two, then finish() gives up
    warnings = [line for line in result.stderr.splitlines() if line.startswith("hotswap: warning: notify")]
    assert len(warnings) == 4, result.stderr
    assert f"2 of 2 notification(s) to http://{host}/fail/… not delivered: it answered 500" in result.stderr
    assert f"{receiver.url}/stall did not take its notifications within {FINISH_WAIT:g}s" in result.stderr
    assert f"2 of 2 notification(s) to {receiver.url}/drip not delivered: no answer within 1s" in result.stderr
    assert "notification(s) to http://127.0.0.1:9/closed not delivered: " in result.stderr
    for secret in ("hunter22", "qs-secret", "user:"):
        assert secret not in result.stderr
    assert len(receiver.bodies("/fail/deep/path")) == 6  # each notification: once and 2 retries
    assert receiver.events("/stall") == ["started"]  # stuck on the first; the rest was given up
    assert read_records(GitRepo(fleet.root), fleet.profile)[0]["status"] == "completed"


def test_hotswap_yaml_notify_is_the_default_for_a_profile_without_its_own(make_fleet: Callable[..., Fleet],
                                                                          cli: Cli, receiver: Receiver) -> None:
    fleet = fleet_with(make_fleet, default=[{"url": f"{receiver.url}/default", "events": ["finished"]}],
                       strategy={"type": "canary", "bake": "0.1s"})
    fleet.release(cli, "1.0.0")
    assert deploy(cli, fleet).exit_code == 0
    [finished] = receiver.bodies("/default")
    assert (finished["event"], finished["status"], finished["version"]) == ("finished", "completed", "1.0.0")


PLAINTEXT = "sk_test_demo_4242424242"  # templates/payment-service.yaml, encrypted under the demo key
# a validator that echoes the config it was given (a secret in it), the way `nginx -t` echoes a bad line
ECHOING_CHECK = ["python3", "-c", "import json, sys; print(json.dumps(json.load(open(sys.argv[1])))); sys.exit(1)",
                 "{path}"]


def test_no_secret_reaches_a_payload(config_repo: Path, tmp_path: Path, cli: Cli, receiver: Receiver) -> None:
    name = "payment-service.development"
    instance = tmp_path / "pay-dev-1" / "config.json"
    instance.parent.mkdir()
    profile_file = config_repo / "profiles" / name / "profile.yaml"
    profile = yaml.safe_load(profile_file.read_text())
    profile["targets"][0]["transport"].update(path=str(instance), check=ECHOING_CHECK)
    profile["notify"] = [{"url": f"{receiver.url}/json"}, {"url": f"{receiver.url}/slack", "format": "slack"}]
    profile_file.write_text(yaml.safe_dump(profile))
    git(config_repo, "commit", "-qam", "a validator that talks too much, and webhooks")
    result = cli("--repo", str(config_repo), "deploy", name, "--rev", "HEAD", "--yes", env={KEY_ENV: DEMO_SECRET_KEY})
    assert result.exit_code == 6, result  # the check failed: reverted
    assert receiver.events("/json") == ["started", "reverted", "finished"]
    assert len(receiver.bodies("/slack")) == 3
    sent = json.dumps([body for _, _, body in receiver.seen])
    assert '\\"apiKey\\": \\"***\\"' in sent  # the echoed config is in the reason, scrubbed
    assert PLAINTEXT not in sent and DEMO_SECRET_KEY not in sent


def test_pauses_are_told_and_a_header_variable_nobody_allowed_is_never_sent(
        receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-do-not-send")
    deployment = SimpleNamespace(
        profile=SimpleNamespace(name="web.staging", environment="Staging"), version="1.2.0",
        plan=SimpleNamespace(strategy="canary", phases=(1, 2, 3)), allowed_env=frozenset({"NOTIFY_TOKEN"}))
    hooks, _ = webhooks_from([{"url": f"{receiver.url}/json"},
                              {"url": f"{receiver.url}/refused", "headers": {"X-Key": "${AWS_SECRET_ACCESS_KEY}"}}],
                             "profile.yaml")
    notifier = notify.Notifier(deployment, "deploy-1", "deploy", hooks, who="Ann <ann@example.com>")  # type: ignore[arg-type]
    for event in (DeployStarted(0.0, "web.staging", "1.2.0", "canary", 3, 10),
                  PhaseStarted(1.0, 1, "canary 10%", ("web-1",)),
                  GatePaused(2.0, 1, "inconclusive: web-1: 1/4 health checks failed"),
                  PhaseStarted(3.0, 2, "canary 50%", ("web-2",)),
                  PhasePaused(4.0, 2, "pause 10m", 600.0)):
        notifier.emit(event)
    notifier.finish({"status": "completed", "exit_code": 0, "duration_s": 700.0, "version": "1.2.0",
                     "who": "Ann <ann@example.com>", "instances": []})
    assert receiver.events("/json") == ["started", "paused", "paused", "finished"]
    gate, step = receiver.bodies("/json")[1:3]
    assert (gate["phase"], gate["reason"], gate["figures"]) == \
        (1, "inconclusive: web-1: 1/4 health checks failed", {"source": "gate", "until": None})
    assert gate["text"] == "web.staging 1.2.0: paused at phase 1/3: inconclusive: web-1: 1/4 health checks failed"
    assert (step["phase"], step["reason"], step["figures"]["source"]) == (2, "pause 10m", "step")
    assert ISO.match(step["figures"]["until"]) and step["figures"]["until"] > step["time"]
    assert receiver.bodies("/refused") == []
    assert notifier.problems == [f"notify: {receiver.url}/refused: header X-Key uses ${{AWS_SECRET_ACCESS_KEY}}, "
                                 "which is not an allowed environment variable; nothing is sent there"]


# -- pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "settings", "expected"), [
    ({"notify": [{"url": "http://a"}]}, {"notify": [{"url": "http://b"}]}, ([{"url": "http://a"}], "profile.yaml")),
    ({"notify": []}, {"notify": [{"url": "http://b"}]}, ([], "profile.yaml")),  # an empty list silences
    ({}, {"notify": [{"url": "http://b"}]}, ([{"url": "http://b"}], "hotswap.yaml")),
    ({}, {}, (None, "")),
    (None, None, (None, "")),
])
def test_which_notify_list_applies(profile: Any, settings: Any, expected: tuple[Any, str]) -> None:
    assert choose_notify(profile, settings) == expected


@pytest.mark.parametrize(("entry", "problem"), [
    ({"url": "ftp://x"}, "`url` must be an http:// or https:// URL"),
    ({"url": "https://x", "format": "teams"}, "format 'teams' is not one of json, slack"),
    ({"url": "https://x", "events": ["deployed"]}, "`events` must be a list of started, paused, verdict_failed"),
    ({"url": "https://x", "timeout": "soon"}, "not a duration: 'soon'"),
    ({"url": "https://x", "timeout": 0}, "timeout 0 must be a duration above 0"),
    ({"url": "https://x", "secret": "y"}, "unknown key 'secret'"),
    ({"url": "https://x", "headers": {"A": 1}}, "`headers` must map header names to strings"),
    ("https://x", "must be a mapping with a `url`"),
])
def test_a_bad_hotswap_yaml_webhook_is_skipped_with_a_problem(entry: Any, problem: str) -> None:
    hooks, problems = webhooks_from([entry, {"url": "https://ok.example/hook"}], "hotswap.yaml")
    assert [h.url for h in hooks] == ["https://ok.example/hook"]
    [line] = problems
    assert line.startswith("hotswap.yaml: notify[0]: ") and problem in line, line
    assert "://x" not in line  # the URL (it may hold credentials) is not named


def test_defaults_of_a_webhook() -> None:
    [hook], _ = webhooks_from([{"url": "https://hooks.example/x", "timeout": "250ms"}], "profile.yaml")
    assert (hook.format, hook.events, hook.timeout) == ("json", frozenset(notify.EVENTS), 0.25)


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXX", "https://hooks.slack.com/services/…"),
    ("http://user:pw@127.0.0.1:8080/hook?token=abc#f", "http://127.0.0.1:8080/hook"),
    ("https://example.com", "https://example.com"),
    ("http://[::1]:9000/a/b", "http://[::1]:9000/a/…"),
])
def test_a_url_is_named_without_its_secrets(url: str, shown: str) -> None:
    assert shown_url(url) == shown
