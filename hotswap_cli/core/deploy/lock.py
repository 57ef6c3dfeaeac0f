"""The per-profile deploy lock: a ref created atomically on origin, or a lock file when there is no remote."""

from __future__ import annotations

import json
import os
import random
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hotswap_cli.clock import Clock, SystemClock
from hotswap_cli.core.deploy.ledger import REMOTE, identity, rejected, utc_iso
from hotswap_cli.core.versions.git import git_error, stale
from hotswap_cli.errors import LockHeld, RepoError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from hotswap_cli.core.versions.git import GitRepo

LOCK_PREFIX = "refs/hotswap/locks/"
SEEN_PREFIX = "refs/hotswap/remote/locks/"  # a fetched copy of someone else's lock, to read its holder
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class Holder:
    """Who holds a profile's lock, where, and since when."""

    profile: str
    who: str
    host: str
    pid: int
    since: str  # ISO 8601 UTC
    since_epoch: float
    token: str
    purpose: str = ""
    mode: str = "remote"  # remote (a ref on origin) | local (a file in the git dir)
    ref: str = ""  # the lock commit on origin (remote mode)

    @property
    def stale(self) -> bool:
        """Held by a process of this host that no longer runs (only then can we tell)."""
        return self.host == socket.gethostname() and not _alive(self.pid)

    def describe(self, now: float | None = None) -> str:
        age = _age((time.time() if now is None else now) - self.since_epoch)
        what = f" for {self.purpose}" if self.purpose else ""
        stale = f"; stale: process {self.pid} no longer runs" if self.stale else ""
        return (f"{self.profile} is locked by {self.who} on {self.host} (pid {self.pid}){what} "
                f"since {self.since} ({age} ago){stale}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stale": self.stale}


class Lock:
    """A held lock: release() it, or use it as a context manager."""

    def __init__(self, git_repo: GitRepo, holder: Holder) -> None:
        self.git_repo = git_repo
        self.holder = holder
        self.released = False
        self.release_error: RepoError | None = None

    @property
    def profile(self) -> str:
        return self.holder.profile

    def release(self) -> bool:
        """Give the lock up; False when it was no longer ours (broken with `unlock --force`)."""
        if self.released:
            return True
        self.released = True
        if self.holder.mode == "local":
            path = _lock_file(self.git_repo, self.profile)
            current = _read_file(path, self.profile)
            if current is None or current.token != self.holder.token:
                return False
            path.unlink(missing_ok=True)
            return True
        return _delete_remote(self.git_repo, self.profile, self.holder.ref)

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.release()
        except RepoError as error:
            # never turns a run's outcome (or its own failure) into this one: the caller warns
            self.release_error = error


def acquire(git_repo: GitRepo, profile: str, *, wait: float = 0.0, force: bool = False, purpose: str = "",
            clock: Clock | None = None, poll: float = 1.0,
            on_wait: Callable[[Holder], None] | None = None) -> Lock:
    """Take the profile's lock, waiting up to `wait` seconds; raises LockHeld naming the holder.

    `force` breaks a lock someone else holds first (the `unlock --force` of a deploy).
    """
    _check_name(git_repo, profile)
    clock = clock or SystemClock()
    deadline = clock.now() + max(0.0, wait)
    who, env = identity(git_repo)
    remote = git_repo.has_remote(REMOTE)
    current: Holder | None = None
    waited, vanished = False, 0
    while True:
        # While waiting, one ls-remote tells whether the same holder still has it: no push, no fetch.
        if not (remote and current is not None and _remote_sha(git_repo, profile) == current.ref):
            holder = Holder(profile, who, socket.gethostname(), os.getpid(), utc_iso(), time.time(),
                            uuid.uuid4().hex, purpose, mode="remote" if remote else "local")
            taken, current = _create_remote(git_repo, holder, env) if remote else _create_local(git_repo, holder)
            if taken is not None:
                return Lock(git_repo, taken)
            if current is not None and force:
                unlock(git_repo, profile, force=True)
                force, current = False, None
                continue
            vanished = vanished + 1 if current is None else 0
            if vanished > 5:  # refused, yet nobody holds it: a hook or permissions, not a lock
                raise RepoError(f"cannot take the deploy lock on {REMOTE}: the push is refused")
        remaining = deadline - clock.now()
        if current is not None and remaining <= 0:
            raise LockHeld(current.describe(), hint=_hint(profile, waited=wait > 0))
        if current is not None and on_wait is not None and not waited:
            on_wait(current)
        waited = True
        # current None: released between our attempt and our look; try again at once
        clock.sleep(min(max(remaining, 0.0), poll * random.uniform(0.5, 1.5)) if current is not None else 0.0)


def read_holder(git_repo: GitRepo, profile: str) -> Holder | None:
    """Who holds the profile's lock now (asks origin in remote mode), or None."""
    _check_name(git_repo, profile)
    if git_repo.has_remote(REMOTE):
        return _remote_holder(git_repo, profile)
    return _read_file(_lock_file(git_repo, profile), profile)


