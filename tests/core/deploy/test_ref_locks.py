"""Ref writes (journal, ledger, control) against the `.lock` file git takes for the instant of an
update: a crash that left one does not wedge every later command, another writer's is waited for,
and a kill aimed at hotswap's process group cannot tear an update halfway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ledger_support import git

from hotswap_cli.core.deploy import refdoc
from hotswap_cli.core.versions import git as gitmod
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.core.versions.remote import set_notice_sink
from hotswap_cli.errors import RepoError

REF = "refs/hotswap/journal/web.development"


def lock_file(repo: GitRepo) -> Path:
    return repo.top / ".git" / f"{REF}.lock"


def held(repo: GitRepo, age: float = 0.0) -> Path:
    path = lock_file(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def stored(repo: GitRepo) -> str:
    return git(repo.top, "show", f"{REF}:doc.json")


def at(repo: GitRepo) -> str:
    return git(repo.top, "for-each-ref", "--format=%(objectname)", REF).strip()


def test_a_lock_a_crash_left_behind_is_removed_and_said(local_repo: GitRepo) -> None:
    path = held(local_repo, age=gitmod.STALE_REF_LOCK + 5)
    said: list[str] = []
    previous = set_notice_sink(said.append)
    try:
        refdoc.store(local_repo, REF, "doc.json", {"state": "running"}, "journal", "the deploy journal")
    finally:
        set_notice_sink(previous)

    assert '"state": "running"' in stored(local_repo)
    assert not path.exists()
    assert len(said) == 1 and str(path) in said[0] and "did not finish" in said[0], said


def test_another_writers_lock_is_waited_for(local_repo: GitRepo) -> None:
    path = held(local_repo)
    threading.Timer(0.5, path.unlink).start()
    started = time.monotonic()

    refdoc.store(local_repo, REF, "doc.json", {"state": "running"}, "journal", "the deploy journal")

    assert time.monotonic() - started >= 0.4
    assert '"state": "running"' in stored(local_repo)


def test_a_lock_that_stays_is_an_error_naming_the_file_and_left_alone(
        local_repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gitmod, "REF_LOCK_WAIT", 0.3)
    path = held(local_repo)

    with pytest.raises(RepoError) as info:
        refdoc.store(local_repo, REF, "doc.json", {"state": "running"}, "journal", "the deploy journal")

    assert str(path) in str(info.value) and "another git process holds it" in str(info.value)
    assert "remove that file" in (info.value.hint or "")
    assert path.exists()


WRITER = """
import sys
from pathlib import Path
from hotswap_cli.core.versions.git import GitRepo
repo = GitRepo(Path(sys.argv[1]))
head = repo.git("rev-parse", "HEAD").stdout.strip()
print("writing", flush=True)
repo.update_ref(sys.argv[2], head)
"""


def test_killing_hotswaps_process_group_mid_write_does_not_tear_the_ref(local_repo: GitRepo, tmp_path: Path) -> None:
    # a `git` that takes a second over update-ref, as a loaded machine might between lock and rename
    shim = tmp_path / "bin"
    shim.mkdir()
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True).stdout.strip()
    (shim / "git").write_text(f'#!/bin/sh\n[ "$1" = update-ref ] && sleep 1\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[3]),
                                                       os.environ.get("PYTHONPATH", "")]))}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(local_repo.top), REF], env=env,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)  # hotswap and everything in its group, as a cancelled CI job does
    proc.wait()

    head = git(local_repo.top, "rev-parse", "HEAD").strip()
    ends = time.monotonic() + 10
    while time.monotonic() < ends and at(local_repo) != head:  # the orphaned git finishes on its own
        time.sleep(0.1)
    assert at(local_repo) == head
    assert not lock_file(local_repo).exists()
