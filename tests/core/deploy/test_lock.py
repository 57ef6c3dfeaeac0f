"""The deploy lock: atomic ref on origin, or a lock file without a remote; holder named, stale kept until forced."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from ledger_support import PROFILE, git

from hotswap_cli.clock import FakeClock
from hotswap_cli.core.deploy import lock
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.errors import ExitCode, LockHeld, UsageError

HOLDER_RE = (rf"^{PROFILE} is locked by Test Author <author@example.com> on {socket.gethostname()} "
             rf"\(pid {os.getpid()}\) for deploy 1.4.0 since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\) ")


def test_second_acquire_on_origin_names_the_holder(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    held = lock.acquire(a, PROFILE, purpose="deploy 1.4.0")

    with pytest.raises(LockHeld) as info:
        lock.acquire(b, PROFILE)

    assert info.value.exit_code == ExitCode.LOCKED
    assert info.value.exit_code == 5
    assert str(info.value).startswith(PROFILE) and f"`hotswap unlock {PROFILE} --force`" in str(info.value)
    import re
    assert re.match(HOLDER_RE, str(info.value)), str(info.value)
    assert held.holder.mode == "remote"
    assert git(a.top, "ls-remote", "origin", f"refs/hotswap/locks/{PROFILE}").split()[0] == held.holder.ref
    assert held.release() is True
    assert git(a.top, "ls-remote", "origin", "refs/hotswap/locks/*") == ""
    with lock.acquire(b, PROFILE) as again:
        assert lock.read_holder(a, PROFILE) == again.holder
    assert lock.read_holder(a, PROFILE) is None


def test_other_profiles_are_not_blocked(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    with lock.acquire(a, PROFILE), lock.acquire(b, "order-worker.staging") as other:
        assert other.profile == "order-worker.staging"


def test_waiting_gives_up_at_the_deadline(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    clock = FakeClock()
    with lock.acquire(a, PROFILE), pytest.raises(LockHeld, match="break a stale lock"):
        lock.acquire(b, PROFILE, wait=120, clock=clock, poll=30)

    assert clock.now() == pytest.approx(120)
    assert 3 <= len(clock.slept) <= 10


def test_waiting_takes_the_lock_once_released(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    first = lock.acquire(a, PROFILE, purpose="deploy 1.4.0")
    seen: list[lock.Holder] = []

    class ReleasingClock(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            first.release()

    second = lock.acquire(b, PROFILE, wait=120, clock=ReleasingClock(), on_wait=seen.append)

    assert [h.token for h in seen] == [first.holder.token]
    assert lock.read_holder(a, PROFILE) == second.holder
    second.release()


def test_unlock_needs_force_and_the_broken_holder_cannot_release(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    held = lock.acquire(a, PROFILE)

    with pytest.raises(LockHeld, match=f"break it with `hotswap unlock {PROFILE} --force`"):
        lock.unlock(b, PROFILE)
    broken = lock.unlock(b, PROFILE, force=True)
    taken = lock.acquire(b, PROFILE)

    assert broken is not None and broken.token == held.holder.token
    assert held.release() is False  # it does not delete b's lock
    assert lock.read_holder(a, PROFILE) == taken.holder
    assert lock.unlock(a, "order-worker.staging", force=True) is None


def test_acquire_with_force_breaks_the_lock(clone: Callable[[str], GitRepo]) -> None:
    a, b = clone("a"), clone("b")
    held = lock.acquire(a, PROFILE)
    mine = lock.acquire(b, PROFILE, force=True)
    assert lock.read_holder(a, PROFILE) == mine.holder != held.holder


def test_local_lock_file_without_a_remote(local_repo: GitRepo) -> None:
    path = local_repo.top / ".git" / "hotswap" / "locks" / f"{PROFILE}.json"
    with lock.acquire(local_repo, PROFILE, purpose="deploy 1.4.0") as held:
        assert held.holder.mode == "local" and path.is_file()
        with pytest.raises(LockHeld) as info:
            lock.acquire(local_repo, PROFILE)
        import re
        assert re.match(HOLDER_RE, str(info.value)), str(info.value)
    assert not path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == []


def test_stale_local_lock_is_reported_but_broken_only_with_force(local_repo: GitRepo) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    held = lock.acquire(local_repo, PROFILE)
    path = local_repo.top / ".git" / "hotswap" / "locks" / f"{PROFILE}.json"
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {int(dead.stdout)}'))

    with pytest.raises(LockHeld, match=rf"stale: process {int(dead.stdout)} no longer runs"):
        lock.acquire(local_repo, PROFILE)
    holder = lock.read_holder(local_repo, PROFILE)
    assert holder is not None and holder.stale

    assert lock.acquire(local_repo, PROFILE, force=True).holder.pid == os.getpid()
    assert held.release() is False


def test_profile_names_that_cannot_be_a_ref_are_refused(local_repo: GitRepo) -> None:
    for bad in ("a..b", "x.lock", "a/b", ""):
        with pytest.raises(UsageError, match="cannot name a lock"):
            lock.acquire(local_repo, bad)


def test_the_lock_is_released_when_the_deploy_fails(local_repo: GitRepo) -> None:
    with pytest.raises(RuntimeError, match="push failed"), lock.acquire(local_repo, PROFILE):
        raise RuntimeError("push failed")
    assert lock.read_holder(local_repo, PROFILE) is None


def test_unreachable_origin_is_a_repo_error_not_a_held_lock(clone: Callable[[str], GitRepo]) -> None:
    from hotswap_cli.errors import RepoError

    a = clone("a")
    git(a.top, "remote", "set-url", "origin", str(a.top.parent / "gone.git"))
    with pytest.raises(RepoError, match=r"^cannot read the deploy lock on origin: .*gone\.git"):
        lock.acquire(a, PROFILE, wait=60, clock=FakeClock())


def _busy_origin(origin: Path, seconds: float) -> threading.Thread:
    """Another push holding origin's packed-refs.lock (every ref deletion needs it) for `seconds`."""
    held = origin / "packed-refs.lock"
    held.touch()
    thread = threading.Thread(target=lambda: (time.sleep(seconds), held.unlink()), daemon=True)
    thread.start()
    return thread


