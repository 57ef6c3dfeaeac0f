"""One JSON document kept in a git ref (a commit whose tree holds one file), on origin when there is
one: how the deploy journal (the live deploy record) and the control channel travel between
machines. The writer pushes with --force (one writer per ref at a time: the lock holder, or the
person sending a control); readers fetch the ref into a local `seen` ref first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hotswap_cli import redact
from hotswap_cli.core.deploy.ledger import REMOTE, document_text, identity
from hotswap_cli.core.versions.git import git_error
from hotswap_cli.errors import RepoError

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo


def store(git_repo: GitRepo, ref: str, filename: str, data: dict[str, Any], message: str, what: str) -> None:
    """Write `data` (secrets scrubbed) as `filename` in a commit at `ref`, pushed to origin when there
    is one: when this returns it is durable there. RepoError names `what` on failure."""
    text = document_text(redact.scrub_data(data))
    blob = git_repo.git("hash-object", "-w", "--stdin", input=text).stdout.strip()
    tree = git_repo.git("mktree", input=f"100644 blob {blob}\t{filename}\n").stdout.strip()
    _, env = identity(git_repo)
    commit = git_repo.git("commit-tree", tree, "-m", message, env=env).stdout.strip()
    git_repo.update_ref(ref, commit)
    if git_repo.has_remote(REMOTE):
        result = git_repo.push(REMOTE, "--force", f"{commit}:{ref}")
        if result.returncode != 0:
            raise RepoError(f"cannot write {what} to {REMOTE}: {git_error(result.stderr or result.stdout)}")


def delete(git_repo: GitRepo, ref: str, what: str) -> None:
    """Remove the ref here and on origin (a ref origin no longer has is not an error)."""
    if git_repo.has_remote(REMOTE):
        result = git_repo.push(REMOTE, f":{ref}")
        if result.returncode != 0 and "remote ref does not exist" not in result.stderr:
            raise RepoError(f"cannot remove {what} on {REMOTE}: {git_error(result.stderr or result.stdout)}")
    git_repo.update_ref("-d", ref, check=False)


def load(git_repo: GitRepo, ref: str, seen: str, filename: str, what: str) -> tuple[dict[str, Any], str] | None:
    """The document at `ref` (fetched from origin into `seen` when there is one) and the ref it was
    read from, or None when there is none. RepoError when origin cannot be read; ValueError when
    the document is not a JSON object."""
    if git_repo.has_remote(REMOTE):
        if not git_repo.fetch_ref(REMOTE, ref, seen, what):
            return None
        ref = seen
    shown = git_repo.git("show", f"{ref}:{filename}", check=False)
    if shown.returncode != 0:
        return None
    data = json.loads(shown.stdout)
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    return data, ref
