"""The deployment ledger: one JSON record per commit, on one ref per profile
(`refs/hotswap/ledger/<profile>`), shared through origin.

A profile's records are written while its deploy lock is held, and the ledger was fetched right
after the lock was taken, so pushing them is a fast-forward that no other profile's deploy can
race: 50 pipelines deploying 50 profiles at once do not fight over one ref. The single ref older
versions wrote (`refs/hotswap/deployments`) is still read, never written."""

from __future__ import annotations

import getpass
import json
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from hotswap_cli import redact
from hotswap_cli.clock import utc_second
from hotswap_cli.core.versions.git import git_error
from hotswap_cli.errors import RepoError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

LEDGER_PREFIX = "refs/hotswap/ledger/"  # + profile
REMOTE_PREFIX = "refs/hotswap/remote/ledger/"  # origin's, as last fetched
LEDGER_REF = "refs/hotswap/deployments"  # the single ref of older versions: read, never written
REMOTE_LEDGER_REF = "refs/hotswap/remote/deployments"
FETCH_REFSPECS = (f"+{LEDGER_PREFIX}*:{REMOTE_PREFIX}*",
                  "+refs/hotswap/deployment*:refs/hotswap/remote/deployment*")  # the old ref, if origin has it
RECORD_FILE = "record.json"
SUMMARY_FILE = "summary.json"  # the record without its per-instance parts (records since 2026-12)
PER_INSTANCE = ("instances", "verdicts", "timeline", "phases")  # what a summary leaves out
REMOTE = "origin"
PUSH_DEADLINE_ENV = "HOTSWAP_LEDGER_PUSH_DEADLINE"
PUSH_DEADLINE = 60.0  # seconds a record may take to reach origin (retries with backoff and jitter)
ZERO = "0" * 40


def ledger_ref(profile: str) -> str:
    return f"{LEDGER_PREFIX}{profile}"


def remote_ref(profile: str) -> str:
    return f"{REMOTE_PREFIX}{profile}"


def new_id(kind: str = "deploy") -> str:
    return f"{kind}-{uuid.uuid4()}"


def utc_iso(epoch: float | None = None) -> str:
    """ISO 8601 UTC with second precision, e.g. 2024-05-01T12:00:00Z."""
    return utc_second(time.time() if epoch is None else epoch) + "Z"


def identity(git_repo: GitRepo) -> tuple[str, dict[str, str]]:
    """`Name <email>` of the git user, and the env commit-tree needs when git has no identity configured."""
    ident = git_repo.var("GIT_AUTHOR_IDENT")
    if ident:
        return ident, {}
    name, email = getpass.getuser(), f"{getpass.getuser()}@{socket.gethostname()}"
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email}
    return f"{name} <{email}>", env


def make_record(result: dict[str, Any], *, kind: str = "deploy", sha256: str = "", who: str = "",
                started_at: float, finished_at: float, record_id: str | None = None,
                phases: list[Any] | None = None, traceparent: str | None = None,
                **extra: Any) -> dict[str, Any]:
    """A ledger record from `DeployResult.to_dict()`; started_at/finished_at are wall-clock epochs.

    The runner's timings come from a monotonic clock: they are re-based on the wall-clock start.
    """
    mono_start = float(result.get("started_at") or 0.0)

    def wall(t: Any) -> str | None:
        return utc_iso(started_at + (float(t) - mono_start)) if isinstance(t, int | float) else None

    instances = []
    for inst in result.get("instances", []):
        row = dict(inst)
        for key in ("started_at", "finished_at", "reverted_at"):
            row[key] = wall(row.get(key))
        instances.append(row)
    record: dict[str, Any] = {
        "id": record_id or new_id(kind), "kind": kind,
        "profile": result["profile"], "version": result.get("version", ""), "sha256": sha256,
        "strategy": result.get("strategy", ""), "who": who, "host": socket.gethostname(),
        "started_at": utc_iso(started_at), "finished_at": utc_iso(finished_at),
        "duration_s": round(finished_at - started_at, 3),
        "status": result.get("status", ""), "exit_code": result.get("exit_code"),
        "reason": result.get("reason", ""), "failed_phase": result.get("failed_phase"),
        "interrupted": bool(result.get("interrupted")), "unrestored": list(result.get("unrestored", [])),
        "phases": phases or [], "instances": instances, "verdicts": list(result.get("verdicts", [])),
    }
    if traceparent:
        record["traceparent"] = traceparent
    record.update(extra)
    return record


