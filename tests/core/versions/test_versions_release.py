"""release / versions / show: strict version format, immutable annotated tags, refusals."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.example import PROD_SECRET, PROFILE, commit, edit, git
from support.repo import EXAMPLE_REPO

from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.core.versions.release import latest_version, list_versions, parse_tag_message, resolve_version
from hotswap_cli.errors import RepoError
from hotswap_cli.model import config_hash

VERSION_FORMATS = [
    ("1.0.0", True), ("10.25.3", True), ("0.0.1", True), ("1.0", False), ("v1.0.0", False),
    ("1.0.0-beta", False), ("1.0.0+build", False), ("01.0.0", False), ("1.0.0.0", False), ("", False),
    ("1.x.0", False), ("١.٠.٠", False),  # Arabic-Indic digits are digits to Python's \d, not to semver
]


@pytest.mark.parametrize(("version", "ok"), VERSION_FORMATS, ids=[v or "empty" for v, _ in VERSION_FORMATS])
def test_version_format_table(config_repo: Path, hs: Callable, version: str, ok: bool) -> None:
    result = hs("release", PROFILE, version)
    if ok:
        assert result.exit_code == 0, result
        assert result.stdout == f"{PROFILE}/{version}\n"
        assert git(config_repo, "cat-file", "-t", f"{PROFILE}/{version}").strip() == "tag"  # annotated
    else:
        assert result.exit_code == 2, result
        assert "semantic version" in result.stderr
        assert git(config_repo, "tag", "--list") == ""


def test_tag_message_records_hash_schema_size_author(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0", "-m", "first cut\n\nwith details").exit_code == 0
    message = git(config_repo, "tag", "-l", "--format=%(contents)", f"{PROFILE}/1.0.0")
    description, meta = parse_tag_message(message)
    rendered = json.loads(hs("show", PROFILE, "1.0.0", "--format", "json").stdout)
    assert description == "first cut\n\nwith details"
    assert meta["schema"] == "payment-config/1.0"
    assert meta["author"] == "Test Author <author@example.com>"
    assert int(meta["size"]) > 500
    # the recorded hash is of the config as stored (ciphertext), not of the masked output
    v = resolve_version(GitRepo(config_repo), PROFILE, "1.0.0")
    assert v.sha256 == meta["sha256"] != config_hash(rendered)
    assert v.commit == git(config_repo, "rev-parse", "HEAD").strip()


def test_existing_version_is_never_moved(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    before = git(config_repo, "rev-parse", f"refs/tags/{PROFILE}/1.0.0")
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    commit(config_repo, "pool 90")
    again = hs("release", PROFILE, "1.0.0", "-m", "try to move it")
    assert again.exit_code == 1
    assert again.stderr.startswith(f"hotswap: error: version {PROFILE}/1.0.0 already exists")
    assert "never moved or overwritten" in again.stderr
    assert git(config_repo, "rev-parse", f"refs/tags/{PROFILE}/1.0.0") == before
    # the core refuses too, even when called directly
    with pytest.raises(RepoError, match="already exists"):
        from hotswap_cli.core.versions.release import release

        release(GitRepo(config_repo), PROFILE, "1.0.0")


def test_refuses_uncommitted_changes_to_profile_template_or_schema(config_repo: Path, hs: Callable) -> None:
    template = config_repo / "templates/base-service.yaml"
    edit(template, "readMs: 10000", "readMs: 11000")
    result = hs("release", PROFILE, "1.0.0")
    assert result.exit_code == 1
    assert "uncommitted changes in templates/base-service.yaml" in result.stderr
    git(config_repo, "checkout", "--", ".")
    edit(config_repo / "schemas/payment-config/1.0.json", '"maximum": 500', '"maximum": 400')
    assert "schemas/payment-config/1.0.json" in hs("release", PROFILE, "1.0.0").stderr
    git(config_repo, "checkout", "--", ".")
    # another profile's files do not matter
    edit(config_repo / "profiles/order-worker.staging/config.json", "{", "{ ")
    assert hs("release", PROFILE, "1.0.0").exit_code == 0


def test_invalid_config_is_not_released(config_repo: Path, hs: Callable) -> None:
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 9000")
    commit(config_repo, "too big")
    result = hs("release", PROFILE, "1.0.0")
    assert result.exit_code == 3
    assert "$.database.pool.max" in result.stderr and "not released" in result.stderr
    assert git(config_repo, "tag", "--list") == ""


def test_release_an_older_revision_and_list_newest_first(config_repo: Path, hs: Callable) -> None:
    first = git(config_repo, "rev-parse", "HEAD").strip()
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    commit(config_repo, "pool 90")
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 90", "max: 95")  # dirty: --rev is not HEAD
    assert hs("release", PROFILE, "1.0.0", "--rev", first, "-m", "old one").exit_code == 0
    git(config_repo, "checkout", "--", ".")
    assert hs("release", PROFILE, "1.1.0", "-m", "pool 90").exit_code == 0
    assert hs("release", "api-gateway.production", "3.0.0").exit_code == 0
    found = list_versions(GitRepo(config_repo), PROFILE)
    assert [v.version for v in found] == ["1.1.0", "1.0.0"]
    assert found[1].commit == first and found[1].description == "old one"
    assert latest_version(GitRepo(config_repo), PROFILE) == found[0]
    table = hs("versions", PROFILE)
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "DATE", "AUTHOR", "SHA256", "DESCRIPTION"]
    assert [line.split()[0] for line in lines[1:]] == ["1.1.0", "1.0.0"]
    assert found[0].sha256[:12] in lines[1]
    data = json.loads(hs("versions", PROFILE, "--json").stdout)
    assert [d["version"] for d in data] == ["1.1.0", "1.0.0"]
    assert set(data[0]) == {"profile", "version", "tag", "commit", "date", "author", "description", "sha256",
                            "schema", "size"}
    with pytest.raises(RepoError, match="has no version 2.0.0"):
        resolve_version(GitRepo(config_repo), PROFILE, "2.0.0")


def test_show_renders_the_version_as_it_was(config_repo: Path, hs: Callable) -> None:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    edit(config_repo / f"profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    commit(config_repo, "pool 90")
    shown = hs("show", PROFILE, "1.0.0")
    assert shown.exit_code == 0
    data = yaml.safe_load(shown.stdout)
    assert data["database"]["pool"]["max"] == 80
    assert data["payments"]["apiKey"].startswith("*** sha256:") and len(data["payments"]["apiKey"]) == 19
    assert PROD_SECRET not in shown.stdout
    missing = hs("show", PROFILE, "9.9.9")
    assert missing.exit_code == 1 and f"{PROFILE} has no version 9.9.9" in missing.stderr


def test_push_sends_the_tag_to_origin(config_repo: Path, hs: Callable, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(config_repo, "remote", "add", "origin", str(remote))
    result = hs("release", PROFILE, "1.0.0", "--push")
    assert result.exit_code == 0, result
    assert "pushed" in result.stderr
    assert git(remote, "tag", "--list") == f"{PROFILE}/1.0.0\n"


def test_push_without_remote_says_so(config_repo: Path, hs: Callable) -> None:
    result = hs("release", PROFILE, "1.0.0", "--push")
    assert result.exit_code == 0
    assert "not pushed" in result.stderr


def test_config_repo_in_a_subfolder(tmp_path: Path, cli: Callable) -> None:
    import shutil

    from hotswap_cli.core.config.configrepo import find_root

    top = tmp_path / "ops"
    src = find_root(EXAMPLE_REPO)
    shutil.copytree(src, top / "config")
    git(top, "init", "-q", "-b", "main")
    commit(top, "init")
    assert cli("--repo", str(top / "config"), "release", PROFILE, "1.0.0").exit_code == 0
    edit(top / f"config/profiles/{PROFILE}/config.yaml", "max: 80", "max: 90")
    assert "config/profiles/" in cli("--repo", str(top / "config"), "release", PROFILE, "1.1.0").stderr
    diff = cli("--repo", str(top / "config"), "diff", PROFILE, "--json")
    assert [c["path"] for c in json.loads(diff.stdout)["changed"]] == ["$.database.pool.max"]
