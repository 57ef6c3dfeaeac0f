"""What a clone brings from origin on demand: a profile's version tags (and approval tags) with the
commits they name, and the history a walk over a range needs. CI checks out shallow and without tags
(`git clone --depth 1 --no-tags`, actions/checkout's default): the commands that read versions fetch
them here, once per command (per GitRepo) and profile, and say so on stderr in one line."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hotswap_cli.errors import RepoError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

REMOTE = "origin"
Notice = Callable[[str], None]


def _to_stderr(text: str) -> None:
    sys.stderr.write(f"hotswap: {text}\n")  # sys.stderr as it is now: the CLI's scrubbed stream, a test's capture
    sys.stderr.flush()


_sink: Notice = _to_stderr


def notice(text: str) -> None:
    """Tell the person running hotswap what core did on its own (a fetch): one line, on stderr
    unless the CLI routes notices elsewhere with `set_notice_sink`."""
    _sink(text)


def set_notice_sink(sink: Notice | None) -> Notice:
    """Route notices to `sink` (None: back to stderr); returns the sink it replaces."""
    global _sink
    previous, _sink = _sink, sink or _to_stderr
    return previous


def fetch_command(profile: str) -> str:
    """The git command that brings a profile's versions into this clone."""
    return f"git fetch {REMOTE} 'refs/tags/{profile}/*:refs/tags/{profile}/*'"


def approvals_fetch_command(profile: str) -> str:
    return f"git fetch {REMOTE} '+refs/tags/approvals/{profile}/*:refs/tags/approvals/{profile}/*'"


@dataclass(frozen=True)
class TagFetch:
    """How a GitRepo brought a profile's tags from origin."""

    remote: bool  # the clone has a remote named origin
    error: str | None = None  # why origin could not be read; None: fetched (or no remote)
    approvals: bool = False  # its approval tags were fetched too
    timed_out: bool = False  # origin did not answer within the git deadline

    @property
    def hint(self) -> str | None:
        """For a remote that was only slow: how to wait longer."""
        from hotswap_cli.core.versions.git import GIT_TIMEOUT_ENV

        return f"set {GIT_TIMEOUT_ENV}=SECONDS for a slow remote" if self.timed_out else None

    @property
    def ok(self) -> bool:
        return self.remote and self.error is None


@dataclass
class FetchState:
    """What one GitRepo (in practice: one command) brought from origin: each thing at most once."""

    tags: dict[str, TagFetch] = field(default_factory=dict)  # profile -> what the fetch did
    looked_again: set[str] = field(default_factory=set)  # tags fetched once more after a miss
    complete: bool = False  # the whole history is here (not shallow, or deepened)
    offline: bool = False  # fetch nothing: use what the clone has (a pre-commit hook)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def ensure_tags(git_repo: GitRepo, profile: str, *, approvals: bool = False, want: str | None = None) -> TagFetch:
    """Fetch origin's version tags of `profile` (`approvals`: its approval tags too) and the commits
    they name, once per GitRepo and profile; never raises (the state says why origin could not be
    read). `want`: a tag the caller needs; missing here after the fetch, it is looked for once more
    (it may have been pushed since). A local version tag is never moved; approval tags follow origin's."""
    state = git_repo.fetches
    if state.offline:
        return TagFetch(False)
    with state.lock:
        done = state.tags.get(profile)
        if done is not None and not done.ok:
            return done  # no remote, or origin unreadable: one try is enough
        versions = done is None
        if want is not None and done is not None and want not in state.looked_again and not _present(git_repo, want):
            state.looked_again.add(want)
            versions = True
        wanted_approvals = approvals and not (done is not None and done.approvals)
        if not versions and not wanted_approvals:
            assert done is not None
            return done
        fetched = _fetch(git_repo, profile, versions=versions, approvals=wanted_approvals)
        if done is not None and fetched.ok:
            fetched = TagFetch(True, approvals=done.approvals or fetched.approvals)
        state.tags[profile] = fetched
        return fetched


