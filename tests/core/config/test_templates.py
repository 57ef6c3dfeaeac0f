"""Text templates: a profile ships a file rendered from its config with Jinja2 in its sandbox.
A missing key, a syntax error or an escape attempt fails `validate` (exit 3) at the template's
file:line; `render` shows the final bytes with secrets masked; a deploy ships the exact bytes (with
the real secret), and `status` knows them as the version that was deployed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.example import commit

PROFILE = "edge-test.staging"
TEMPLATE = """\
worker_processes {{ workers | default(1) }};
events {}
http {
{% for u in upstreams %}
  upstream {{ u.name }} {
{% for s in u.servers %}    server {{ s }};
{% endfor %}  }
{% endfor %}
  server {
    listen {{ listen }};
    # {{ profile }} on {{ instance }}
  }
}
"""
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": False,
    "required": ["listen", "upstreams"],
    "properties": {
        "listen": {"type": "integer"}, "workers": {"type": "integer"},
        "token": {"type": "string", "x-hotswap-secret": True},
        "upstreams": {"type": "array", "items": {"type": "object", "required": ["name", "servers"], "properties": {
            "name": {"type": "string"}, "servers": {"type": "array", "items": {"type": "string"}}}}},
    },
}
CONFIG = {"listen": 8080, "upstreams": [{"name": "app", "servers": ["127.0.0.1:9001", "127.0.0.1:9002"]}]}


@pytest.fixture
def edge(config_repo: Path, tmp_path: Path) -> Path:
    """An `edge.staging` profile whose two local targets receive templates/edge-test.conf.j2's rendering."""
    (config_repo / "schemas" / "edge-test-config").mkdir()
    (config_repo / "schemas" / "edge-test-config" / "1.0.json").write_text(json.dumps(SCHEMA))
    (config_repo / "templates" / "edge-test.conf.j2").write_text(TEMPLATE)
    folder = config_repo / "profiles" / PROFILE
    folder.mkdir()
    targets = [{"name": f"edge-{i}", "transport": {"type": "local", "path": str(tmp_path / f"edge-{i}" / "nginx.conf")}}
               for i in (1, 2)]
    for i in (1, 2):
        (tmp_path / f"edge-{i}").mkdir()
    (folder / "profile.yaml").write_text(yaml.safe_dump({
        "environment": "Development", "schema": "edge-test-config/1.0", "template": "templates/edge-test.conf.j2",
        "strategy": {"type": "direct"}, "targets": targets}, sort_keys=False))
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    commit(config_repo, "an nginx edge")
    return config_repo


def expected(instance: str, listen: int = 8080) -> str:
    return (f"worker_processes 1;\nevents {{}}\nhttp {{\n\n  upstream app {{\n    server 127.0.0.1:9001;\n"
            f"    server 127.0.0.1:9002;\n  }}\n\n  server {{\n    listen {listen};\n"
            f"    # {PROFILE} on {instance}\n  }}\n}}\n")


def edit_template(repo: Path, old: str, new: str) -> None:
    path = repo / "templates" / "edge-test.conf.j2"
    path.write_text(path.read_text().replace(old, new))


def test_render_shows_the_bytes_each_target_receives(edge: Path, hs: Callable) -> None:
    assert hs("validate", PROFILE).exit_code == 0
    shown = hs("render", PROFILE)
    assert shown.exit_code == 0, shown
    assert shown.stdout == expected("edge-1") + expected("edge-2")
    assert "# edge-1" in shown.stderr and "# edge-2" in shown.stderr
    one = hs("render", PROFILE, "--target", "edge-2")
    assert one.stdout == expected("edge-2")
    merged = hs("render", PROFILE, "--format", "json")
    assert json.loads(merged.stdout) == CONFIG