def document_text(data: dict[str, Any]) -> str:
    """A JSON document kept in git (a ledger record, the journal): one line per key, and one per
    item of a key holding an object or a list (a fleet's instances), each item compact. Readable
    with `git show`, and built by json's C encoder: `indent=` takes the pure-Python one, ten times
    slower on a 1000-instance record. ASCII only: `cat-file --batch` sizes are bytes, and our git
    runner reads text."""
    return _document(data, 2, "") + "\n"


def _document(value: Any, depth: int, pad: str) -> str:
    if depth == 0 or not isinstance(value, dict | list) or not value:
        return json.dumps(value, ensure_ascii=True)
    inner = pad + "  "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=True)}: {_document(v, depth - 1, inner)}"
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return "[\n" + ",\n".join(inner + _document(v, depth - 1, inner) for v in value) + "\n" + pad + "]"


def _rev(git_repo: GitRepo, ref: str) -> str | None:
    result = git_repo.git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def _subject(record: dict[str, Any]) -> str:
    # read_records filters by profile on this line without opening the record: keep the profile 2nd.
    return f"{record.get('kind', 'deploy')} {record['profile']} {record.get('version', '')}: " \
           f"{record.get('status', '')} ({record['id']})"


def append_record(git_repo: GitRepo, record: dict[str, Any]) -> str:
    """Add a record on top of the local ledger (never touches branches, index or work tree); returns its id."""
    if not record.get("profile"):
        raise RepoError("a ledger record needs a profile")
    # evidence for everyone who can fetch the repo: no secret value of this run, whatever an
    # instance or a command echoed into the messages it holds
    record = redact.scrub_data({"id": new_id(str(record.get("kind", "deploy"))), **record})
    blob = git_repo.git("hash-object", "-w", "--stdin", input=document_text(record)).stdout.strip()
    brief = git_repo.git("hash-object", "-w", "--stdin", input=document_text(summary_of(record))).stdout.strip()
    tree = git_repo.git("mktree", input=f"100644 blob {blob}\t{RECORD_FILE}\n"
                                        f"100644 blob {brief}\t{SUMMARY_FILE}\n").stdout.strip()
    _, env = identity(git_repo)
    # signed with the deployer's git signing key where one is set: evidence of who wrote it (a
    # record never grants anything: rollback and deploys check approvals on the signed tags)
    sign = ["-S"] if git_repo.git("config", "--get", "user.signingkey", check=False).stdout.strip() else []
    ref = ledger_ref(str(record["profile"]))
    for _ in range(50):  # compare-and-swap against other local writers
        old = _rev(git_repo, ref)
        parents = ["-p", old] if old else []
        made = git_repo.git("commit-tree", tree, *parents, *sign, "-m", _subject(record), env=env, check=False)
        if made.returncode != 0 and sign:  # the key is set but cannot sign now: keep the record unsigned
            sign = []
            made = git_repo.git("commit-tree", tree, *parents, "-m", _subject(record), env=env, check=False)
        if made.returncode != 0:
            raise RepoError(f"cannot write a ledger record: {git_error(made.stderr)}")
        commit = made.stdout.strip()
        if git_repo.update_ref(ref, commit, old or ZERO, check=False).returncode == 0:
            return str(record["id"])
        time.sleep(random.uniform(0.005, 0.05))
    raise RepoError(f"could not update {ref}: it keeps changing under us")


def _log(git_repo: GitRepo, refs: list[str], limit: int | None = None) -> list[tuple[str, str]]:
    """(commit, subject) of every record on `refs`, newest first (one `git log` over all of them)."""
    present = [r for r in refs if _rev(git_repo, r) is not None]
    if not present:
        return []
    args = ["log", "--format=%H %s", *([f"-n{limit}"] if limit is not None else []), *present, "--"]
    rows = [line.split(" ", 1) for line in git_repo.git(*args).stdout.splitlines()]
    return [(row[0], row[1]) for row in rows if len(row) == 2]


