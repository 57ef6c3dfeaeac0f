"""The config repo is a jail: a symlink, an `extends:` path or a schema `$ref` that points out of
it is refused with a clear error, and what it points at is never read, printed or fetched."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.example import PROFILE, commit
from support.instances import Listener

OUTSIDE = "k8s-token-do-not-print-5521"
DEV = "payment-service.development"
SCHEMA = "schemas/payment-config/1.0.json"


@pytest.fixture
def kube_config(tmp_path: Path) -> Path:
    """A file of the machine that no config repo should be able to show."""
    path = tmp_path / "home" / ".kube" / "config"
    path.parent.mkdir(parents=True)
    path.write_text(f"service:\n  name: {OUTSIDE}\n  logLevel: {OUTSIDE}\n")
    return path


def assert_refused(result: object, *fragments: str) -> None:
    text = result.stdout + result.stderr  # type: ignore[attr-defined]
    assert result.exit_code != 0, result  # type: ignore[attr-defined]
    for fragment in fragments:
        assert fragment in text, text
    assert OUTSIDE not in text


def test_a_symlink_out_of_the_repo_is_not_followed(config_repo: Path, hs: Callable, kube_config: Path) -> None:
    config = config_repo / "profiles" / DEV / "config.yaml"
    config.unlink()
    config.symlink_to(kube_config)
    for args in (("validate",), ("validate", DEV), ("render", DEV)):
        # validate: `FILE  $  reason`, the other commands `FILE: reason`
        assert_refused(hs(*args), f"profiles/{DEV}/config.yaml", f"a symlink to {kube_config}, outside the config "
                                  "repo; refused")
    commit(config_repo, "a symlink sneaks in")
    shown = hs("show", DEV, "HEAD")  # read from git: the link's text is a path on the reader's machine
    assert_refused(shown, f"profiles/{DEV}/config.yaml: a symlink to {kube_config} in ", "outside the config repo")
    config.unlink()
    (kube_config.parent / "config.yaml").write_text(kube_config.read_text())
    (config_repo / "templates" / "shared").symlink_to(kube_config.parent)  # a folder, this time
    meta = config_repo / "profiles" / DEV / "profile.yaml"
    meta.write_text(meta.read_text().replace("extends: [payment-service]", "extends: [payment-service, shared/config]"))
    assert_refused(hs("validate", DEV), "templates/shared  $  a symlink to")


def test_a_symlink_inside_the_repo_is_followed(config_repo: Path, hs: Callable) -> None:
    config = config_repo / "profiles" / DEV / "config.yaml"
    (config_repo / "shared").mkdir()
    os.replace(config, config_repo / "shared" / "dev.yaml")
    config.symlink_to(Path("../../shared/dev.yaml"))
    assert hs("validate", DEV).exit_code == 0
    commit(config_repo, "dev config shared")
    shown = hs("show", DEV, "HEAD", "--format", "json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["service"]["logLevel"] == "debug"


def test_extends_cannot_climb_out(config_repo: Path, hs: Callable, kube_config: Path) -> None:
    escape = os.path.relpath(kube_config.parent / "config", config_repo / "templates")
    (kube_config.parent / "config.yaml").write_text(kube_config.read_text())
    meta = config_repo / "profiles" / DEV / "profile.yaml"
    data = yaml.safe_load(meta.read_text())
    data["extends"] = [escape]
    meta.write_text(yaml.safe_dump(data))
    assert_refused(hs("validate", DEV), "outside the config repo; refused")
    assert_refused(hs("render", DEV), "outside the config repo; refused")


@pytest.mark.parametrize("where", ["http", "file"])
def test_a_schema_ref_is_never_fetched(config_repo: Path, hs: Callable, kube_config: Path, listener: Listener,
                                       where: str) -> None:
    (kube_config.parent / "schema.json").write_text(json.dumps({"type": "string", "enum": [OUTSIDE]}))
    url = f"{listener.url}/schema.json" if where == "http" else (kube_config.parent / "schema.json").as_uri()
    schema_file = config_repo / SCHEMA
    schema = json.loads(schema_file.read_text())
    schema["properties"]["service"]["properties"]["name"] = {"$ref": url}
    schema_file.write_text(json.dumps(schema))
    for args in (("validate",), ("render", PROFILE), ("show", PROFILE, "worktree")):
        assert_refused(hs(*args), SCHEMA, f"$ref '{url}' points outside the config repo")
    assert listener.seen == []


def test_a_schema_ref_to_another_repo_file_works_and_carries_its_secret_marker(config_repo: Path,
                                                                              hs: Callable) -> None:
    (config_repo / "schemas" / "common").mkdir()
    (config_repo / "schemas" / "common" / "1.0.json").write_text(json.dumps({"$defs": {
        "name": {"type": "string", "minLength": 3},
        "credential": {"type": "string", "x-hotswap-secret": True}}}))
    schema_file = config_repo / SCHEMA
    schema = json.loads(schema_file.read_text())
    schema["properties"]["service"]["properties"]["name"] = {"$ref": "../common/1.0.json#/$defs/name"}
    schema["properties"]["service"]["properties"]["token"] = {"$ref": "../common/1.0.json#/$defs/credential"}
    schema_file.write_text(json.dumps(schema))
    assert hs("validate").exit_code == 0
    config = config_repo / "profiles" / DEV / "config.yaml"
    config.write_text(config.read_text().replace("logLevel: debug", "logLevel: debug\n  name: ab"))
    short = hs("validate", DEV)
    assert short.exit_code == 3 and "$.service.name" in short.stdout  # the embedded rule applies
    config.write_text(config.read_text().replace("name: ab", "name: abc\n  token: plain-token-value"))
    marked = hs("validate", DEV)
    assert marked.exit_code == 3 and "$.service.token  secret field holds plaintext" in marked.stdout
    climbing = schema["properties"]["service"]["properties"]
    climbing["name"] = {"$ref": "../../../common.json"}
    schema_file.write_text(json.dumps(schema))
    assert_refused(hs("validate"), f"{SCHEMA}  $  $ref '../../../common.json' leaves the config repo (affects "
                                   "payment-service.development, payment-service.production, payment-service.staging)")
