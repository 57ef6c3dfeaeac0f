"""The CI recipes of docs/ci.md, run as the platforms run them: every `run:` (GitHub Actions) and
`script:` (GitLab CI) step of the page's YAML, in a shallow clone without tags, with no terminal,
stdin closed, the platform's variables set, and the step's exit code checked. The page cannot
drift from what works."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci.md"
DEV, PROD = "my-service.development", "my-service.production"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def recipes() -> tuple[dict[str, Any], dict[str, Any]]:
    """The GitHub workflow and the GitLab pipeline of docs/ci.md."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    loaded = [yaml.safe_load(b) for b in blocks]
    github = next(b for b in loaded if isinstance(b, dict) and "jobs" in b)
    gitlab = next(b for b in loaded if isinstance(b, dict) and "stages" in b)
    return github, gitlab


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A config repo from `hotswap init` with a Development and a Production profile (local
    targets, no bake), both released 1.0.0, pushed to a bare origin."""
    work = tmp_path / "work"
    run_hotswap(tmp_path, "init", str(work))
    (work / "hotswap.yaml").write_text((work / "hotswap.yaml").read_text().replace("bake: 5m", "bake: 0s"))
    for name, env in ((DEV, "Development"), (PROD, "Production")):
        folder = work / "profiles" / name
        if not folder.exists():
            folder.mkdir(parents=True)
            for f in (work / "profiles" / DEV).iterdir():
                (folder / f.name).write_bytes(f.read_bytes())
        meta = yaml.safe_load((folder / "profile.yaml").read_text())
        live = tmp_path / "live" / name / "config.json"
        meta.update(environment=env, strategy={"type": "direct"},
                    targets=[{"name": "local-1", "transport": {"type": "local", "path": str(live)}}])
        (folder / "profile.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        (tmp_path / "live" / name).mkdir(parents=True)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "two profiles")
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    for name in (DEV, PROD):
        run_hotswap(work, "release", name, "1.0.0", "--push")
    return bare


def run_hotswap(cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hotswap_cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stdin=subprocess.DEVNULL,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def checkout(origin: Path, where: Path, tag: str | None = None) -> Path:
    """What actions/checkout does: one commit, no tags (a tag build: just that tag, detached)."""
    url = f"file://{origin}"
    if tag is None:
        git(where.parent, "clone", "-q", "--depth", "1", "--no-tags", url, str(where))
    else:
        git(where.parent, "init", "-q", str(where))
        git(where, "remote", "add", "origin", url)
        git(where, "fetch", "-q", "--depth", "1", "--no-tags", "origin", f"+refs/tags/{tag}:refs/tags/{tag}")
        git(where, "checkout", "-q", f"refs/tags/{tag}")
    assert git(where, "rev-parse", "--is-shallow-repository").strip() == "true"
    return where


def step(script: str, cwd: Path, tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """One step as the runner runs it: `bash -eo pipefail` on a script file, stdin closed, no TTY,
    `hotswap` on PATH being the code under test."""
    bin_dir = tmp_path / "bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "hotswap").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m hotswap_cli "$@"\n')
        (bin_dir / "hotswap").chmod(0o755)
    path = tmp_path / f"step-{abs(hash(script))}.sh"
    path.write_text(script)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "CI": "true",
           "PYTHONPATH": os.pathsep.join(sys.path), **variables}
    env.pop("HOTSWAP_SSH_CONFIG", None)
    return subprocess.run(["bash", "-c", 'exec bash --noprofile --norc -eo pipefail "$1" <&-', "runner", str(path)],
                          cwd=cwd, capture_output=True, text=True, env=env, timeout=180)


def github_steps(job: str) -> list[str]:
    github, _ = recipes()
    return [s["run"] for s in github["jobs"][job]["steps"] if "run" in s and s.get("name") != "install"]


def test_github_pull_request_job_validates_and_plans_in_a_shallow_clone(origin: Path, tmp_path: Path) -> None:
    clone = checkout(origin, tmp_path / "pr")
    summary = tmp_path / "summary.md"
    summary.touch()
    validate, plan = github_steps("check")
    done = step(validate, clone, tmp_path, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request")
    assert done.returncode == 0, done.stdout + done.stderr
    done = step(plan, clone, tmp_path, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request",
                GITHUB_STEP_SUMMARY=str(summary))
    assert done.returncode == 0, done.stdout + done.stderr
    text = summary.read_text()
    assert f"### {DEV}" in text and f"### {PROD}" in text
    assert "dry run: nothing was changed" in text and "Traceback" not in text


def test_github_pull_request_job_annotates_the_line_of_an_unknown_key(origin: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    config = work / "profiles" / DEV / "config.yaml"
    lines = config.read_text().splitlines()
    config.write_text("\n".join([*lines, "unknown_knob: 3"]) + "\n")
    git(work, "commit", "-q", "-am", "a typo")
    git(work, "push", "-q", "origin", "main")
    clone = checkout(origin, tmp_path / "pr")
    validate, _ = github_steps("check")
    done = step(validate, clone, tmp_path, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request")
    assert done.returncode == 3, done.stdout + done.stderr
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1, done.stdout
    assert f"file=profiles/{DEV}/config.yaml,line={len(lines) + 1}," in annotations[0], annotations[0]
    assert "unknown_knob" in annotations[0]


def test_github_tag_job_deploys_the_tagged_version(origin: Path, tmp_path: Path) -> None:
    tag = f"{DEV}/1.0.0"
    clone = checkout(origin, tmp_path / "tag", tag)
    (deploy,) = github_steps("deploy")
    done = step(deploy, clone, tmp_path, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF_NAME=tag,
                GITHUB_WORKFLOW="hotswap")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [json.loads(line) for line in (clone / "deploy.jsonl").read_text().splitlines()]
    assert lines[-1]["event"] == "result" and lines[-1]["status"] == "completed"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == lines[-1]  # `tail -n 1` shows it in the log
    assert json.loads((tmp_path / "live" / DEV / "config.json").read_text())
    # the record reached origin, and names the pipeline
    author = git(tmp_path, "--git-dir", str(origin), "log", "-1", "--format=%an", f"refs/hotswap/ledger/{DEV}")
    assert author.strip() == "github-actions (hotswap)"


def test_github_tag_job_without_approvals_fails_with_exit_4_and_a_json_error(origin: Path, tmp_path: Path) -> None:
    tag = f"{PROD}/1.0.0"
    clone = checkout(origin, tmp_path / "tag", tag)
    (deploy,) = github_steps("deploy")
    done = step(deploy, clone, tmp_path, GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF_NAME=tag,
                GITHUB_WORKFLOW="hotswap")
    assert done.returncode == 4, done.stdout + done.stderr
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["event"] == "error" and last["error"]["code"] == 4 and last["error"]["kind"] == "approval"
    assert not (tmp_path / "live" / PROD / "config.json").exists()


def gitlab_script(job: str) -> str:
    _, gitlab = recipes()
    return "\n".join(gitlab[job]["script"]) + "\n"


def test_gitlab_jobs_validate_to_a_code_quality_report_and_deploy_a_tag(origin: Path, tmp_path: Path) -> None:
    clone = checkout(origin, tmp_path / "mr")
    done = step(gitlab_script("validate"), clone, tmp_path, GITLAB_CI="true",
                CI_PIPELINE_SOURCE="merge_request_event")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((clone / "gl-code-quality-report.json").read_text()) == []
    done = step(gitlab_script("plan"), clone, tmp_path, GITLAB_CI="true", CI_PIPELINE_SOURCE="merge_request_event")
    assert done.returncode == 0, done.stdout + done.stderr
    tag = f"{DEV}/1.0.0"
    tagged = checkout(origin, tmp_path / "tag", tag)
    done = step(gitlab_script("deploy"), tagged, tmp_path, GITLAB_CI="true", CI_COMMIT_TAG=tag,
                CI_PROJECT_PATH="team/config", CI_SERVER_HOST="gitlab.example.com")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tagged / "deploy.jsonl").read_text().splitlines()[-1])["status"] == "completed"