def test_a_release_while_origin_is_busy_with_other_pushes_waits_for_it(
        clone: Callable[[str], GitRepo], origin: Path) -> None:
    # 50 pipelines releasing at once: git on origin refuses a deletion while another holds
    # packed-refs.lock; that refusal once read as "not ours any more" and left the lock behind
    a = clone("a")
    held = lock.acquire(a, PROFILE)
    busy = _busy_origin(origin, 1.5)
    assert held.release() is True
    busy.join()
    assert git(a.top, "ls-remote", "origin", "refs/hotswap/locks/*") == ""


def test_a_release_origin_refuses_is_an_error_not_a_lock_left_in_silence(
        clone: Callable[[str], GitRepo], origin: Path) -> None:
    from hotswap_cli.errors import RepoError

    a = clone("a")
    held = lock.acquire(a, PROFILE)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refs are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(RepoError, match=r"^cannot release the deploy lock on origin: .*refs are frozen") as info:
        held.release()
    assert f"hotswap unlock {PROFILE} --force" in (info.value.hint or "")


def test_the_journal_is_removed_while_origin_is_busy_with_other_pushes(
        clone: Callable[[str], GitRepo], origin: Path) -> None:
    from hotswap_cli.core.deploy import refdoc

    a = clone("a")
    refdoc.store(a, "refs/hotswap/journal/x", "journal.json", {"state": "running"}, "journal", "the journal")
    busy = _busy_origin(origin, 1.5)
    refdoc.delete(a, "refs/hotswap/journal/x", "the journal")
    busy.join()
    assert git(a.top, "ls-remote", "origin", "refs/hotswap/*") == ""
