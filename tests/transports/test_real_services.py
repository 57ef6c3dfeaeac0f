"""Real pre-flight checks end to end, through the `hotswap` CLI: a private nginx reached over the
real sshd (its nginx.conf rendered from a template, `nginx -t` on the staged file, `nginx -s
reload`, an http health gate on /health) and a real Prometheus (its prometheus.yml as YAML,
`promtool check config` on the staged file, reload by POST /-/reload). Errors keep the end of a
check's or reload's output, where the reason is."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.example import commit
from support.nginx import NginxServer, nginx_binary, private_conf, start_nginx
from support.prometheus import PrometheusServer, free_port
from support.sshd import SshServer

Cli = Callable[..., Any]

# --- the config repo: a copy of the example repo plus one profile per service -------------------


def add_profile(repo: Path, name: str, *, schema: dict[str, Any], config: Any, targets: list[dict[str, Any]],
                template: str | None = None, strategy: dict[str, Any] | None = None,
                health: dict[str, Any] | None = None) -> None:
    """`profiles/<name>/` (environment Development: no approvals) with its schema and template."""
    schema_id = f"{name.split('.')[0]}-config/1.0"
    (repo / "schemas" / schema_id).parent.mkdir(parents=True, exist_ok=True)
    (repo / "schemas" / f"{schema_id}.json").write_text(json.dumps({"$id": schema_id, **schema}, indent=2))
    meta: dict[str, Any] = {"environment": "Development", "schema": schema_id,
                            "strategy": strategy or {"type": "direct"},
                            "health": health or {"interval": "0.1s"}, "targets": targets}
    if template is not None:
        (repo / "templates" / f"{name}.conf.j2").write_text(template)
        meta["template"] = f"templates/{name}.conf.j2"
    folder = repo / "profiles" / name
    folder.mkdir(parents=True)
    (folder / "profile.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    set_config(repo, name, config)


def set_config(repo: Path, profile: str, config: Any) -> None:
    (repo / "profiles" / profile / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def release(cli: Cli, repo: Path, profile: str, version: str) -> None:
    commit(repo, f"{profile} {version}")
    result = cli("--repo", str(repo), "release", profile, version)
    assert result.exit_code == 0, result


def deploy(cli: Cli, repo: Path, profile: str, version: str) -> Any:
    return cli("--repo", str(repo), "deploy", profile, version, "--yes")


def rendered(cli: Cli, repo: Path, profile: str, target: str) -> bytes:
    result = cli("--repo", str(repo), "render", profile, "--target", target)
    assert result.exit_code == 0, result
    return result.stdout.encode()


def one_line(text: str) -> str:
    return " ".join(text.split())


# --- nginx over ssh ---------------------------------------------------------------------------

NGINX = "nginx.development"
# The same nginx.conf as support.nginx.private_conf, rendered from the config.
NGINX_TEMPLATE = """\
# {{ profile }} on {{ instance }}
daemon on;
worker_processes 1;
pid {{ prefix }}/logs/nginx.pid;
error_log {{ prefix }}/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {{ prefix }}/tmp/body;
{%- for temp in ["proxy", "fastcgi", "uwsgi", "scgi"] %}
    {{ temp }}_temp_path {{ prefix }}/tmp/{{ temp }};
{%- endfor %}
    server {
        listen 127.0.0.1:{{ port }};
        location = /health { return {{ health_status }} "{{ body }} health\\n"; }
        location / { return 200 "{{ body }}\\n"; }
    }
}
"""
NGINX_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
    "required": ["prefix", "port", "body", "health_status"],
    "properties": {"prefix": {"type": "string"}, "port": {"type": "integer"}, "body": {"type": "string"},
                   "health_status": {"type": "integer"}},
}


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxServer]:
    """A private nginx running a hand-written config whose `/` answers `hand-written`."""
    server = start_nginx(tmp_path / "nginx")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nginx_repo(config_repo: Path, sshd: SshServer, nginx: NginxServer, cli: Cli) -> Path:
    """The example repo plus `nginx.development`: one ssh target whose nginx.conf is the template's
    rendering, checked by `nginx -t`, reloaded by `nginx -s reload`, gated on /health; 1.0.0 released."""
    prefix = nginx.prefix
    transport = sshd.spec(nginx.conf, check=f"nginx -t -q -p {prefix} -c {{path}}",
                          reload=f"nginx -p {prefix} -c {nginx.conf} -s reload")
    add_profile(config_repo, NGINX, schema=NGINX_SCHEMA, template=NGINX_TEMPLATE,
                config={"prefix": str(prefix), "port": nginx.port, "body": "version-1", "health_status": 200},
                targets=[{"name": "edge-1", "transport": transport,
                          "health": [{"type": "http", "url": f"{nginx.url}/health", "timeout": "1s"}]}],
                strategy={"type": "direct", "bake": "1s"}, health={"interval": "0.1s"})
    release(cli, config_repo, NGINX, "1.0.0")
    return config_repo


def test_nginx_good_version_goes_live(nginx_repo: Path, nginx: NginxServer, cli: Cli) -> None:
    assert nginx.get("/") == (200, "hand-written")
    result = deploy(cli, nginx_repo, NGINX, "1.0.0")
    assert result.exit_code == 0, result
    nginx.wait_for_body("version-1")
    live = nginx.conf.read_bytes()
    assert live == rendered(cli, nginx_repo, NGINX, "edge-1")
    assert live.startswith(b"# nginx.development on edge-1\n")
    assert private_conf(nginx.prefix, nginx.port, "version-1") in live.decode()
    status = cli("--repo", str(nginx_repo), "status", NGINX)
    assert status.exit_code == 0, status
    assert "1.0.0" in status.stdout and "drifted" not in status.stdout


def test_nginx_syntax_error_is_refused_by_nginx_t_and_the_live_file_is_untouched(
        nginx_repo: Path, nginx: NginxServer, cli: Cli) -> None:
    assert deploy(cli, nginx_repo, NGINX, "1.0.0").exit_code == 0
    nginx.wait_for_body("version-1")
    before = nginx.conf.read_bytes()
    template = nginx_repo / "templates" / f"{NGINX}.conf.j2"
    template.write_text(template.read_text().replace("location / { return 200", "location / { retrun 200"))
    set_config(nginx_repo, NGINX, {"prefix": str(nginx.prefix), "port": nginx.port, "body": "version-2",
                                   "health_status": 200})
    release(cli, nginx_repo, NGINX, "1.1.0")  # valid for hotswap: only nginx knows its directives

    result = deploy(cli, nginx_repo, NGINX, "1.1.0")
    assert result.exit_code == 6, result
    out = one_line(result.stdout + result.stderr)
    # nginx's own message, naming the staged file and line; the live file never changed
    assert re.search(r'edge-1: failed \(check: failed \(exit 1\): \S+ \S+ \[emerg\] \d+#\d+: unknown directive '
                     r'"retrun" in \S+/conf/\.nginx\.conf\.hotswap-\w+\.tmp:17 \| nginx: configuration file \S+ '
                     r'test failed', out), out
    assert nginx.conf.read_bytes() == before
    assert not [p.name for p in nginx.conf.parent.iterdir() if p.name not in ("nginx.conf", "nginx.conf.hotswap-prev")]
    assert nginx.get("/") == (200, "version-1")


def test_nginx_version_whose_health_answers_500_is_caught_by_the_gate_and_reverted(
        nginx_repo: Path, nginx: NginxServer, cli: Cli) -> None:
    assert deploy(cli, nginx_repo, NGINX, "1.0.0").exit_code == 0
    nginx.wait_for_body("version-1")
    before = nginx.conf.read_bytes()
    set_config(nginx_repo, NGINX, {"prefix": str(nginx.prefix), "port": nginx.port, "body": "version-3",
                                   "health_status": 500})
    release(cli, nginx_repo, NGINX, "1.2.0")

    started = time.monotonic()
    result = deploy(cli, nginx_repo, NGINX, "1.2.0")
    assert result.exit_code == 6, result
    out = one_line(result.stdout + result.stderr)
    assert re.search(r"health gate failed after phase 1 \(all\): edge-1: \d+/\d+ health checks failed "
                     r"\(\d+%, >= \d+% > 10%\): 500 in \d+ms \(expected 200\)", out), out
    assert nginx.conf.read_bytes() == before
    nginx.wait_for_body("version-1")  # nginx -s reload returns before the old workers have stopped
    assert time.monotonic() - started < 20
    status = cli("--repo", str(nginx_repo), "status", NGINX)
    assert status.exit_code == 0 and "1.0.0" in status.stdout, status


# --- Prometheus -------------------------------------------------------------------------------

PROMETHEUS = "prometheus.development"
PROMETHEUS_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
    "required": ["global", "scrape_configs"],
    "properties": {"global": {"type": "object"}, "scrape_configs": {"type": "array", "items": {
        "type": "object", "required": ["job_name"], "properties": {"job_name": {"type": "string"}}}}},
}


def scrape_config(*jobs: str, interval: str = "15s") -> dict[str, Any]:
    return {"global": {"scrape_interval": interval},
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{18400 + i}"]}]}
                               for i, job in enumerate(jobs)]}


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus with --web.enable-lifecycle (POST /-/reload), scraping nothing real. Its
    directory name is long, so its reload errors (which name the config file twice) pass 300 characters."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert Path(binary).exists(), "prometheus is not installed (CI installs it in .ci/run)"
    directory = tmp_path / ("prometheus-with-a-long-directory-name-" + "x" * 60)
    directory.mkdir()
    (directory / "prometheus.yml").write_text(yaml.safe_dump(scrape_config("hand-written")))
    port, log = free_port(), directory / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        yield server
    finally:
        server.stop()


def config_file(server: PrometheusServer) -> Path:
    return Path(server.process.args[1].split("=", 1)[1])  # type: ignore[index,union-attr]


def running_jobs(server: PrometheusServer) -> list[str]:
    """The job names of the config Prometheus runs (its /api/v1/status/config)."""
    with urllib.request.urlopen(f"{server.url}/api/v1/status/config", timeout=5) as response:
        running = yaml.safe_load(json.load(response)["data"]["yaml"])
    return [job["job_name"] for job in running["scrape_configs"]]


def prometheus_profile(repo: Path, sshd: SshServer, prometheus: PrometheusServer, kind: str) -> None:
    """`prometheus.development`: prometheus.yml as YAML, `promtool check config` on the staged file.
    Over ssh the check is a remote shell command and the reload a POST to /-/reload (reload_url);
    on this machine (`local`) the check is an argv list and the reload curl's POST."""
    path, reload = config_file(prometheus), f"{prometheus.url}/-/reload"
    if kind == "ssh":
        transport = sshd.spec(path, format="yaml", check="promtool check config {path}", reload_url=reload)
    else:
        transport = {"type": "local", "path": str(path), "format": "yaml",
                     "check": ["promtool", "check", "config", "{path}"],
                     "reload": ["curl", "-fsS", "-X", "POST", reload]}
    add_profile(repo, PROMETHEUS, schema=PROMETHEUS_SCHEMA, config=scrape_config("shop"),
                targets=[{"name": "prom-1", "transport": transport,
                          "health": [{"type": "http", "url": f"{prometheus.url}/-/healthy"}]}])


