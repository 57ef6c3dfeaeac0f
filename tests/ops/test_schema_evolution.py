"""`hotswap validate` checks schema evolution: each schema version against the one before it in its
declared mode (file:line of the change), the configs that use the older version against the newer
(profiles, and released versions when a schema file changed, as in the pre-commit hook), and
schema status (draft, deprecated)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.repo import git

Cli = Callable[..., Any]
NEW = Path("schemas/worker-config/2.0.json")


def edit_schema(root: Path, relpath: Path | str, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / relpath
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2) + "\n")


def test_the_example_repos_schema_2_0_is_a_backward_compatible_step(config_repo: Path, cli: Cli) -> None:
    result = cli("--repo", str(config_repo), "validate")
    assert result.exit_code == 0, result
    assert "warning" not in result.stderr


def test_a_required_key_added_breaks_backward_and_names_its_line_and_the_configs_it_rejects(
        config_repo: Path, cli: Cli) -> None:
    edit_schema(config_repo, NEW, lambda s: s["required"].append("shutdownGraceS"))
    result = cli("--repo", str(config_repo), "validate")
    assert result.exit_code == 3, result
    line = next(ln for ln in result.stdout.splitlines() if "required_added" in ln)
    assert re.match(r"schemas/worker-config/2\.0\.json:\d+:\d+  \$\.shutdownGraceS  schema worker-config 1\.0 -> "
                    r"2\.0 is not backward-compatible \(x-hotswap-compatibility\): required_added", line), line
    assert "profile order-worker.staging (on worker-config/1.0) does not validate against worker-config/2.0" \
        in result.stdout

    edit_schema(config_repo, NEW, lambda s: s.update({"x-hotswap-compatibility": "none"}))
    assert cli("--repo", str(config_repo), "validate").exit_code == 0


def test_a_schema_change_checks_released_versions_too_as_the_pre_commit_hook_would(
        config_repo: Path, cli: Cli) -> None:
    assert cli("--repo", str(config_repo), "release", "order-worker.staging", "1.0.0", "-m", "first").exit_code == 0
    # the profile moves on to concurrency 4; the released 1.0.0 keeps 16
    config = config_repo / "profiles/order-worker.staging/config.json"
    config.write_text(config.read_text().replace('"concurrency": 16', '"concurrency": 4'))
    git(config_repo, "commit", "-qam", "fewer workers")
    # 2.0 caps concurrency at 8, declared forward: a narrower bound is forward-compatible, so only the
    # configs tell: the released 1.0.0 no longer validates, which forward mode lists as a warning
    edit_schema(config_repo, NEW, lambda s: (s.update({"x-hotswap-compatibility": "forward"}),
                                             s["properties"]["concurrency"].update({"maximum": 8}),
                                             s["properties"].pop("shutdownGraceS")))
    result = cli("--repo", str(config_repo), "validate", str(config_repo / NEW))
    assert result.exit_code == 0, result
    assert "released order-worker.staging 1.0.0 (on worker-config/1.0) does not validate against " \
           "worker-config/2.0" in result.stderr, result.stderr
    assert "warning: " in result.stderr
    plain = cli("--repo", str(config_repo), "validate")  # no schema file named: the working tree only
    assert "released order-worker.staging" not in plain.stderr + plain.stdout
    # declared backward, the same released config is an error
    edit_schema(config_repo, NEW, lambda s: s.update({"x-hotswap-compatibility": "backward"}))
    strict = cli("--repo", str(config_repo), "validate", str(config_repo / NEW))
    assert strict.exit_code == 3
    assert "released order-worker.staging 1.0.0 (on worker-config/1.0)" in strict.stdout


def test_a_draft_schema_is_refused_for_production_and_a_deprecated_one_warns(config_repo: Path, cli: Cli) -> None:
    edit_schema(config_repo, "schemas/payment-config/1.0.json", lambda s: s.update({"x-hotswap-status": "draft"}))
    result = cli("--repo", str(config_repo), "validate")
    assert result.exit_code == 3, result
    assert re.search(r"profiles/payment-service\.production/profile\.yaml:\d+:\d+  \$\.schema  schema "
                     r"payment-config/1\.0 is a draft", result.stdout), result.stdout
    assert "payment-service.staging" not in result.stdout  # only Production is refused a draft

    edit_schema(config_repo, "schemas/payment-config/1.0.json",
                lambda s: s.update({"x-hotswap-status": "deprecated"}))
    warned = cli("--repo", str(config_repo), "validate")
    assert warned.exit_code == 0, warned
    assert "schema payment-config/1.0 is deprecated" in warned.stderr
    listed = json.loads(cli("--repo", str(config_repo), "--json", "validate").stdout)
    assert any("deprecated" in w["message"] for w in listed["warnings"])
