"""`hotswap validate` names each problem once, at its own file:line:col: an unknown key at the key
(YAML or JSON, in the profile's config or the template that has it), a template's error once with
the profiles it affects; a PROFILE or PATH that matches nothing is a usage error; the report also
comes as GitHub annotations, a GitLab Code Quality report, or one JSON document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotswap_cli.cli.fast_validate import github_commands
from hotswap_cli.core.config.schema import SchemaChecker, unknown_keys
from hotswap_cli.core.config.validate import ProfileResult, ValidationReport
from hotswap_cli.model import Issue, Location

PROD = "profiles/payment-service.production"
WORKER = "profiles/order-worker.staging"
PAYMENT = "payment-service.development, payment-service.production, payment-service.staging"


def hotswap(root: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """The real command line (its typer-free start-up path), as a hook or CI job runs it."""
    environ = {k: v for k, v in os.environ.items() if k != "PRE_COMMIT"}
    return subprocess.run([sys.executable, "-m", "hotswap_cli", *args], cwd=cwd or root, capture_output=True,
                          text=True, env={**environ, "HOTSWAP_NO_CACHE": "1", **(env or {})})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# -- unknown keys: at the key ---------------------------------------------------------------------


def test_a_nested_unknown_key_in_a_profile_config_is_at_its_own_line(config_repo: Path) -> None:
    edit(config_repo / f"{PROD}/config.yaml", "    max: 80\n", "    max: 80\n    idleTimeoutMS: 5\n")
    result = hotswap(config_repo, "validate", "payment-service.production")
    assert result.returncode == 3, result
    assert result.stdout == (f"{PROD}/config.yaml:8:5  $.database.pool.idleTimeoutMS  unknown key "
                             "'idleTimeoutMS' (did you mean 'idleTimeoutMs'?)\n")


def test_an_unknown_key_in_a_template_is_reported_once_at_the_template(config_repo: Path) -> None:
    edit(config_repo / "templates/base-service.yaml", "    readMs: 10000\n", "    readMs: 10000\n    read: 5\n")
    result = hotswap(config_repo, "validate")
    assert result.returncode == 3, result
    assert result.stdout == ("templates/base-service.yaml:9:5  $.http.timeouts.read  unknown key 'read' "
                             f"(did you mean 'readMs'?) (affects {PAYMENT})\n")
    assert result.stderr == "1 error(s) in 3 of 6 profile(s)\n"


def test_each_unknown_key_of_an_object_gets_its_own_line(config_repo: Path) -> None:
    edit(config_repo / f"{PROD}/config.yaml", "  region: eu-west-1\n", "  region: eu-west-1\n  zone: a\n  rack: 7\n")
    result = hotswap(config_repo, "validate", "payment-service.production")
    assert result.stdout.splitlines() == [f"{PROD}/config.yaml:3:3  $.service.zone  unknown key 'zone'",
                                          f"{PROD}/config.yaml:4:3  $.service.rack  unknown key 'rack'"]


def test_an_unknown_key_in_a_json_config_is_at_its_own_line_and_column(config_repo: Path) -> None:
    edit(config_repo / f"{WORKER}/config.json", '"prefetch": 50,', '"prefetch": 50, "prefech": 5,')
    result = hotswap(config_repo, "validate", "order-worker.staging")
    assert result.returncode == 3, result
    assert result.stdout == f"{WORKER}/config.json:5:21  $.queue.prefech  unknown key 'prefech' " \
                            "(did you mean 'prefetch'?)\n"


def test_a_json_config_yaml_could_not_read_is_located_all_the_same(config_repo: Path) -> None:
    # a surrogate-pair escape is JSON that YAML refuses: the error is the schema's, not a syntax error
    edit(config_repo / f"{WORKER}/config.json", '"name": "orders.fulfilment",',
         '"name": "orders \\ud83d\\udce6",\n    "colour": 1,')
    result = hotswap(config_repo, "validate", "order-worker.staging")
    assert result.stdout == f"{WORKER}/config.json:5:5  $.queue.colour  unknown key 'colour'\n", result


@pytest.mark.parametrize(
    ("schema", "data", "expected"),
    [
        ({"properties": {"a": {}}, "additionalProperties": False}, {"a": 1, "b": 2, "c": 3}, ["b", "c"]),
        ({"properties": {"a": {}}, "patternProperties": {"^x-": {}}, "additionalProperties": False},
         {"a": 1, "x-note": 2, "y": 3}, ["y"]),
        ({"properties": {"a": {}}, "unevaluatedProperties": False}, {"a": 1, "b": 2}, ["b"]),
        ({"allOf": [{"properties": {"a": {}}}], "unevaluatedProperties": False}, {"a": 1, "ab": 2}, ["ab"]),
        ({"additionalProperties": {"type": "integer"}}, {"a": "x"}, []),  # a value error, not an unknown key
    ],
)
def test_unknown_keys_are_the_ones_the_schema_refuses(schema: dict[str, Any], data: dict[str, Any],
                                                      expected: list[str]) -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", **schema}
    found = [k for v in SchemaChecker(schema, "s.json").violations(data) for k in unknown_keys(v)]
    assert found == expected


# -- what a command line names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("profiles/payment-servce.production/config.yaml",
         "profiles/payment-servce.production/config.yaml: no such file "
         "(did you mean profiles/payment-service.production/config.yaml?)"),
        ("payment-servce.production", "profile 'payment-servce.production' not found: "
                                      "did you mean payment-service.production?"),
        ("templates/base-servce.yaml", "templates/base-servce.yaml: no such file "
                                       "(did you mean templates/base-service.yaml?)"),
        ("approvers", "approvers: not a profile, template or schema file of the config repo "
                      "(pass a profile name, or a file under the config repo's profiles/, templates/ or schemas/)"),
        ("templates/unused.yaml", "templates/unused.yaml: no profile uses this template, so nothing validates it "
                                  "(validate a profile that extends it (`extends:` in its profile.yaml))"),
    ],
)
def test_a_name_or_path_that_matches_nothing_is_a_usage_error(config_repo: Path, item: str, message: str) -> None:
    (config_repo / "templates/unused.yaml").write_text("service: {}\n")
    result = hotswap(config_repo, "validate", item)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", f"hotswap: error: {message}\n")


def test_a_usage_error_under_json_is_one_json_document(config_repo: Path) -> None:
    result = hotswap(config_repo, "--json", "validate", "payment-servce.production")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {"error": {
        "code": 2, "kind": "usage",
        "message": "profile 'payment-servce.production' not found: did you mean payment-service.production?",
        "hint": None}}


def test_a_path_outside_the_config_repo_is_refused_but_skipped_under_pre_commit(tmp_path: Path,
                                                                                config_repo: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("a: 1\n")
    refused = hotswap(config_repo, "validate", str(outside))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"hotswap: error: {outside}: outside the config repo")
    (config_repo / "approvers.yaml").write_text("x: 1\n")
    hook = hotswap(config_repo, "validate", str(outside), "approvers.yaml", "profiles/order-worker.staging/config.json",
                   env={"PRE_COMMIT": "1"})
    assert (hook.returncode, hook.stderr) == (0, "1 profile(s) valid\n")


def test_files_outside_any_config_repo_are_nothing_to_validate_under_pre_commit(tmp_path: Path) -> None:
    (tmp_path / "site/templates").mkdir(parents=True)
    (tmp_path / "site/templates/page.html").write_text("<p>\n")
    hook = hotswap(tmp_path, "validate", "site/templates/page.html", env={"PRE_COMMIT": "1"})
    assert (hook.returncode, hook.stdout, hook.stderr) == (0, "", "no config repo among the files: nothing to "
                                                                  "validate\n")
    manual = hotswap(tmp_path, "validate", "site/templates/page.html")
    assert manual.returncode == 1 and "no hotswap.yaml found" in manual.stderr


def test_a_deleted_file_of_a_profile_validates_that_profile(config_repo: Path) -> None:
    # a profile moving its config from JSON to YAML: the JSON file is gone, git still knows it
    data = json.loads((config_repo / f"{WORKER}/config.json").read_text())
    (config_repo / f"{WORKER}/config.json").unlink()
    import yaml

    (config_repo / f"{WORKER}/config.yaml").write_text(yaml.safe_dump(data))
    result = hotswap(config_repo, "validate", f"{WORKER}/config.json", f"{WORKER}/config.yaml")
    assert (result.returncode, result.stderr) == (0, "1 profile(s) valid\n")


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["templates/gateway.yaml"], "1 profile(s) valid"),
        (["templates/base-service.yaml"], "4 profile(s) valid"),  # through gateway and payment-service
        (["schemas/payment-config/1.0.json"], "3 profile(s) valid"),
        (["profiles/payment-service.staging/config.yaml", "payment-service.staging"], "1 profile(s) valid"),
        (["hotswap.yaml"], "6 profile(s) valid"),
    ],
)
def test_changed_files_validate_the_profiles_they_affect(config_repo: Path, items: list[str], expected: str) -> None:
    result = hotswap(config_repo, "validate", *items)
    assert (result.returncode, result.stderr) == (0, expected + "\n")


def test_a_schema_a_ref_embeds_affects_the_profiles_whose_schema_refers_to_it(config_repo: Path) -> None:
    (config_repo / "schemas/common").mkdir()
    (config_repo / "schemas/common/1.0.json").write_text('{"$defs": {"name": {"type": "string", "minLength": 30}}}')
    schema = config_repo / "schemas/payment-config/1.0.json"
    edit(schema, '"name": {"type": "string", "minLength": 1}', '"name": {"$ref": "../common/1.0.json#/$defs/name"}')
    result = hotswap(config_repo, "validate", "schemas/common/1.0.json")
    assert result.returncode == 3
    assert result.stdout.startswith("templates/payment-service.yaml:4:3  $.service.name  'payment-service' is "
                                    f"too short (affects {PAYMENT})\n"), result.stdout


# -- output formats -------------------------------------------------------------------------------


def broken_template(root: Path) -> None:
    edit(root / "templates/gateway.yaml", "burst: 100", "burst: -1")


def test_github_annotations(tmp_path: Path, config_repo: Path) -> None:
    broken_template(config_repo)
    result = hotswap(config_repo, "validate", "--format", "github")
    assert result.returncode == 3
    assert result.stdout == ("::error file=templates/gateway.yaml,line=5,col=3,title=hotswap validate::"
                             "$.rateLimits.burst  -1 is less than the minimum of 0 (affects api-gateway.production)\n")
    assert result.stderr == "1 error(s) in 1 of 6 profile(s)\n"


def test_annotations_name_files_from_the_checkout_top(tmp_path: Path) -> None:
    import shutil

    from support.repo import EXAMPLE_REPO, git

    shutil.copytree(EXAMPLE_REPO, tmp_path / "ops/config")
    git(tmp_path, "init", "-q")
    broken_template(tmp_path / "ops/config")
    result = hotswap(tmp_path, "validate", "--format", "github", "ops/config/templates/gateway.yaml")
    assert result.stdout.startswith("::error file=ops/config/templates/gateway.yaml,line=5,col=3,"), result


def test_github_escapes_data_and_properties() -> None:
    issue = Issue(Location("templates/a,b:c%.yaml", 2, 4), "$.x", "50% off\r\nnext: line")
    report = ValidationReport((ProfileResult("p", (issue,)),))
    assert github_commands(report, "cfg/") == (
        "::error file=cfg/templates/a%2Cb%3Ac%25.yaml,line=2,col=4,title=hotswap validate::"
        "$.x  50%25 off%0D%0Anext: line (affects p)\n")


def test_gitlab_code_quality_report(config_repo: Path) -> None:
    broken_template(config_repo)
    result = hotswap(config_repo, "validate", "--format=gitlab")
    assert result.returncode == 3
    (entry,) = json.loads(result.stdout)
    assert set(entry) == {"description", "check_name", "fingerprint", "severity", "location"}
    assert isinstance(entry["fingerprint"], str) and len(entry["fingerprint"]) == 64
    del entry["fingerprint"]
    assert entry == {
        "description": "$.rateLimits.burst  -1 is less than the minimum of 0 (affects api-gateway.production)",
        "check_name": "hotswap-validate", "severity": "major",
        "location": {"path": "templates/gateway.yaml", "lines": {"begin": 5}},
    }
    edit(config_repo / "templates/gateway.yaml", "listen: 8443", "# moved down a line\nlisten: 8443")
    again = json.loads(hotswap(config_repo, "validate", "--format=gitlab").stdout)
    assert again[0]["location"]["lines"]["begin"] == 6
    assert again[0]["fingerprint"] == json.loads(result.stdout)[0]["fingerprint"]  # the same finding


@pytest.mark.parametrize("args", [["--json", "validate"], ["validate", "--json"], ["validate", "--format", "json"]])
def test_json_on_failure_is_one_document_with_each_error_once(config_repo: Path, cli: Callable,
                                                             args: list[str]) -> None:
    edit(config_repo / "templates/base-service.yaml", "    readMs: 10000\n", "    readMs: 10000\n    read: 5\n")
    edit(config_repo / f"{PROD}/config.yaml", "max: 80", "max: 0")
    fast = hotswap(config_repo, *args)
    typer_path = cli("--repo", str(config_repo), *args)
    assert fast.returncode == typer_path.exit_code == 3
    assert fast.stdout == typer_path.stdout
    report = json.loads(fast.stdout)  # the whole of stdout is one document
    assert report["valid"] is False
    assert report["errors"] == [
        {"file": f"{PROD}/config.yaml", "line": 7, "column": 5, "path": "$.database.pool.max",
         "message": "0 is less than the minimum of 1", "profile": "payment-service.production",
         "affects": ["payment-service.production"]},
        {"file": "templates/base-service.yaml", "line": 9, "column": 5, "path": "$.http.timeouts.read",
         "message": "unknown key 'read' (did you mean 'readMs'?)", "profile": None, "affects": PAYMENT.split(", ")},
    ]
    for profile in report["profiles"]:
        for error in profile["errors"]:
            assert set(error) >= {"file", "line", "column", "path", "message"}


def test_the_fast_path_stays_light_for_paths_and_formats(config_repo: Path) -> None:
    code = (
        "import sys\n"
        "from hotswap_cli.cli.main import main\n"
        "try:\n    main(['validate', '--format', 'github', 'templates/gateway.yaml', 'profiles/gone/config.yaml'])\n"
        "except SystemExit as e:\n    assert e.code == 2, e.code\n"
        "heavy = [m for m in ('paramiko', 'httpx', 'deepdiff', 'git', 'cryptography', 'typer', 'rich')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=config_repo)
    assert out.returncode == 0, out.stderr
    assert "profiles/gone/config.yaml: no such file" in out.stderr
    assert out.stdout.strip() == ""
