"""Reading a config repo as it was at a commit, through one `git cat-file --batch` process per
repo (core.versions.git): files, folders, symlinks, a config repo in a sub-folder, submodules,
odd names, big files, threads, a reader process that dies, and folders that are not git at all."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.errors import ConfigError, RepoError


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A git repo whose config repo is the sub-folder `conf/`."""
    top = tmp_path / "top"
    (top / "conf" / "profiles" / "web").mkdir(parents=True)
    (top / "conf" / "profiles" / "web" / "profile.yaml").write_text("environment: Production\n")
    (top / "conf" / "hotswap.yaml").write_text("default_branch: main\n")
    (top / "outside.txt").write_text("not in the config repo\n")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "first")
    return top


def test_files_and_folders_at_a_commit_of_a_config_repo_in_a_sub_folder(work: Path) -> None:
    repo = GitRepo(work / "conf")
    first = git(work, "rev-parse", "HEAD")
    (work / "conf" / "profiles" / "web" / "profile.yaml").write_text("environment: Staging\n")
    (work / "conf" / "templates").mkdir()
    (work / "conf" / "templates" / "base.yaml").write_text("a: 1\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "second")

    then, now = repo.source_at(first), repo.source_at("HEAD")
    assert then.read("profiles/web/profile.yaml") == b"environment: Production\n"
    assert now.read("profiles/web/profile.yaml") == b"environment: Staging\n"
    assert then.read("templates/base.yaml") is None  # not there yet
    assert now.read("./templates//base.yaml") == b"a: 1\n"
    assert then.listdir("") == ["hotswap.yaml", "profiles"]
    assert now.listdir("") == ["hotswap.yaml", "profiles", "templates"]
    assert now.listdir("profiles") == ["web"]
    assert now.read("profiles") is None  # a folder is not a file
    assert now.listdir("hotswap.yaml") == []  # nor a file a folder
    assert now.listdir("nowhere") == [] and now.read("nowhere/x.yaml") is None
    assert now.read("hotswap.yaml/x") is None  # a path through a file
    with pytest.raises(ConfigError, match="outside the config repo"):
        now.read("../outside.txt")  # the git top is outside the config repo


def test_symlinks_are_followed_inside_the_repo_and_refused_out_of_it(work: Path) -> None:
    conf = work / "conf"
    (conf / "shared.yaml").write_text("shared: true\n")
    (conf / "profiles" / "web" / "config.yaml").symlink_to("../../shared.yaml")
    (conf / "profiles" / "web" / "loop.yaml").symlink_to("loop.yaml")
    (conf / "profiles" / "web" / "escape.yaml").symlink_to("../../../outside.txt")
    (conf / "profiles" / "web" / "absolute.yaml").symlink_to("/etc/hostname")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "links")
    source = GitRepo(conf).source_at("HEAD")
    assert source.read("profiles/web/config.yaml") == b"shared: true\n"
    for name, target in (("loop.yaml", "loop.yaml"), ("escape.yaml", "../../../outside.txt"),
                         ("absolute.yaml", "/etc/hostname")):
        with pytest.raises(ConfigError, match=f"a symlink to {target} in HEAD, outside the config repo"):
            source.read(f"profiles/web/{name}")


def test_a_submodule_odd_names_and_a_big_file(work: Path) -> None:
    conf = work / "conf"
    big = os.urandom(3 * 1024 * 1024)
    (conf / "big.bin").write_bytes(big)
    (conf / "profiles" / "wëb name").mkdir()
    (conf / "profiles" / "wëb name" / "profile.yaml").write_text("x: 1\n")
    sub = work / "sub-source"
    sub.mkdir()
    git(sub, "init", "-q")
    git(sub, "commit", "-q", "--allow-empty", "-m", "s")
    git(work, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "conf/vendor")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "odd")
    source = GitRepo(conf).source_at("HEAD")
    assert source.read("big.bin") == big
    assert source.read("profiles/wëb name/profile.yaml") == b"x: 1\n"
    assert "wëb name" in source.listdir("profiles")
    assert source.read("vendor") is None and source.listdir("vendor") == []  # a submodule is neither


def test_reads_from_threads_and_after_the_reader_process_dies(work: Path) -> None:
    repo = GitRepo(work / "conf")
    source = repo.source_at("HEAD")
    results: list[bytes | None] = []

    def read() -> None:
        for _ in range(50):
            results.append(source.read("profiles/web/profile.yaml"))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [b"environment: Production\n"] * 400
    proc = repo.objects._proc
    assert proc is not None
    proc.kill()
    proc.wait()
    assert repo.source_at("HEAD").read("hotswap.yaml") == b"default_branch: main\n"  # a new reader
    assert repo.objects._proc is not proc