def unlock(git_repo: GitRepo, profile: str, *, force: bool = False) -> Holder | None:
    """Break the profile's lock (only with force; otherwise LockHeld names the holder); returns who held it."""
    holder = read_holder(git_repo, profile)
    if holder is None:
        return None
    if not force:
        raise LockHeld(holder.describe(), hint=f"break it with `hotswap unlock {profile} --force`")
    if holder.mode == "local":
        _lock_file(git_repo, profile).unlink(missing_ok=True)
    elif not _delete_remote(git_repo, profile, holder.ref):
        now = read_holder(git_repo, profile)
        if now is not None:  # taken again between our look and our delete: do not break a fresh lock blindly
            raise LockHeld(f"the lock changed while breaking it: {now.describe()}",
                           hint=f"run `hotswap unlock {profile} --force` again if this one is stale too")
    return holder


def _hint(profile: str, *, waited: bool) -> str:
    wait = "" if waited else "wait for it with --wait-for-lock 2m, or "
    return f"{wait}break a stale lock with `hotswap unlock {profile} --force`"


def _check_name(git_repo: GitRepo, profile: str) -> None:
    ok = profile and "/" not in profile and \
        git_repo.git("check-ref-format", f"{LOCK_PREFIX}{profile}", check=False).returncode == 0
    if not ok:
        raise UsageError(f"{profile!r} cannot name a lock", hint="profile names are like payment-service.production")


def _message(holder: Holder) -> str:
    return f"hotswap lock {holder.profile}\n\n{json.dumps(asdict(holder), indent=2)}\n"


def _parse(text: str, profile: str, **overrides: Any) -> Holder | None:
    try:
        data = json.loads(text)
        return Holder(**{**{k: data[k] for k in Holder.__dataclass_fields__ if k in data}, **overrides})
    except (ValueError, TypeError, KeyError):
        return Holder(profile, "unknown", "unknown", 0, "unknown", time.time(), "", **overrides)


# --- remote mode: refs/hotswap/locks/<profile> on origin -----------------------------------------------

def _create_remote(git_repo: GitRepo, holder: Holder, env: dict[str, str]) -> tuple[Holder | None, Holder | None]:
    """(ours, None) when created; (None, holder) when someone has it; (None, None) when it vanished meanwhile."""
    sha = git_repo.git("commit-tree", EMPTY_TREE, "-m", _message(holder), env=env).stdout.strip()
    ref = f"{LOCK_PREFIX}{holder.profile}"
    # An empty lease means "must not exist": origin checks it inside its ref transaction, so of
    # any number of racing pushes exactly one creates the ref.
    result = git_repo.push(REMOTE, f"--force-with-lease={ref}:", f"{sha}:{ref}")
    if result.returncode == 0:
        return Holder(**{**asdict(holder), "ref": sha}), None
    current = _remote_holder(git_repo, holder.profile)
    if current is None and not rejected(result.stdout):
        last = git_error(result.stderr)
        raise RepoError(f"cannot take the deploy lock on {REMOTE}: {last}")
    return None, current


def _remote_holder(git_repo: GitRepo, profile: str) -> Holder | None:
    ref, seen = f"{LOCK_PREFIX}{profile}", f"{SEEN_PREFIX}{profile}"
    if not git_repo.fetch_ref(REMOTE, ref, seen, "the deploy lock"):
        return None
    sha = git_repo.git("rev-parse", seen).stdout.strip()
    body = git_repo.git("log", "-1", "--format=%b", sha).stdout
    return _parse(body, profile, ref=sha, mode="remote")


def _remote_sha(git_repo: GitRepo, profile: str) -> str | None:
    ref = f"{LOCK_PREFIX}{profile}"
    result = git_repo.git("ls-remote", REMOTE, ref, check=False)
    if result.returncode != 0:
        last = git_error(result.stderr)
        raise RepoError(f"cannot read the deploy lock on {REMOTE}: {last}")
    return next((line.split()[0] for line in result.stdout.splitlines() if line.split()[1:] == [ref]), None)


def _delete_remote(git_repo: GitRepo, profile: str, sha: str) -> bool:
    """Delete origin's lock ref only if it still is `sha`; False when it is not (or no longer exists)."""
    ref = f"{LOCK_PREFIX}{profile}"
    result = git_repo.push(REMOTE, f"--force-with-lease={ref}:{sha}", f":{ref}")
    if result.returncode == 0:
        return True
    if stale(result.stdout):  # not `sha` any more: broken and taken again, or already gone
        return False
    last = git_error(result.stderr)
    raise RepoError(f"cannot release the deploy lock on {REMOTE}: {last}",
                    hint=f"if it stays, break it with `hotswap unlock {profile} --force`")


# --- local mode: <git dir>/hotswap/locks/<profile>.json ------------------------------------------------

def _lock_file(git_repo: GitRepo, profile: str) -> Path:
    return git_repo.common_dir / "hotswap" / "locks" / f"{profile}.json"


def _create_local(git_repo: GitRepo, holder: Holder) -> tuple[Holder | None, Holder | None]:
    path = _lock_file(git_repo, holder.profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Holder(**{**asdict(holder), "mode": "local"})
    # Write the whole file aside, then hard-link it into place: creation is exclusive (like
    # O_CREAT|O_EXCL) and a reader never sees a half-written holder.
    tmp = path.with_name(f".{holder.token}.tmp")
    tmp.write_text(json.dumps(asdict(holder), indent=2) + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        return None, _read_file(path, holder.profile)
    finally:
        tmp.unlink(missing_ok=True)
    return holder, None


def _read_file(path: Path, profile: str) -> Holder | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return _parse(text, profile, mode="local")


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
