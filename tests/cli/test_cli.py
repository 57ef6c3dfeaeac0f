"""The CLI surface: version, profiles, render, init, exit codes, start-up imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from hotswap_cli import __version__


def test_version_and_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "hotswap_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout == f"hotswap {__version__}\n"


def test_profiles_table_and_json(config_repo: Path, cli: Callable) -> None:
    table = cli("--repo", str(config_repo), "profiles")
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["PROFILE", "ENVIRONMENT", "TYPE", "SCHEMA", "STRATEGY", "TARGETS"]
    assert rows[3].split() == ["payment-service.production", "Production", "Microservice",
                               "payment-config/1.0", "canary", "4"]
    data = json.loads(cli("--repo", str(config_repo), "profiles", "--json").stdout)
    by_name = {p["name"]: p for p in data}
    assert by_name["payment-service.development"]["strategy"] == "direct"  # environment default
    assert by_name["order-worker.staging"]["strategy"] == "rolling"
    assert by_name["api-gateway.production"] | {"description": ""} == {
        "name": "api-gateway.production", "environment": "Production", "serviceType": "Gateway",
        "schema": "gateway-config/1.0", "strategy": "blue-green", "targets": 2, "description": ""}


def test_render_merges_chain(config_repo: Path, cli: Callable) -> None:
    result = cli("--repo", str(config_repo), "render", "payment-service.production")
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert data["database"]["pool"] == {"min": 10, "max": 80, "idleTimeoutMs": 30000}  # profile over template
    assert data["http"]["timeouts"]["readMs"] == 10000  # from base-service, two levels up
    assert data["retries"]["retryOn"] == [502, 503, 504]
    as_json = json.loads(cli("--repo", str(config_repo), "render", "payment-service.production",
                             "--format", "json").stdout)
    assert as_json == data


def test_render_null_deletes_inherited_keys(config_repo: Path, cli: Callable) -> None:
    data = yaml.safe_load(cli("--repo", str(config_repo), "render", "api-gateway.production").stdout)
    assert "service" not in data and "http" not in data and "retries" not in data
    assert [r["name"] for r in data["routes"]] == ["payments", "orders"]


def test_usage_error_is_exit_2(config_repo: Path, cli: Callable) -> None:
    result = cli("--repo", str(config_repo), "render", "payment-service.production", "--format", "toml")
    assert result.exit_code == 2
    assert result.stderr.strip() == "hotswap: error: --format must be yaml or json, not 'toml'"
    assert cli("--repo", str(config_repo), "frobnicate").exit_code == 2


def test_init_scaffolds_a_valid_committed_repo(tmp_path: Path, cli: Callable) -> None:
    result = cli("init", "demo-repo", cwd=tmp_path)
    assert result.exit_code == 0, result
    root = tmp_path / "demo-repo"
    assert "created hotswap.yaml" in result.stdout
    log = subprocess.run(["git", "log", "--format=%s"], cwd=root, capture_output=True, text=True).stdout
    assert log.strip() == "hotswap init: new config repo"
    assert cli("validate", cwd=root).exit_code == 0
    # break a value: the exact file, line and JSONPath come back
    base = root / "templates/base.yaml"
    base.write_text(base.read_text().replace("port: 8080", "port: 0"))
    broken = cli("validate", cwd=root)
    assert broken.exit_code == 3
    assert broken.stdout.strip() == "templates/base.yaml:4:3  $.http.port  0 is less than the minimum of 1 " \
                                    "(affects my-service.development)"


def test_init_refuses_to_overwrite_and_skips_git_inside_a_work_tree(config_repo: Path, cli: Callable) -> None:
    again = cli("init", str(config_repo))
    assert again.exit_code == 1
    assert "refusing to overwrite existing files: approvers, hotswap.yaml" in again.stderr
    inner = cli("init", str(config_repo / "sub"))
    assert inner.exit_code == 0
    assert not (config_repo / "sub/.git").exists()
    assert "initialised a git repository" not in inner.stderr


def test_validate_does_not_import_heavy_libraries(config_repo: Path) -> None:
    code = (
        "import sys\n"
        "from hotswap_cli.cli.main import main\n"
        "try:\n    main(['--repo', sys.argv[1], 'validate'])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('paramiko', 'httpx', 'deepdiff', 'git', 'cryptography', 'typer', 'rich')\n"
        "         if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(config_repo)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_no_colour_when_piped(config_repo: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "hotswap_cli", "--repo", str(config_repo), "profiles"],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "\x1b[" not in out.stdout and "\x1b[" not in out.stderr


def test_invalid_schema_file_is_a_clean_error(config_repo: Path, cli: Callable) -> None:
    # a schema that is valid JSON but not a JSON Schema is a clean error, not a crash
    (config_repo / "schemas/worker-config/1.0.json").write_text('{"type": 5}')
    result = cli("--repo", str(config_repo), "validate", "order-worker.staging")
    assert result.exit_code == 3
    # once, at the schema file, naming the profiles that use it
    assert result.stdout.startswith("schemas/worker-config/1.0.json  $  not a valid JSON Schema: ")
    assert result.stdout.endswith(" (affects order-worker.staging)\n")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["validate"], 3),
        (["validate", "--json"], 3),
        (["--json", "validate", "payment-service.production"], 0),
        (["validate", "--no-cache", "templates/gateway.yaml"], 3),
        (["--no-color", "validate", "nope"], 2),
        (["validate", "--format", "github"], 3),
        (["validate", "--format=gitlab", "templates/gateway.yaml"], 3),
        (["validate", "--json", "--format", "github"], 2),
        (["validate", "profiles/api-gateway.prod/config.yaml"], 2),
    ],
)
def test_fast_validate_path_matches_the_typer_command(config_repo: Path, cli: Callable, args: list[str],
                                                      code: int) -> None:
    """`hotswap validate` skips typer at start-up; both paths must print and exit the same."""
    edit_file = config_repo / "templates/gateway.yaml"
    edit_file.write_text(edit_file.read_text().replace("burst: 100", "burst: -1"))
    typer_path = cli("--repo", str(config_repo), *args, cwd=config_repo)
    fast = subprocess.run([sys.executable, "-m", "hotswap_cli", "--repo", str(config_repo), *args],
                          capture_output=True, text=True, cwd=config_repo)
    assert (fast.returncode, fast.stdout, fast.stderr) == (typer_path.exit_code, typer_path.stdout,
                                                           typer_path.stderr)
    assert fast.returncode == code