@pytest.mark.parametrize("kind", ["ssh", "local"])
def test_prometheus_good_version_is_live_after_the_reload(config_repo: Path, sshd: SshServer,
                                                          prometheus: PrometheusServer, cli: Cli, kind: str) -> None:
    prometheus_profile(config_repo, sshd, prometheus, kind)
    assert running_jobs(prometheus) == ["hand-written"]
    set_config(config_repo, PROMETHEUS, scrape_config("shop", "payments", interval="10s"))
    release(cli, config_repo, PROMETHEUS, "1.0.0")
    result = deploy(cli, config_repo, PROMETHEUS, "1.0.0")
    assert result.exit_code == 0, result
    assert running_jobs(prometheus) == ["shop", "payments"]
    live = yaml.safe_load(config_file(prometheus).read_text())
    assert live == scrape_config("shop", "payments", interval="10s")


@pytest.mark.parametrize("kind", ["ssh", "local"])
def test_prometheus_bad_config_is_refused_by_promtool_before_the_swap(
        config_repo: Path, sshd: SshServer, prometheus: PrometheusServer, cli: Cli, kind: str) -> None:
    prometheus_profile(config_repo, sshd, prometheus, kind)
    before = config_file(prometheus).read_bytes()
    set_config(config_repo, PROMETHEUS, scrape_config("shop", "shop"))  # valid YAML, valid for the schema
    release(cli, config_repo, PROMETHEUS, "1.0.0")
    result = deploy(cli, config_repo, PROMETHEUS, "1.0.0")
    assert result.exit_code == 6, result
    out = one_line(result.stdout + result.stderr)
    assert "prom-1: failed (check: failed (exit 1)" in out, out
    assert 'found multiple scrape configs with job name "shop"' in out, out
    assert config_file(prometheus).read_bytes() == before
    assert running_jobs(prometheus) == ["hand-written"]