@pytest.mark.parametrize(("old", "new", "where", "says"), [
    ("listen {{ listen }}", "listen {{ lisen }}", "templates/edge-test.conf.j2:10", "'lisen' is undefined"),
    ("{% endfor %}  }", "{% endfr %}  }", "templates/edge-test.conf.j2:7", "syntax error"),
    ("# {{ profile }}", "# {{ ''.__class__.__mro__[1].__subclasses__() }}", "templates/edge-test.conf.j2:11",
     "refused by the sandbox"),
    ("events {}", "{% include '../profiles/edge.staging/config.yaml' %}", "templates/../profiles",
     "template not found"),
    ("events {}", "{% include '/etc/passwd' %}", "templates//etc/passwd", "template not found"),
], ids=["missing-key", "syntax-error", "sandbox-escape", "include-out-of-templates", "include-absolute"])
def test_a_template_that_does_not_render_fails_validation_at_its_line(edge: Path, hs: Callable, old: str, new: str,
                                                                      where: str, says: str) -> None:
    edit_template(edge, old, new)
    result = hs("validate", PROFILE)
    assert result.exit_code == 3, result
    line = next(li for li in (result.stdout + result.stderr).splitlines() if "target edge-1" in li)
    assert line.startswith(where) and says in line, line
    assert "root:" not in result.stdout + result.stderr
    # the pre-commit hook passes the changed template's path: the profiles rendering it are checked
    assert hs("validate", str(edge / "templates" / "edge-test.conf.j2")).exit_code == 3


def test_a_template_path_outside_templates_is_refused(edge: Path, hs: Callable) -> None:
    meta = edge / "profiles" / PROFILE / "profile.yaml"
    meta.write_text(meta.read_text().replace("template: templates/edge-test.conf.j2", "template: ../../etc/passwd"))
    result = hs("validate", PROFILE)
    assert result.exit_code == 3, result
    assert "template" in result.stdout + result.stderr and "root:" not in result.stdout + result.stderr


def test_secrets_are_masked_in_render_and_real_in_what_is_deployed(edge: Path, hs: Callable, tmp_path: Path,
                                                                   demo_key: str) -> None:
    edit_template(edge, "events {}", "events {}\n# token {{ token }}")
    assert hs("secret", "set", PROFILE, "$.token", input="s3cr3t-upstream-token\n").exit_code == 0
    commit(edge, "a token")
    shown = hs("render", PROFILE, "--target", "edge-1")
    assert shown.exit_code == 0 and "s3cr3t-upstream-token" not in shown.stdout
    assert "# token *** " in shown.stdout
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    deployed = hs("deploy", PROFILE, "1.0.0", "--yes")
    assert deployed.exit_code == 0, deployed
    live = (tmp_path / "edge-1" / "nginx.conf").read_text()
    assert "# token s3cr3t-upstream-token\n" in live
    assert "s3cr3t-upstream-token" not in deployed.stdout + deployed.stderr


def test_status_knows_the_deployed_bytes_and_the_plan_diffs_them_as_text(edge: Path, hs: Callable,
                                                                         tmp_path: Path) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    assert hs("deploy", PROFILE, "1.0.0", "--yes").exit_code == 0
    assert (tmp_path / "edge-2" / "nginx.conf").read_text() == expected("edge-2")
    status = hs("status", PROFILE)
    assert status.exit_code == 0, status
    assert status.stdout.count("1.0.0") == 2 and "drifted" not in status.stdout

    config = edge / "profiles" / PROFILE / "config.yaml"
    config.write_text(config.read_text().replace("listen: 8080", "listen: 9090"))
    commit(edge, "listen on 9090")
    assert hs("release", PROFILE, "1.1.0").exit_code == 0
    plan = hs("deploy", PROFILE, "1.1.0", "--dry-run")
    assert plan.exit_code == 0, plan
    assert "-    listen 8080;" in plan.stdout and "+    listen 9090;" in plan.stdout
    assert "running 1.0.0" in plan.stdout
    (tmp_path / "edge-1" / "nginx.conf").write_text(expected("edge-1") + "# edited by hand\n")
    drift = hs("status", PROFILE)
    assert drift.exit_code == 1 and "unknown: drifted" in drift.stdout


def test_diff_against_what_an_instance_runs_is_a_text_diff(edge: Path, hs: Callable, tmp_path: Path) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    assert hs("deploy", PROFILE, "1.0.0", "--yes").exit_code == 0
    same = hs("diff", PROFILE, "1.0.0", "live:edge-1", "--exit-code")
    assert same.exit_code == 0 and same.stdout == "", same
    (tmp_path / "edge-1" / "nginx.conf").write_text(expected("edge-1").replace("listen 8080", "listen 8081"))
    changed = hs("diff", PROFILE, "1.0.0", "live:edge-1", "--exit-code")
    assert changed.exit_code == 1, changed
    assert "-    listen 8080;\n" in changed.stdout and "+    listen 8081;\n" in changed.stdout