def test_folders_that_are_not_a_git_work_tree(tmp_path: Path, work: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    for where in (plain, tmp_path / "missing", work / ".git"):
        with pytest.raises(RepoError, match="is not inside a git work tree"):
            GitRepo(where)
    with pytest.raises(RepoError, match="unknown revision"):
        GitRepo(work / "conf").source_at("no-such-branch")


def test_remotes(work: Path, tmp_path: Path) -> None:
    repo = GitRepo(work / "conf")
    assert not repo.has_remote()
    git(work, "remote", "add", "origin", str(tmp_path / "nowhere.git"))
    assert repo.has_remote() and not repo.has_remote("upstream")


def test_found_by_its_path_under_a_hooks_git_dir(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git runs hooks with GIT_DIR set (`.git`, relative to the top): the config repo in a
    sub-folder is still found by its path, as GitPython found it."""
    monkeypatch.chdir(work)
    monkeypatch.setenv("GIT_DIR", ".git")
    repo = GitRepo(work / "conf")
    assert repo.top == work.resolve() and repo.prefix == "conf"
    assert repo.source_at("HEAD").read("hotswap.yaml") == b"default_branch: main\n"


def test_a_checkout_another_user_owns_is_named_with_the_fix(tmp_path: Path) -> None:
    """A CI runner's checkout owned by another user: git refuses it (safe.directory), and the error
    says so with the command that allows it, not "not inside a git work tree"."""
    top = tmp_path / "theirs"
    (top / "conf").mkdir(parents=True)
    git(top, "init", "-q")
    subprocess.run(["chown", "-R", "nobody", str(top)], check=True)
    with pytest.raises(RepoError) as refused:
        GitRepo(top / "conf")
    assert "dubious ownership" in refused.value.message
    assert refused.value.hint == f"git config --global --add safe.directory {top}"


def test_a_crafted_malformed_tree_is_refused_in_one_line(work: Path) -> None:
    """git never writes a tree like this, but a pushed branch can carry one (`hash-object --literally`):
    reading through it fails with a RepoError, not a traceback."""
    bad = subprocess.run(["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"], cwd=work,
                         input=b"100644 profile.yaml\x00short", capture_output=True, check=True).stdout.decode().strip()
    conf = git(work, "rev-parse", "HEAD:conf")
    entries = git(work, "ls-tree", conf).replace("\tprofiles", "\tprofiles-old") + f"\n040000 tree {bad}\tprofiles\n"
    tree = subprocess.run(["git", "mktree", "--missing"], cwd=work, input=entries, capture_output=True, text=True,
                          check=True).stdout.strip()
    top = subprocess.run(["git", "mktree", "--missing"], cwd=work, input=f"040000 tree {tree}\tconf\n",
                         capture_output=True, text=True, check=True).stdout.strip()
    commit = git(work, "commit-tree", top, "-m", "crafted")
    source = GitRepo(work / "conf").source_at(commit)
    assert source.read("hotswap.yaml") == b"default_branch: main\n"
    with pytest.raises(RepoError, match="a malformed git tree object"):
        source.read("profiles/web/profile.yaml")


@pytest.fixture
def counted_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`git` on PATH logs each of its runs (its arguments, one line) and runs the real one."""
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    bin_dir, log = tmp_path / "bin", tmp_path / "git-runs.log"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return log


def runs(log: Path, first_word: str) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.split(" ", 1)[0] == first_word) if log.exists() else 0


def test_remotes_are_asked_once_until_the_repo_config_changes(work: Path, counted_git: Path, tmp_path: Path) -> None:
    repo = GitRepo(work / "conf")
    assert not any(repo.has_remote() for _ in range(5))
    assert runs(counted_git, "remote") == 1
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(work, "remote", "add", "origin", str(tmp_path / "origin.git"))
    assert repo.has_remote() and repo.has_remote("origin") and not repo.has_remote("upstream")
    assert runs(counted_git, "remote") == 3  # the `remote add`, and one look after it
    git(work, "remote", "remove", "origin")
    assert not repo.has_remote()


def test_the_identity_is_asked_once_until_the_config_or_environment_changes(
        work: Path, counted_git: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no global identity: the repo's own config decides
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)
    git(work, "config", "user.name", "Ada")
    git(work, "config", "user.email", "ada@example.com")
    repo = GitRepo(work / "conf")
    assert {repo.var("GIT_AUTHOR_IDENT") for _ in range(4)} == {"Ada <ada@example.com>"}
    assert runs(counted_git, "var") == 1
    git(work, "config", "user.name", "Grace")
    assert repo.var("GIT_AUTHOR_IDENT") == "Grace <ada@example.com>"
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Linus")
    assert repo.var("GIT_AUTHOR_IDENT") == "Linus <ada@example.com>"
    assert runs(counted_git, "var") == 3


def test_a_full_sha_is_resolved_once_and_a_branch_every_time(work: Path, counted_git: Path) -> None:
    repo = GitRepo(work / "conf")
    sha = repo.resolve("main")
    assert [repo.resolve(sha) for _ in range(3)] == [sha] * 3
    git(work, "commit", "-q", "--allow-empty", "-m", "moved on")
    assert repo.resolve("main") != sha  # a branch is looked up again
    assert runs(counted_git, "rev-parse") == 4  # finding the repo, main, the sha once, main again
    with pytest.raises(RepoError, match="unknown revision"):
        repo.resolve("0" * 40)


def test_the_git_dir_is_known_from_a_sub_folder_and_a_worktree(work: Path, tmp_path: Path) -> None:
    assert GitRepo(work / "conf").common_dir == (work / ".git").resolve()
    git(work, "worktree", "add", "-q", str(tmp_path / "wt"))
    assert GitRepo(tmp_path / "wt" / "conf").common_dir == (work / ".git").resolve()