def test_prometheus_refusing_the_reload_is_reverted_with_its_reason(
        config_repo: Path, sshd: SshServer, prometheus: PrometheusServer, cli: Cli) -> None:
    """Without a check, Prometheus itself refuses the bad file on POST /-/reload (500): its answer
    names the config file twice before the reason, so only the end of it says why."""
    prometheus_profile(config_repo, sshd, prometheus, "ssh")
    meta = config_repo / "profiles" / PROMETHEUS / "profile.yaml"
    profile = yaml.safe_load(meta.read_text())
    del profile["targets"][0]["transport"]["check"]
    meta.write_text(yaml.safe_dump(profile, sort_keys=False))
    before = config_file(prometheus).read_bytes()
    set_config(config_repo, PROMETHEUS, scrape_config("shop", "shop"))
    release(cli, config_repo, PROMETHEUS, "1.0.0")
    result = deploy(cli, config_repo, PROMETHEUS, "1.0.0")
    assert result.exit_code == 6, result
    out = one_line(result.stdout + result.stderr)
    # the answer is longer than hotswap keeps: its start is cut ("…"), its end (the reason) kept
    assert re.search(rf"{re.escape(prometheus.url)}/-/reload answered 500: …\S* ?.*"
                     r'prometheus\.yml: found multiple scrape configs with job name "shop"', out), out
    assert config_file(prometheus).read_bytes() == before
    assert running_jobs(prometheus) == ["hand-written"]