def ensure_all_tags(git_repo: GitRepo, profiles: list[str]) -> None:
    """The version tags of many profiles in one fetch (validate reads every profile's releases):
    each then counts as fetched for `ensure_tags`. Never raises; a failure is kept per profile."""
    from hotswap_cli.core.versions.git import TIMED_OUT, git_error

    state = git_repo.fetches
    if state.offline:
        return
    with state.lock:
        todo = [p for p in profiles if p not in state.tags]
        if not todo:
            return
        if not git_repo.has_remote(REMOTE):
            state.tags.update((p, TagFetch(False)) for p in todo)
            return
        before = _refs(git_repo, "refs/tags/")
        result = git_repo.git("fetch", "--no-tags", "--no-write-fetch-head", REMOTE,
                              *(f"refs/tags/{p}/*:refs/tags/{p}/*" for p in todo), check=False)
        if result.returncode != 0 and not _only_kept_local_tags(result.stderr):
            failed = TagFetch(True, git_error(result.stderr or result.stdout), timed_out=result.returncode == TIMED_OUT)
            state.tags.update((p, failed) for p in todo)
            return
        state.tags.update((p, TagFetch(True)) for p in todo)
    fetched = len(_refs(git_repo, "refs/tags/") - before)
    if fetched:
        notice(f"fetched {fetched} version tag{'s' if fetched != 1 else ''} of {len(todo)} profile(s) from {REMOTE}")


def tag_state(git_repo: GitRepo, profile: str) -> TagFetch | None:
    """What `ensure_tags` did for `profile` on this GitRepo (None: nothing yet)."""
    with git_repo.fetches.lock:
        return git_repo.fetches.tags.get(profile)


def _present(git_repo: GitRepo, tag: str) -> bool:
    return git_repo.git("rev-parse", "--verify", "--quiet", f"refs/tags/{tag}", check=False).returncode == 0


def _refs(git_repo: GitRepo, prefix: str) -> set[str]:
    return set(git_repo.git("for-each-ref", "--format=%(refname)", prefix).stdout.split())


def _fetch(git_repo: GitRepo, profile: str, *, versions: bool, approvals: bool) -> TagFetch:
    from hotswap_cli.core.versions.git import TIMED_OUT, git_error

    if not git_repo.has_remote(REMOTE):
        return TagFetch(False)
    kinds = {"version": f"refs/tags/{profile}/"} if versions else {}
    if approvals:
        kinds["approval"] = f"refs/tags/approvals/{profile}/"
    before = {kind: _refs(git_repo, prefix) for kind, prefix in kinds.items()}
    ci_checkout = bool(shallow_commits(git_repo)) or not git_repo.git("for-each-ref", "--count=1",
                                                                       "refs/tags/").stdout.strip()
    specs = [f"{'+' if kind == 'approval' else ''}{prefix}*:{prefix}*" for kind, prefix in kinds.items()]
    # not --quiet: a tag that would move (a local one differs from origin's) is told apart from a failure
    result = git_repo.git("fetch", "--no-tags", "--no-write-fetch-head", REMOTE, *specs, check=False)
    if result.returncode != 0 and not _only_kept_local_tags(result.stderr):
        return TagFetch(True, git_error(result.stderr or result.stdout), timed_out=result.returncode == TIMED_OUT)
    counts = {kind: len(_refs(git_repo, kinds[kind]) - seen) for kind, seen in before.items()}
    said = [f"{n} {kind} tag{'s' if n != 1 else ''}" for kind, n in counts.items() if n]
    if said:
        why = " (a shallow/tagless checkout)" if ci_checkout and counts.get("version") and not before["version"] else ""
        notice(f"fetched {' and '.join(said)} of {profile} from {REMOTE}{why}")
    return TagFetch(True, approvals=approvals)


