"""`hotswap validate` through the real CLI against a copy of example-config-repo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hotswap_cli.core.config.configrepo import ConfigRepo
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.config.selection import affected_profiles

PROD = "profiles/payment-service.production"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_example_repo_is_valid(config_repo: Path, cli: Callable) -> None:
    result = cli("--repo", str(config_repo), "validate")
    assert result.exit_code == 0, result
    assert result.stdout == ""
    assert "6 profile(s) valid" in result.stderr


def test_bad_value_in_template_points_at_template_line(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / "templates/base-service.yaml", "maxAttempts: 3", "maxAttempts: 30")
    result = cli("--repo", str(config_repo), "validate", "payment-service.staging")
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        "templates/base-service.yaml:11:3  $.retries.maxAttempts  30 is greater than the maximum of 10 "
        "(affects payment-service.staging)"
    ]


def test_bad_value_in_profile_config_points_at_profile(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / f"{PROD}/config.yaml", "max: 80", "max: many")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3
    assert result.stdout.strip() == (
        f"{PROD}/config.yaml:7:5  $.database.pool.max  'many' is not of type 'integer'"
    )


def test_every_error_is_reported_sorted(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / f"{PROD}/config.yaml", "max: 80", "max: 0")
    edit(config_repo / f"{PROD}/config.yaml", "provider: stripe", "provider: paypal")
    edit(config_repo / "templates/payment-service.yaml", "refund: 120", "refund: -1")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines == sorted(lines, key=lambda s: (s.split(":")[0], int(s.split(":")[1])))
    assert lines[0].startswith(f"{PROD}/config.yaml:7:5  $.database.pool.max  0 is less than the minimum of 1")
    assert "$.payments.provider" in lines[1]
    assert lines[2].startswith("templates/payment-service.yaml:")


def test_unknown_key_in_profile_yaml(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / f"{PROD}/profile.yaml", "serviceType: Microservice", "serviceType: Microservice\nowner: x")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3
    assert f"{PROD}/profile.yaml:4:1  $.owner  unknown key 'owner'" in result.stdout


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("environment: Production", "environment: Prod", "$.environment  'Prod' is not one of"),
        ("serviceType: Microservice", "serviceType: Lambda", "$.serviceType  'Lambda' is not one of"),
        ("schema: payment-config/1.0", "schema: payment-config/9.9",
         "$.schema  schema 'payment-config/9.9' not found (expected schemas/payment-config/9.9.json)"),
        ("name: pay-prod-2", "name: pay-prod-1", "$.targets[1].name  duplicate target name 'pay-prod-1'"),
        ("environment: Production", "name: other\nenvironment: Production",
         "$.name  name 'other' does not match its folder 'payment-service.production'"),
        ("type: canary", "type: yolo", "$.strategy.type  'yolo' is not one of"),
    ],
)
def test_profile_yaml_rules(config_repo: Path, cli: Callable, old: str, new: str, expected: str) -> None:
    edit(config_repo / f"{PROD}/profile.yaml", old, new)
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3, result
    assert expected in result.stdout


def test_missing_template_names_the_chain(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / "templates/payment-service.yaml", "$extends: base-service", "$extends: nowhere")
    result = cli("--repo", str(config_repo), "validate", "payment-service.staging")
    assert result.exit_code == 3
    assert "template 'nowhere' not found (templates/nowhere.yaml), extended by " \
           "payment-service.staging -> payment-service -> nowhere" in result.stdout


def test_template_cycle_is_named(config_repo: Path, cli: Callable) -> None:
    (config_repo / "templates/base-service.yaml").write_text("$extends: payment-service\nservice: {}\n")
    result = cli("--repo", str(config_repo), "validate", "payment-service.staging")
    assert result.exit_code == 3
    assert "template cycle: payment-service.staging -> payment-service -> base-service -> payment-service" \
        in result.stdout


def test_duplicate_key_and_syntax_error_have_line_and_column(config_repo: Path, cli: Callable) -> None:
    (config_repo / f"{PROD}/config.yaml").write_text("service:\n  region: a\n  region: b\n")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3
    assert result.stdout.strip() == f"{PROD}/config.yaml:3:3  $  duplicate key 'region' (first defined at line 2)"


def test_oversize_config_is_refused(config_repo: Path, cli: Callable) -> None:
    big = "\n".join(f"  k{i}: {'x' * 100}" for i in range(11000))
    (config_repo / f"{PROD}/config.yaml").write_text("features: {}\nextra:\n" + big + "\n")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3
    assert "over the 1 MiB limit (1048576 bytes)" in result.stdout


def test_json_report(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / f"{PROD}/config.yaml", "max: 80", "max: 0")
    result = cli("--repo", str(config_repo), "validate", "--json")
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert [p["profile"] for p in report["profiles"] if not p["valid"]] == ["payment-service.production"]
    assert report["errors"] == [{
        "file": f"{PROD}/config.yaml", "line": 7, "column": 5, "path": "$.database.pool.max",
        "message": "0 is less than the minimum of 1", "profile": "payment-service.production",
        "affects": ["payment-service.production"],
    }]
    valid = [p for p in report["profiles"] if p["valid"]]
    assert all(len(p["sha256"]) == 64 for p in valid)


def test_unknown_profile_is_a_usage_error(config_repo: Path, cli: Callable) -> None:
    result = cli("--repo", str(config_repo), "validate", "nope")
    assert result.exit_code == 2
    assert result.stderr.startswith("hotswap: error: profile 'nope' not found (profiles: api-gateway.production,")


def test_no_repo_found_is_exit_1(tmp_path: Path, cli: Callable) -> None:
    result = cli("validate", cwd=tmp_path)
    assert result.exit_code == 1
    assert "no hotswap.yaml found" in result.stderr and "hotswap init" in result.stderr


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (["templates/base-service.yaml"], ["api-gateway.production", "payment-service.development",
                                           "payment-service.production", "payment-service.staging"]),
        (["templates/gateway.yaml"], ["api-gateway.production"]),
        (["schemas/worker-config/1.0.json"], ["order-worker.staging"]),
        (["profiles/payment-service.staging/config.yaml"], ["payment-service.staging"]),
        (["hotswap.yaml"], ["api-gateway.production", "order-worker.staging", "payment-service.development",
                            "payment-service.production", "payment-service.staging", "shop-edge.development"]),
        (["templates/nginx.conf.j2"], ["shop-edge.development"]),
        (["README.md", "../elsewhere.yaml"], []),
    ],
)
def test_changed_files_select_affected_profiles(config_repo: Path, changed: list[str], expected: list[str]) -> None:
    repo = ConfigRepo.open(config_repo)
    assert affected_profiles(repo, config_repo, [str(config_repo / c) for c in changed]) == expected


def test_paths_from_git_top_when_config_repo_is_a_subfolder(tmp_path: Path, cli: Callable) -> None:
    import shutil

    from support.repo import EXAMPLE_REPO

    shutil.copytree(EXAMPLE_REPO, tmp_path / "ops" / "config")
    edit(tmp_path / "ops/config/templates/gateway.yaml", "burst: 100", "burst: -5")
    result = cli("validate", "ops/config/templates/gateway.yaml", cwd=tmp_path)
    assert result.exit_code == 3
    assert result.stdout.startswith("templates/gateway.yaml:5:3  $.rateLimits.burst")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("path: /srv/payment/config.json,", "path: /srv/payment/config.json, bogus: 1,",
         "profile.yaml:31:103  $.targets[3].transport.bogus  unknown key 'bogus'"),
        ("{type: http, url: \"http://127.0.0.1:18104/health\"}", "{type: htp, url: x}",
         "$.targets[3].health[0].type  'htp' is not one of ['http', 'metrics', 'prometheus', 'command']"),
        ("{type: http, url: \"http://127.0.0.1:18104/health\"}", "{type: prometheus, url: \"http://prom:9090\", "
         "query: x}", "$.targets[3].health[0].query  unknown key 'query'"),
        ("interval: 30s", "interval: 30s\n  on_inconclusive: later",
         "$.health.on_inconclusive  'later' is not one of ['fail', 'pause', 'pass']"),
        ("interval: 30s", "interval: 30s\n  confidence: 1", "$.health.confidence  1 is greater than or equal to"),
        ("type: ssh, host: 127.0.0.1, port: 2222,", "type: ssh, port: 2222,",
         "$.targets[3].transport  'host' is a required property"),
        ("port: 2222", "port: 99999", "$.targets[3].transport.port  99999 is greater than the maximum of 65535"),
    ],
)
def test_bad_target_names_file_line_and_what_is_wrong(config_repo: Path, cli: Callable, old: str, new: str,
                                                      expected: str) -> None:
    edit(config_repo / f"{PROD}/profile.yaml", old, new)
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3, result
    assert expected in result.stdout, result.stdout


def test_the_gate_settings_and_a_prometheus_probe_validate(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / f"{PROD}/profile.yaml", "interval: 30s",
         "interval: 30s\n  confidence: 0.999\n  baseline: 1m\n  max_bake: 20m\n  on_inconclusive: pause\n"
         "  min_checks: 5\n  failure_limit: 2\n  consecutive: 3")
    edit(config_repo / f"{PROD}/profile.yaml", "{type: http, url: \"http://127.0.0.1:18104/health\"}",
         "{type: prometheus, url: \"http://prom:9090\", lookback: 10m, latency_buckets: null, "
         "errors: 'sum(increase(errors_total{pod=\"{{name}}\"}[{{window}}]))'}")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 0, result
    from hotswap_cli.core.config.configrepo import ConfigRepo as Repo
    from hotswap_cli.specs import PrometheusProbeSpec

    profile = load_profile(Repo.open(config_repo), "payment-service.production")
    h = profile.health
    assert (h.confidence, h.baseline, h.max_bake, h.on_inconclusive) == (0.999, 60.0, 1200.0, "pause")
    assert (h.min_checks, h.failure_limit, h.consecutive) == (5, 2, 3)
    probe = profile.targets[3].probes[0]
    assert isinstance(probe, PrometheusProbeSpec) and probe.latency_buckets is None and probe.lookback == 600


def test_a_bad_gate_default_in_hotswap_yaml_is_named(config_repo: Path, cli: Callable) -> None:
    edit(config_repo / "hotswap.yaml", "on_no_data: fail", "on_no_data: fail\n    on_inconclusive: later")
    result = cli("--repo", str(config_repo), "validate", "payment-service.production")
    assert result.exit_code == 3, result
    assert "health: on_inconclusive: 'later' is not one of fail, pause, pass" in result.stdout, result.stdout


def test_the_fast_schema_check_builds_no_error_names_on_its_way_to_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """fastjsonschema names an array item's error with `.format(**locals())` (~25 us in its big
    function), paid for every oneOf branch a valid target fails: the fast path, which only
    answers valid or not, is compiled without it and still tells valid from invalid."""
    from importlib.resources import files
    from types import CodeType

    from hotswap_cli.core.config.schema import SchemaChecker, _fast_code

    monkeypatch.setenv("HOTSWAP_NO_CACHE", "1")
    schema = json.loads(files("hotswap_cli.data").joinpath("profile.schema.json").read_text())

    def names(code: CodeType) -> set[str]:
        return set(code.co_names).union(*(names(c) for c in code.co_consts if isinstance(c, CodeType)))

    assert "locals" not in names(_fast_code(schema))
    checker = SchemaChecker(schema, "profile.schema.json")
    assert checker._fast is not None
    target = {"name": "web-0", "transport": {"type": "http", "url": "http://127.0.0.1:1/config"},
              "health": [{"type": "http", "url": "http://127.0.0.1:1/health"}]}
    profile = {"environment": "Development", "schema": "s/1.0",
               "targets": [{**target, "name": f"web-{i}"} for i in range(200)]}
    checker._fast(profile)  # valid: no exception
    profile["targets"][150] = {**target, "transport": {"type": "http", "url": 5}}
    with pytest.raises(Exception, match="must be string"):
        checker._fast(profile)
    assert [v.path for v in checker.violations(profile)] == [("targets", 150, "transport", "url")]