# --- the end of a long output -----------------------------------------------------------------

NOISE = "for i in $(seq 50); do echo \"checking part $i of 50: fine\"; done"
REASON = "REASON: upstream pool payments has no servers"


@pytest.mark.parametrize(("kind", "step", "script"), [
    ("local", "check", f"{NOISE}; echo '{REASON}'; exit 1"),
    ("local", "reload", f"{NOISE}; echo '{REASON}'; exit 1"),
    ("ssh", "check", f"{NOISE}; echo '{REASON}' >&2; exit 1"),
    ("ssh", "reload", f"{NOISE}; echo '{REASON}' >&2; exit 1"),
    ("local", "check", f"{NOISE}; echo '{REASON}' >&2; exit 1"),
    ("local", "reload", f"{NOISE}; echo '{REASON}' >&2; exit 1"),
], ids=["local-check", "local-reload", "ssh-check-stderr", "ssh-reload-stderr", "local-check-stderr",
        "local-reload-stderr"])
def test_a_failing_command_shows_the_end_of_its_output(config_repo: Path, sshd: SshServer, tmp_path: Path,
                                                       cli: Cli, kind: str, step: str, script: str) -> None:
    live = tmp_path / "service" / "service.conf"
    live.parent.mkdir()
    live.write_text("RUNNING=true\n")
    if step == "reload":  # the service refuses the new file only: reloading the old one after the revert works
        script = f"grep -q RUNNING=false {live} || exit 0; {script}"
    if kind == "local":
        transport: dict[str, Any] = {"type": "local", "path": str(live), "format": "env", step: ["sh", "-c", script]}
    else:
        transport = sshd.spec(live, format="env", **{step: f"sh -c {shlex.quote(script)}"})
    add_profile(config_repo, "service.development", schema={"type": "object"}, config={"RUNNING": False},
                targets=[{"name": "svc-1", "transport": transport,
                          "health": [{"type": "command", "command": ["true"]}]}])
    release(cli, config_repo, "service.development", "1.0.0")
    result = deploy(cli, config_repo, "service.development", "1.0.0")
    assert result.exit_code == 6, result
    out = one_line(result.stdout + result.stderr)
    assert f"svc-1: failed ({step}: failed (exit 1)" in out, out
    assert REASON in out, out
    assert live.read_text() == "RUNNING=true\n"


# --- the example repo's nginx profile ---------------------------------------------------------


def test_the_example_edge_profile_renders_an_nginx_conf_that_nginx_accepts(config_repo: Path, tmp_path: Path,
                                                                          cli: Cli) -> None:
    conf = tmp_path / "edge-1.conf"
    conf.write_bytes(rendered(cli, config_repo, "shop-edge.development", "edge-1"))
    assert "server 127.0.0.1:18002 backup;" in conf.read_text()
    # pid and error log inside the test's directory; the rest is the example's file as it is
    checked = subprocess.run([nginx_binary(), "-t", "-q", "-p", str(tmp_path), "-c", str(conf), "-g",
                              f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;"],
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
