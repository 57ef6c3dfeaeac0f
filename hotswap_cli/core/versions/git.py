"""Git access for the config repo, all through the git binary: commands (`git`), streaming logs,
and objects read by a `git cat-file --batch` process kept per repo (GitPython's own object database
works that way; hotswap does without its import, ~90 ms on every command that reads git)."""

from __future__ import annotations

import os
import posixpath
import random
import subprocess
import threading
import time
import weakref
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hotswap_cli.core.config.source import inside
from hotswap_cli.core.versions.remote import FetchState
from hotswap_cli.errors import ConfigError, RepoError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.remote import TagFetch

SYMLINK_MODE = 0o120000
GIT_TIMEOUT_ENV = "HOTSWAP_GIT_TIMEOUT"
GIT_TIMEOUT = 60.0  # seconds any one git command may take (a remote that stalls must not hang a deploy)
TIMED_OUT = 124  # the return code of a git command that overran it (as timeout(1) says)


def git_error(text: str) -> str:
    """The line of git's output that says what went wrong (its `fatal:`/`error:` line, else the last one)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    said = [line[len("remote: "):].strip() for line in lines if line.startswith("remote: ")]
    said = [line for line in said if line]
    for line in lines:
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                found = line[len(prefix):]
                if found.startswith("failed to push some refs") and said:  # a hook said why
                    return f"the remote refused the push: {said[-1]}"
                return found
    return lines[-1] if lines else "failed"


def _dubious_dir(said: str) -> str | None:
    """The repository a `dubious ownership` refusal names."""
    import re

    found = re.search(r"dubious ownership in repository at '([^']+)'", said)
    return found.group(1) if found else None


def git_timeout() -> float:
    import os

    try:
        return float(os.environ.get(GIT_TIMEOUT_ENV, "") or GIT_TIMEOUT)
    except ValueError:
        return GIT_TIMEOUT


PUSH_BUSY_DEADLINE = 10.0  # seconds a push is tried again while the remote is busy with other pushes


def busy(result: GitResult) -> bool:
    """Did the remote refuse a ref only because another push held a lock it needed at that moment
    (the ref's own lock, or packed-refs.lock, which every deletion takes)? Trying again then works;
    a stale lease (`[rejected]`) or a hook's refusal does not change by waiting."""
    refused = any(line.startswith("!\t") and "[remote rejected]" in line for line in result.stdout.splitlines())
    return refused and ("lock" in result.stderr.lower() or "failed to update ref" in result.stdout)


REF_LOCK_WAIT = 3.0  # seconds a ref write waits for another writer's `.lock` on the same ref
STALE_REF_LOCK = 30.0  # a ref `.lock` older than this was left by a git process that died holding it


def _held_lock(result: GitResult) -> Path | None:
    """The lock file git could not create (`Unable to create '….lock': File exists`), if that is why it failed."""
    import re

    found = re.search(r"Unable to create '([^']+\.lock)': File exists", result.stderr)
    return Path(found.group(1)) if result.returncode != 0 and found else None


def _age(path: Path) -> float | None:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return None


def stale(porcelain: str) -> bool:
    """Was a ref refused because it is not what we said it was (a lease, or not a fast-forward)?"""
    return any(line.startswith("!\t") and "\t[rejected]" in line for line in porcelain.splitlines())


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


TREE_MODE = 0o040000
SUBMODULE_MODE = 0o160000


class _Objects:
    """One `git cat-file --batch` process kept for a GitRepo: objects read whole by name (an id,
    `<commit>^{tree}`), trees parsed once per id. Safe to share between threads."""

    def __init__(self, top: Path) -> None:
        self._top = top
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._trees: dict[str, dict[str, tuple[int, str]]] = {}

    def get(self, name: str) -> tuple[str, str, bytes] | None:
        """(object id, type, content) of what `name` names; None when there is no such object."""
        if "\n" in name:
            return None
        with self._lock:
            proc = self._process()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline()
                if header.rstrip(b"\n").endswith((b" missing", b" ambiguous")):
                    return None
                oid, kind, size = header.split()
                data = proc.stdout.read(int(size))
                if len(data) != int(size) or proc.stdout.read(1) != b"\n":
                    raise ValueError("short read")
            except (OSError, ValueError) as exc:
                self._proc = None
                _end_batch(proc)
                raise RepoError(f"git cat-file --batch in {self._top} ended unexpectedly ({exc})") from None
            return oid.decode(), kind.decode(), data

    def tree(self, oid: str) -> dict[str, tuple[int, str]] | None:
        """The entries of tree `oid` (name: (mode, object id)); None when it is not a tree."""
        found = self._trees.get(oid)
        if found is None:
            got = self.get(oid)
            if got is None or got[1] != "tree":
                return None
            found = self._trees[oid] = _tree_entries(got[2], len(oid) // 2)
        return found

    def root(self, commit: str) -> str:
        """The id of commit `commit`'s top tree."""
        got = self.get(f"{commit}^{{tree}}")
        if got is None or got[1] != "tree":
            raise RepoError(f"cannot read the tree of commit {commit}")
        self._trees.setdefault(got[0], _tree_entries(got[2], len(got[0]) // 2))
        return got[0]

    def _process(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            from hotswap_cli.io.process import command_environment

            proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=self._top, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env={**command_environment(), "GIT_TERMINAL_PROMPT": "0"})
            self._proc = proc
            weakref.finalize(self, _end_batch, proc)
        return proc


def _tree_entries(data: bytes, width: int) -> dict[str, tuple[int, str]]:
    """A git tree object's entries: `<octal mode> <name>\\0<binary id>` each (RepoError when
    it is not one: git writes none like that, but a crafted repo can hold anything)."""
    entries, at = {}, 0
    try:
        while at < len(data):
            space = data.index(b" ", at)
            nul = data.index(b"\0", space)
            name = data[space + 1:nul].decode("utf-8", "surrogateescape")
            if nul + 1 + width > len(data):
                raise ValueError("truncated")
            entries[name] = (int(data[at:space], 8), data[nul + 1:nul + 1 + width].hex())
            at = nul + 1 + width
    except ValueError:
        raise RepoError("a malformed git tree object in the repo", hint="run `git fsck` there") from None
    return entries


class GitTreeSource:
    """A config repo as it was at one commit (implements core.source.Source)."""

    def __init__(self, objects: _Objects, tree: str, prefix: str, label: str) -> None:
        self._objects = objects
        self._tree = tree  # the commit's top tree
        self._prefix = prefix
        self.label = label

    def _entry(self, relpath: str) -> tuple[int, str] | None:
        """(mode, object id) of a config-repo path at this commit; None where there is nothing."""
        path = "/".join(p for p in (self._prefix, inside(relpath)) if p)
        mode, oid = TREE_MODE, self._tree
        for part in path.split("/"):
            if part in ("", "."):
                continue
            entries = self._objects.tree(oid) if mode == TREE_MODE else None
            if entries is None or part not in entries:
                return None
            mode, oid = entries[part]
        return mode, oid

    def read(self, relpath: str, hops: int = 0) -> bytes | None:
        entry = self._entry(relpath)
        if entry is None or entry[0] in (TREE_MODE, SUBMODULE_MODE):
            return None
        got = self._objects.get(entry[1])
        if got is None or got[1] != "blob":
            return None
        data = got[2]
        if entry[0] != SYMLINK_MODE:
            return data
        # a symlink is followed within the repo, as the working tree would; one that points
        # out (or loops) is refused, never read from the machine that checks the tree out
        target = data.decode("utf-8", "replace")
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target))
        if target.startswith("/") or joined == ".." or joined.startswith("../") or hops >= 8:
            raise ConfigError(f"{relpath}: a symlink to {target} in {self.label}, outside the config repo; refused",
                              hint="keep every file hotswap reads inside the repo (copy it in)")
        return self.read(joined, hops + 1)

    def listdir(self, relpath: str) -> list[str]:
        entry = self._entry(relpath)
        entries = self._objects.tree(entry[1]) if entry is not None and entry[0] == TREE_MODE else None
        return sorted(entries) if entries is not None else []


# what `git var` answers from besides the repo's config (the environment and the global config)
_IDENT_ENV = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL", "HOME",
              "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM")


def _global_stamp() -> tuple[int, int] | None:
    """When the global git config last changed (None: there is none)."""
    path = os.environ.get("GIT_CONFIG_GLOBAL") or os.path.join(os.environ.get("HOME", "/"), ".gitconfig")
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class GitRepo:
    """The git work tree holding a config repo (which may be a sub-folder of it)."""

    def __init__(self, config_root: Path) -> None:
        from hotswap_cli.io.process import command_environment

        not_inside = RepoError(f"{config_root} is not inside a git work tree",
                               hint="run `git init` there, or use `hotswap init`")
        if not config_root.is_dir():
            raise not_inside
        # found by its path, as GitPython found it: a hook's GIT_DIR (often `.git`, relative to the
        # top) would point elsewhere from a sub-folder
        env = {k: v for k, v in command_environment().items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
        try:
            found = subprocess.run(["git", "rev-parse", "--show-toplevel", "--git-common-dir"], cwd=config_root,
                                   capture_output=True,
                                   text=True, env={**env, "GIT_TERMINAL_PROMPT": "0"}, check=False,
                                   timeout=git_timeout())
        except FileNotFoundError:
            raise RepoError("git is not installed (no `git` on PATH)", hint="install git") from None
        except subprocess.TimeoutExpired:
            raise RepoError(f"git rev-parse: no answer within {git_timeout():g}s in {config_root}") from None
        if found.returncode != 0 or not found.stdout.strip():
            said = found.stderr.strip()
            if not said or "not a git repository" in said or "must be run in a work tree" in said:
                raise not_inside
            if "dubious ownership" in said:  # a checkout owned by another user (a CI runner's)
                raise RepoError(f"git refuses {config_root}: detected dubious ownership (another user owns it)",
                                hint=f"git config --global --add safe.directory {_dubious_dir(said) or config_root}")
            raise RepoError(f"git rev-parse in {config_root}: {git_error(said)}")
        top, _, common = found.stdout.strip().partition("\n")
        self.top = Path(top).resolve()
        self.common_dir = (config_root / common.strip()).resolve()  # the .git dir (a worktree's shared one)
        self._remotes: tuple[tuple[int, int] | None, list[str]] | None = None
        self._idents: dict[tuple[str, ...], str | None] = {}
        self._commits: set[str] = set()  # full shas known to name commits
        self.config_root = config_root.resolve()
        self.prefix = self.config_root.relative_to(self.top).as_posix().strip(".")
        self.fetches = FetchState()  # what was brought from origin on demand (core.versions.remote)
        self.objects = _Objects(self.top)

    def git(self, *args: str, check: bool = True, input: str | None = None,
            env: dict[str, str] | None = None, own_session: bool = False) -> GitResult:
        """Run the git binary (signing and verification need git itself); it, and the signing
        programs and credential helpers it starts, never see hotswap's key settings. `own_session`
        keeps a signal aimed at hotswap's process group from reaching it (for quick local writes
        that must not be torn halfway)."""
        from hotswap_cli.io.process import command_environment

        limit = git_timeout()
        try:
            result = subprocess.run(["git", *args], cwd=self.top, capture_output=True, text=True, input=input,
                                    env={**command_environment(), "GIT_TERMINAL_PROMPT": "0", **(env or {})},
                                    check=False, timeout=limit, start_new_session=own_session)
        except subprocess.TimeoutExpired:
            message = f"git {args[0]}: no answer within {limit:g}s (is the remote reachable?)"
            if check:
                raise RepoError(message, hint=f"set {GIT_TIMEOUT_ENV}=SECONDS for a slow remote") from None
            return GitResult(TIMED_OUT, "", f"fatal: {message}")
        if check and result.returncode != 0:
            raise RepoError(f"git {args[0]}: {git_error(result.stderr or result.stdout)}")
        return GitResult(result.returncode, result.stdout, result.stderr)

    def update_ref(self, *args: str, check: bool = True) -> GitResult:
        """`git update-ref ARGS` that survives what kills hotswap. It runs in a session of its own,
        so a kill aimed at hotswap's process group (a CI runner cancelling the job, `kill -9 -PGID`)
        cannot stop it between creating the ref's `.lock` and renaming it. A `.lock` that another
        writer holds is waited for (up to REF_LOCK_WAIT seconds); one older than STALE_REF_LOCK
        seconds was left by a crash (git holds a ref's lock for milliseconds) and is removed, and
        said. A RepoError (with `check`) names the lock file to remove when neither applies."""
        ends = time.monotonic() + REF_LOCK_WAIT
        while True:
            result = self.git("update-ref", *args, check=False, own_session=True)
            held = _held_lock(result)
            if result.returncode == 0 or held is None:
                break
            age = _age(held)
            if age is not None and age > STALE_REF_LOCK:
                from hotswap_cli.core.versions.remote import notice

                held.unlink(missing_ok=True)
                notice(f"hotswap: removed {held}, left {age:.0f}s ago by a git process that did not finish")
                continue
            if time.monotonic() >= ends:
                if check:
                    raise RepoError(f"git update-ref: {held} exists: another git process holds it",
                                    hint="if no git or hotswap process is running here, remove that file")
                return result
            time.sleep(0.05)
        if check and result.returncode != 0:
            raise RepoError(f"git update-ref: {git_error(result.stderr or result.stdout)}")
        return result

    def push(self, remote: str, *args: str, deadline: float = PUSH_BUSY_DEADLINE) -> GitResult:
        """`git push --porcelain --no-verify` (never raises), tried again with backoff and jitter for
        up to `deadline` seconds while the remote is `busy`: dozens of pipelines pushing refs to one
        origin at once make some of them fail that way for a moment."""
        ends, attempt = time.monotonic() + deadline, 0
        while True:
            result = self.git("push", "--porcelain", "--no-verify", remote, *args, check=False)
            if result.returncode == 0 or not busy(result) or time.monotonic() >= ends:
                return result
            attempt += 1
            time.sleep(min(max(0.0, ends - time.monotonic()), random.uniform(0.05, 0.15) * 2 ** min(attempt, 4)))

    def fetch_ref(self, remote: str, ref: str, into: str, what: str) -> bool:
        """Fetch one ref of `remote` into the local ref `into`: False (and `into` deleted) when the
        remote has no such ref; RepoError naming `what` when the remote cannot be read."""
        for attempt in range(5):
            result = self.git("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", remote, f"+{ref}:{into}",
                              check=False)
            if result.returncode == 0:
                return True
            if "cannot lock ref" not in result.stderr:
                break
            time.sleep(0.05 * (attempt + 1))  # another process of this clone is updating `into` right now
        if "couldn't find remote ref" in result.stderr:
            self.update_ref("-d", into, check=False)
            return False
        raise RepoError(f"cannot read {what} on {remote}: {git_error(result.stderr)}",
                        hint=f"run git fetch {remote} '+{ref}:{into}' to see why")

    def resolve(self, rev: str) -> str:
        """Full sha of a commit-ish (tags are peeled to their commit). A full sha that named a
        commit always will: it is asked once."""
        if rev in self._commits:
            return rev
        result = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        if result.returncode != 0:
            raise RepoError(f"unknown revision {rev!r}", hint="use a version, a tag, a branch or a commit")
        sha = result.stdout.strip()
        if sha == rev:
            self._commits.add(sha)
        return sha

    def source_at(self, rev: str) -> GitTreeSource:
        return GitTreeSource(self.objects, self.objects.root(self.resolve(rev)), self.prefix, rev)

    def repo_path(self, relpath: str) -> str:
        """A config-repo-relative path as a path from the git top."""
        return "/".join(p for p in (self.prefix, relpath) if p)

    def dirty_paths(self, relpaths: list[str]) -> list[str]:
        """Which of the given config-repo paths (files or folders) differ from HEAD or are untracked."""
        paths = [self.repo_path(p) for p in relpaths]
        out = self.git("status", "--porcelain", "--untracked-files=all", "--", *paths).stdout
        return [line[3:] for line in out.splitlines() if line.strip()]

    def has_remote(self, name: str = "origin") -> bool:
        """Whether the repo has the remote `name`: read once, and again only after the repo's config
        file changed (a deploy asked a dozen times, one git process each)."""
        stamp = self._config_stamp()
        if self._remotes is None or self._remotes[0] != stamp or stamp is None:
            self._remotes = (stamp, self.git("remote").stdout.split())
        return name in self._remotes[1]

    def var(self, name: str) -> str | None:
        """`git var NAME` (an identity: GIT_AUTHOR_IDENT, GIT_COMMITTER_IDENT) without its timestamp,
        or None where git has none configured. Asked once per config and environment."""
        key = (name, *(os.environ.get(k, "") for k in _IDENT_ENV), str(self._config_stamp()), str(_global_stamp()))
        if key not in self._idents:
            result = self.git("var", name, check=False)
            said = result.stdout.strip() if result.returncode == 0 else ""
            self._idents[key] = said.rsplit(" ", 2)[0] if said else None
        return self._idents[key]

    def _config_stamp(self) -> tuple[int, int] | None:
        try:
            info = (self.common_dir / "config").stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_size

    def ensure_versions(self, profile: str, *, approvals: bool = False, want: str | None = None) -> TagFetch:
        """Bring origin's version tags of `profile` (`approvals`: its approval tags too) into this
        clone, once per GitRepo: a shallow, tagless CI checkout has none (core.versions.remote)."""
        from hotswap_cli.core.versions.remote import ensure_tags

        return ensure_tags(self, profile, approvals=approvals, want=want)

    def ensure_history(self, *revs: str, why: str) -> None:
        """Deepen a shallow clone when a walk over `revs` would stop short (core.versions.remote)."""
        from hotswap_cli.core.versions.remote import ensure_history

        ensure_history(self, *revs, why=why)

    # -- versions and history (tags and log through the git binary: one call each) ----------

    def head(self) -> str | None:
        """HEAD's commit sha; None in a repo without commits."""
        result = self.git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
        return result.stdout.strip() or None

    def identity(self) -> str:
        """`Name <email>` of whoever runs hotswap (git's committer identity)."""
        ident = self.git("var", "GIT_COMMITTER_IDENT").stdout.strip()
        return ident.rsplit(">", 1)[0] + ">" if ">" in ident else ident

    def tags(self, prefix: str) -> list[TagInfo]:
        """Every tag under refs/tags/<prefix>, annotated or not, with its message and tagger."""
        fmt = "%1e" + "%00".join(("%(refname:strip=2)", "%(objecttype)", "%(*objectname)", "%(objectname)",
                                  "%(taggername)", "%(taggeremail)", "%(taggerdate:iso-strict)",
                                  "%(creatordate:iso-strict)", "%(contents)"))
        out = self.git("for-each-ref", f"--format={fmt}", f"refs/tags/{prefix}").stdout
        found = []
        for record in out.split("\x1e")[1:]:
            name, kind, peeled, obj, tagger, email, date, created, message = record.split("\x00", 8)
            commit = peeled if kind == "tag" else obj
            who = f"{tagger} {email}".strip()
            found.append(TagInfo(name, commit, kind == "tag", who, date or created, message.rstrip("\n")))
        return found

    def create_tag(self, name: str, commit: str, message: str) -> None:
        """An annotated tag; an existing tag is never moved (RepoError)."""
        if self.git("rev-parse", "--verify", "--quiet", f"refs/tags/{name}", check=False).returncode == 0:
            raise RepoError(f"tag {name} already exists", hint="tags are never moved or overwritten")
        self.git("tag", "-a", "--no-sign", name, commit, "-F", "-", input=message)

    def push_tags(self, names: list[str], remote: str = "origin") -> None:
        result = self.push(remote, *(f"refs/tags/{n}:refs/tags/{n}" for n in names))
        if result.returncode != 0:
            raise RepoError(f"git push: {git_error(result.stderr or result.stdout)}")

    def log(self, relpaths: list[str], rev: str = "HEAD", *, why: str = "the history") -> list[CommitInfo]:
        """Commits reachable from `rev` touching any of the config-repo paths, newest first (a
        shallow clone is deepened first: `why` says what for)."""
        if self.head() is None:
            return []
        self.ensure_history(rev, why=why)
        fmt = "%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%B"
        paths = [self.repo_path(p) for p in relpaths] or ["."]
        out = self.git("log", f"--format={fmt}", rev, "--", *paths).stdout
        commits = []
        for record in out.split("\x1e")[1:]:
            sha, parents, name, email, date, message = record.split("\x00", 5)
            commits.append(CommitInfo(sha, tuple(parents.split()), f"{name} <{email}>", date, message.strip()))
        return commits


    # -- history walks (core.versions.history): one streaming log, one object-id process ----

    def log_stream(self, relpaths: list[str], rev: str = "HEAD", *,
                   why: str = "the history") -> Generator[CommitInfo, None, None]:
        """`log`, yielded as git finds the commits (a long history's first page is ready before git
        has walked it all). Close the iterator to stop early: the git process is ended then."""
        if self.head() is None:
            return
        self.ensure_history(rev, why=why)
        from hotswap_cli.io.process import command_environment

        fmt = "%x1e%H%x00%P%x00%an%x00%ae%x00%aI%x00%B"
        paths = [self.repo_path(p) for p in relpaths] or ["."]
        proc = subprocess.Popen(["git", "log", f"--format={fmt}", rev, "--", *paths], cwd=self.top,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                env={**command_environment(), "GIT_TERMINAL_PROMPT": "0", "GIT_FLUSH": "1"})
        assert proc.stdout is not None
        pending = b""
        try:
            while chunk := os.read(proc.stdout.fileno(), 65536):
                pending += chunk
                *records, pending = pending.split(b"\x1e")
                yield from (_commit_record(r) for r in records if r)
            if pending:
                yield _commit_record(pending)
            if proc.wait() != 0:
                assert proc.stderr is not None
                raise RepoError(f"git log: {git_error(proc.stderr.read().decode('utf-8', 'replace'))}")
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            if proc.stderr is not None:
                proc.stderr.close()

    def object_ids(self, rev: str, relpaths: Sequence[str]) -> tuple[str | None, ...]:
        """The git object id (blob or tree) of each config-repo path at commit `rev`, None where
        there is none: one round trip to a `git cat-file --batch-check` kept running for this GitRepo."""
        names = [f"{rev}:{self.repo_path(p)}" for p in relpaths]
        usable = [n for n in names if "\n" not in n]
        if not usable:
            return tuple(None for _ in names)
        proc = self.__dict__.get("_batch_check")
        if proc is None or proc.poll() is not None:
            from hotswap_cli.io.process import command_environment

            proc = subprocess.Popen(["git", "cat-file", "--batch-check=%(objectname)"], cwd=self.top,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env={**command_environment(), "GIT_TERMINAL_PROMPT": "0"})
            self.__dict__["_batch_check"] = proc
            weakref.finalize(self, _end_batch, proc)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("".join(f"{n}\n" for n in usable).encode())
        proc.stdin.flush()
        found = {}
        for name in usable:
            line = proc.stdout.readline().decode().rstrip("\n")
            if not line:
                raise RepoError("git cat-file --batch-check ended unexpectedly")
            found[name] = None if line.endswith((" missing", " ambiguous")) else line
        return tuple(found.get(n) for n in names)

    def recording_source_at(self, sha: str) -> RecordingTreeSource:
        """A GitTreeSource of commit `sha` that notes every path it is asked to read or list."""
        return RecordingTreeSource(self.objects, self.objects.root(sha), self.prefix, sha)


@dataclass(frozen=True)
class TagInfo:
    name: str
    commit: str
    annotated: bool
    tagger: str  # "Name <email>", empty for a lightweight tag
    date: str  # ISO 8601
    message: str


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    date: str  # ISO 8601 author date
    message: str

    @property
    def subject(self) -> str:
        return self.message.splitlines()[0] if self.message else ""


def _commit_record(record: bytes) -> CommitInfo:
    sha, parents, name, email, date, message = record.decode("utf-8", "replace").split("\x00", 5)
    return CommitInfo(sha, tuple(parents.split()), f"{name} <{email}>", date, message.strip())


def _end_batch(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        proc.stdin.close()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class RecordingTreeSource(GitTreeSource):
    """A GitTreeSource that notes what it was asked for: the paths read (a symlink's target too)
    and the folders listed. What a render read is what its result depends on (core.versions.history)."""

    def __init__(self, objects: _Objects, tree: str, prefix: str, label: str) -> None:
        super().__init__(objects, tree, prefix, label)
        self.reads: set[str] = set()
        self.listed: set[str] = set()

    def read(self, relpath: str, hops: int = 0) -> bytes | None:
        self.reads.add(relpath)
        return super().read(relpath, hops)

    def listdir(self, relpath: str) -> list[str]:
        self.listed.add(relpath)
        return super().listdir(relpath)