def _only_kept_local_tags(stderr: str) -> bool:
    """Did the fetch fail only because local tags differ from origin's (kept: a version never moves)?"""
    refused = [line for line in stderr.splitlines() if "[rejected]" in line]
    return bool(refused) and all("would clobber existing tag" in line for line in refused) \
        and not any(line.startswith(("fatal:", "error:")) for line in stderr.splitlines())


def shallow_commits(git_repo: GitRepo) -> frozenset[str]:
    """The commits a shallow clone has without their parents (empty: the clone is complete)."""
    where = git_repo.git("rev-parse", "--git-path", "shallow").stdout.strip()
    path = Path(where) if Path(where).is_absolute() else git_repo.top / where
    try:
        return frozenset(path.read_text().split())
    except OSError:
        return frozenset()


def ensure_history(git_repo: GitRepo, *revs: str, why: str) -> None:
    """Make sure a walk over `revs` (`A..B`, `B ^A`, `B`) sees every commit: in a shallow clone
    whose boundary the walk reaches, fetch the rest of the history from origin, once per GitRepo.

    `git fetch --unshallow`, not `--deepen=N` or `--shallow-since`: the ranges read here run from
    an older version (or the root) to a version's commit, so no depth or date known beforehand is
    sure to cover them, and a range cut short is silently wrong, not an error: a missing commit
    drops its author from the self-approval check and its signature from the signed-commits check.
    A config repo's history is small text, the fetch happens only when a walk reaches the boundary,
    and afterwards the clone is complete (later steps of the same CI job pay nothing).
    RepoError naming the git command when there is no origin or it cannot be read."""
    from hotswap_cli.core.versions.git import TIMED_OUT, git_error

    state = git_repo.fetches
    with state.lock:
        if state.complete:
            return
        boundary = shallow_commits(git_repo)
        if not boundary:
            state.complete = True
            return
        walked = git_repo.git("rev-list", *revs, "--", check=False).stdout.split()
        if boundary.isdisjoint(walked):
            return
        if not git_repo.has_remote(REMOTE):
            raise RepoError(f"this clone is shallow: {why} needs commits it does not have, and there is no remote "
                            f"named {REMOTE}: run `git remote add {REMOTE} URL && git fetch --unshallow {REMOTE}`")
        result = git_repo.git("fetch", "--unshallow", "--no-tags", "--no-write-fetch-head", "--quiet", REMOTE,
                              check=False)
        if result.returncode != 0:
            failed = TagFetch(True, git_error(result.stderr or result.stdout), timed_out=result.returncode == TIMED_OUT)
            raise RepoError(f"this clone is shallow: {why} needs commits it does not have, and {REMOTE} could not "
                            f"be read ({failed.error}): run `git fetch --unshallow {REMOTE}`", hint=failed.hint)
        state.complete = True
    notice(f"fetched the history of this shallow checkout from {REMOTE} (git fetch --unshallow) for {why}")


def missing_versions(git_repo: GitRepo, profile: str, subject: str) -> RepoError | None:
    """The error for `subject` ("P has no released version", "version 1.2.0 of P is not") in this
    clone, naming the git command that fixes it, when the fetch of its tags explains it: origin
    could not be read, or there is no origin to read in a shallow clone. None when origin was read
    (or the clone is complete and has no remote): the versions are really not there."""
    state = tag_state(git_repo, profile)
    if state is not None and state.remote and state.error is not None:
        return RepoError(f"{subject} in this clone and {REMOTE} could not be read ({state.error}): "
                         f"run `{fetch_command(profile)}`", hint=state.hint)
    if (state is None or not state.remote) and not git_repo.has_remote(REMOTE) and shallow_commits(git_repo):
        return RepoError(f"{subject} in this clone, which is shallow and has no remote named {REMOTE}: "
                         f"run `git remote add {REMOTE} URL && {fetch_command(profile)}`")
    return None