def _ledger_refs(git_repo: GitRepo, profile: str | None) -> list[str]:
    """The refs holding a profile's records (or every profile's): its own ref, and the old single
    ref (local and as last fetched) for records written before refs were per profile."""
    if profile is not None:
        own = [ledger_ref(profile), remote_ref(profile)]
    else:
        listed = git_repo.git("for-each-ref", "--format=%(refname)", LEDGER_PREFIX, REMOTE_PREFIX).stdout.split()
        own = sorted(listed)
    return [*own, LEDGER_REF, REMOTE_LEDGER_REF]


def summary_of(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its per-instance parts (PER_INSTANCE: a 1000-instance record is ~0.7 MB,
    its summary ~1 KB), with the names of its instances left in state "unknown" (journal.settled_by
    needs them) and how many instances it had."""
    instances = record.get("instances") or []
    return {**{k: v for k, v in record.items() if k not in PER_INSTANCE},
            "instance_count": len(instances),
            "unknown_instances": [i.get("instance") for i in instances if i.get("state") == "unknown"]}


def _read_blobs(git_repo: GitRepo, commits: list[str], file: str = RECORD_FILE) -> list[dict[str, Any] | None]:
    """Each commit's `file`, parsed, in one `git cat-file --batch` (None where it is missing or unreadable)."""
    if not commits:
        return []
    out = git_repo.git("cat-file", "--batch", input="".join(f"{c}:{file}\n" for c in commits)).stdout
    records: list[dict[str, Any] | None] = []
    pos = 0
    for _ in commits:
        end = out.index("\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] == "missing":
            records.append(None)
            continue
        size = int(header[2])
        try:
            found = json.loads(out[pos:pos + size])
        except ValueError:
            found = None
        records.append(found if isinstance(found, dict) else None)  # not a record: skip it, not the others
        pos += size + 1
    return records


def read_records(git_repo: GitRepo, profile: str | None = None, limit: int | None = None, *,
                 summaries: bool = False) -> list[dict[str, Any]]:
    """Records newest first, optionally of one profile and at most `limit` of them (offline: the
    local ledger). Every profile's records are merged by time in one `git log`. With `summaries`,
    each without its per-instance parts (summary_of): what a reader that needs none of them reads,
    so that status and deploy do not read every instance of every past run (a 1000-instance
    fleet's ledger grows ~0.7 MB a run)."""
    entries = _log(git_repo, _ledger_refs(git_repo, profile), None if profile else limit)
    if profile is not None:
        entries = [(c, s) for c, s in entries if s.split(" ")[1:2] == [profile]]
    if limit is not None:
        entries = entries[:limit]
    commits = [c for c, _ in entries]
    if not summaries:
        found = _read_blobs(git_repo, commits)
    else:
        found = _read_blobs(git_repo, commits, SUMMARY_FILE)
        older = [c for c, r in zip(commits, found, strict=True) if r is None]  # written before summaries
        whole = {c: summary_of(r) for c, r in zip(older, _read_blobs(git_repo, older), strict=True) if r is not None}
        found = [r if r is not None else whole.get(c) for c, r in zip(commits, found, strict=True)]
    return [r for r in found if r is not None and (profile is None or r.get("profile") == profile)]


def last_successful(git_repo: GitRepo, profile: str, *, kind: str | None = None) -> dict[str, Any] | None:
    """The newest completed deploy or rollback (or only `kind`) of a profile, summarised (summary_of):
    what the fleet should run."""
    for record in read_records(git_repo, profile, summaries=True):
        if record.get("status") == "completed" and (kind is None or record.get("kind") == kind):
            return record
    return None


def refresh(git_repo: GitRepo) -> str | None:
    """Best effort before reading: fetch origin's ledger; why it could not (offline) and the git
    command that shows it, else None."""
    try:
        fetch_ledger(git_repo)
    except RepoError as exc:
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return None


FETCH_COMMAND = f"git fetch {REMOTE} " + " ".join(f"'{spec}'" for spec in FETCH_REFSPECS)


def fetch_ledger(git_repo: GitRepo) -> bool:
    """Bring origin's ledger in (every profile's ref, and the old single ref, in one fetch) and put
    unpushed local records on top of it; False when there is no remote. Records new to this clone
    are said on stderr (remote.notice), as fetched version tags are."""
    if not git_repo.has_remote(REMOTE):
        return False
    before = _listed(git_repo)
    result = git_repo.git("fetch", "--no-tags", "--no-write-fetch-head", "--quiet", REMOTE, *FETCH_REFSPECS,
                          check=False)
    if result.returncode != 0:
        raise RepoError(f"cannot fetch the deployment ledger from {REMOTE}: {git_error(result.stderr)}",
                        hint=f"run {FETCH_COMMAND} to see why")
    after = _listed(git_repo)
    _say_fetched(git_repo, before, after)
    broken = []
    for remote, (kind, oid) in after.items():
        name = LEDGER_REF if remote == REMOTE_LEDGER_REF else ledger_ref(remote[len(REMOTE_PREFIX):])
        if kind != "commit":
            broken.append((name, kind))
        elif remote != REMOTE_LEDGER_REF:
            _integrate(git_repo, name, oid)
    if broken:
        name, kind = broken[0]
        raise RepoError(f"{REMOTE}'s {name} is a {kind}, not a ledger commit: someone overwrote it; its records "
                        "are kept in clones that have them, and cannot be pushed until it is repaired",
                        hint=f"from a clone whose ledger is intact: git push --force {REMOTE} {name}:{name} "
                             f"(or delete the ref on {REMOTE}), then `hotswap deployments --push`")
    return True


def _listed(git_repo: GitRepo) -> dict[str, tuple[str, str]]:
    """origin's ledger refs as last fetched: ref -> (object type, object id)."""
    listed = git_repo.git("for-each-ref", "--format=%(refname) %(objecttype) %(objectname)", REMOTE_PREFIX,
                          REMOTE_LEDGER_REF).stdout.splitlines()
    return {ref: (kind, oid) for ref, kind, oid in (line.rsplit(" ", 2) for line in listed)}


def _say_fetched(git_repo: GitRepo, before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> None:
    """One line naming the records this fetch brought in that this clone did not hold (its own,
    pushed earlier, come back too): nothing when there are none."""
    moved = {ref: oid for ref, (kind, oid) in after.items() if kind == "commit" and before.get(ref, ("", ""))[1] != oid}
    if not moved:
        return
    from hotswap_cli.core.versions.remote import notice

    known = [oid for kind, oid in before.values() if kind == "commit"]
    # globs, not names: a ref this clone lacks must not fail the count ("[s]": a glob with no
    # wildcard would get "/*" added)
    counted = git_repo.git("rev-list", "--count", *moved.values(), "--not", *known, f"--glob={LEDGER_PREFIX}*",
                           f"--glob={LEDGER_REF[:-1]}[{LEDGER_REF[-1]}]", check=False).stdout.strip()
    n = int(counted) if counted.isdigit() else 0
    if n:
        profiles = sorted(ref[len(REMOTE_PREFIX):] for ref in moved if ref.startswith(REMOTE_PREFIX))
        notice(f"fetched {n} deployment record{'s' if n != 1 else ''} from {REMOTE}'s ledger"
               f"{' (' + ', '.join(profiles) + ')' if profiles else ''}")


def _integrate(git_repo: GitRepo, ref: str, remote: str | None) -> None:
    """Local ref := remote + local-only records re-created on top (a rebase that never drops one)."""
    if remote is None:
        return
    for _ in range(50):
        local = _rev(git_repo, ref)
        if local == remote or (local and _is_ancestor(git_repo, remote, local)):
            return
        if local is None or _is_ancestor(git_repo, local, remote):
            new = remote
        else:
            new = _rebase(git_repo, local, remote)
        if git_repo.update_ref(ref, new, local or ZERO, check=False).returncode == 0:
            return
    raise RepoError(f"could not update {ref}: it keeps changing under us")


def _is_ancestor(git_repo: GitRepo, a: str, b: str) -> bool:
    return git_repo.git("merge-base", "--is-ancestor", a, b, check=False).returncode == 0


def _rebase(git_repo: GitRepo, local: str, onto: str) -> str:
    known = set(git_repo.git("log", "--format=%T", onto, "--").stdout.split())
    mine = git_repo.git("log", "--reverse", "--format=%H %T", f"{onto}..{local}", "--").stdout.splitlines()
    _, env = identity(git_repo)
    tip = onto
    for line in mine:
        commit, tree = line.split()
        if tree in known:  # the same record is already there (a push whose answer we never got)
            continue
        message = git_repo.git("log", "-1", "--format=%B", commit).stdout.rstrip("\n")
        tip = git_repo.git("commit-tree", tree, "-p", tip, "-m", message, env=env).stdout.strip()
    return tip


def pending(git_repo: GitRepo) -> list[str]:
    """Profiles with records origin does not have yet (as last fetched or pushed)."""
    out = []
    for ref in git_repo.git("for-each-ref", "--format=%(refname)", LEDGER_PREFIX).stdout.split():
        profile = ref[len(LEDGER_PREFIX):]
        local, remote = _rev(git_repo, ref), _rev(git_repo, remote_ref(profile))
        if local is not None and local != remote and not (remote and _is_ancestor(git_repo, local, remote)):
            out.append(profile)
    return out


def push_deadline() -> float:
    try:
        return float(os.environ.get(PUSH_DEADLINE_ENV, "") or PUSH_DEADLINE)
    except ValueError:
        return PUSH_DEADLINE


def push_ledger(git_repo: GitRepo, profiles: list[str] | None = None, *, deadline: float | None = None) -> bool:
    """Publish the profiles' records (default: every profile with pending ones) on origin, all
    refs in one push. A ref that moved on origin (records written elsewhere without our lock, or
    a push whose answer was lost) is fetched, rebased and pushed again, with backoff and jitter,
    until `deadline` seconds have passed. False when there is no remote."""
    if not git_repo.has_remote(REMOTE):
        return False
    todo = pending(git_repo) if profiles is None else [p for p in profiles if p in pending(git_repo)]
    ends = time.monotonic() + (push_deadline() if deadline is None else deadline)
    last, attempt = "", 0
    while todo:
        result = git_repo.git("push", "--porcelain", "--no-verify", REMOTE,
                              *(f"{ledger_ref(p)}:{ledger_ref(p)}" for p in todo), check=False)
        for line in result.stdout.splitlines():  # `=`/` `/`+`: the ref is on origin now
            parts = line.split("\t")
            if len(parts) >= 2 and line[:1] in (" ", "+", "=", "*") and parts[1].startswith(LEDGER_PREFIX):
                profile = parts[1].split(":", 1)[0][len(LEDGER_PREFIX):]
                git_repo.update_ref(remote_ref(profile), ledger_ref(profile), check=False)
        todo = [p for p in todo if p in pending(git_repo)]
        if not todo:
            return True
        last = git_error(result.stderr or result.stdout)
        if rejected(result.stdout):
            try:
                fetch_ledger(git_repo)
            except RepoError as exc:
                last = exc.message  # why origin refuses: e.g. its ref was overwritten
        if time.monotonic() >= ends:
            break
        attempt += 1
        time.sleep(min(max(0.0, ends - time.monotonic()), random.uniform(0.02, 0.1) * 2 ** min(attempt, 4)))
    if not todo:
        return True
    raise RepoError(f"the ledger record(s) of {', '.join(todo)} did not reach {REMOTE} within "
                    f"{push_deadline() if deadline is None else deadline:g}s: {last}",
                    hint="they are kept in this clone: send them with `hotswap deployments --push`")


def record_and_push(git_repo: GitRepo, record: dict[str, Any]) -> tuple[str, str | None]:
    """Append a record, then publish it when there is a remote: (id, why the push failed or None).
    The caller decides what an unpushed record means (exit 8 by default, see ops.run)."""
    record_id = append_record(git_repo, record)
    try:
        push_ledger(git_repo, [str(record["profile"])])
    except RepoError as exc:
        return record_id, str(exc)
    return record_id, None


def rejected(porcelain: str) -> bool:
    """Did `git push --porcelain` reach the remote and get a ref refused (as opposed to not reaching it)?"""
    return any(line.startswith("!\t") for line in porcelain.splitlines())
