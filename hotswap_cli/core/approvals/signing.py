"""Git signing plumbing: read, sign and verify tags and commit signatures against the approvers."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hotswap_cli.errors import ApprovalError

if TYPE_CHECKING:
    from hotswap_cli.core.approvals.approvers import Approver, Approvers
    from hotswap_cli.core.versions.git import GitRepo

_SSH_GOOD = re.compile(r'Good "git" signature for (\S+) with \S+ key (SHA256:\S+)')
_SSH_GOOD_UNKNOWN = re.compile(r'Good "git" signature with \S+ key (SHA256:\S+)')
_TAG_FIELDS = ("refname", "objecttype", "objectname", "*objectname", "*objecttype", "tag", "taggeremail",
               "taggerdate:unix", "contents:subject", "contents:body", "contents:signature")


@dataclass(frozen=True)
class TagRef:
    """A ref under refs/tags/ as for-each-ref reads it (a lightweight tag has no tag object)."""

    ref: str  # refs/tags/approvals/p/1.2.0/alice@example.com
    annotated: bool
    object: str  # the tag object (annotated) or the commit (lightweight)
    commit: str  # what it points at, peeled
    header_name: str  # the `tag` line inside the tag object
    tagger_email: str
    date: float | None
    subject: str
    body: str
    signature: str

    @property
    def name(self) -> str:
        return self.ref.removeprefix("refs/tags/")


@dataclass(frozen=True)
class SignatureCheck:
    """What `git verify-tag --raw` said, resolved against the approvers file."""

    state: str  # good | unsigned | bad | unknown
    approver: Approver | None = None
    principal: str = ""
    fingerprint: str = ""
    detail: str = ""


@dataclass(frozen=True)
class CommitSignature:
    commit: str
    subject: str
    state: str  # good | unsigned | bad | unknown
    signer: str = ""
    principals: tuple[str, ...] = ()  # the approver whose key made a good signature


def list_tags(git_repo: GitRepo, prefix: str) -> list[TagRef]:
    """Every tag ref under refs/tags/<prefix>, annotated or not."""
    fmt = "%1f".join(f"%({f})" for f in _TAG_FIELDS) + "%1e"
    out = git_repo.git("for-each-ref", f"--format={fmt}", f"refs/tags/{prefix}").stdout
    tags = []
    for record in out.split("\x1e"):
        record = record.lstrip("\n")
        if not record:
            continue
        ref, otype, obj, peeled, ptype, header, email, date, subject, body, sig = record.split("\x1f")
        annotated = otype == "tag"
        if annotated and ptype == "tag":  # a tag of a tag: follow the chain down to the commit
            peeled = git_repo.git("rev-parse", f"{obj}^{{commit}}", check=False).stdout.strip()
        tags.append(TagRef(ref, annotated, obj, peeled if annotated else obj, header, email.strip("<>"),
                           float(date) if date else None, subject, body, sig))
    return tags


@contextmanager
def allowed_signers(approvers: Approvers) -> Iterator[list[str]]:
    """`-c gpg.ssh.allowedSignersFile=<tmp>` args holding the ssh approvers (roles stripped)."""
    fd, path = tempfile.mkstemp(prefix="hotswap-allowed-signers-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(approvers.allowed_signers())
        yield ["-c", f"gpg.ssh.allowedSignersFile={path}"]
    finally:
        os.unlink(path)


def verify_tag(git_repo: GitRepo, tag: TagRef, approvers: Approvers) -> SignatureCheck:
    """Check the tag object's signature; ssh keys are trusted through the approvers file only,
    gpg keys come from the keyring but count only when their fingerprint is listed."""
    if not tag.annotated or not tag.signature.strip():
        return SignatureCheck("unsigned", detail="no signature")
    with allowed_signers(approvers) as config:
        result = git_repo.git(*config, "verify-tag", "--raw", tag.object, check=False)
    return parse_verification(result.returncode, result.stderr + result.stdout, approvers)


def parse_verification(returncode: int, output: str, approvers: Approvers) -> SignatureCheck:
    if "[GNUPG:]" in output:
        return _parse_gpg(output, approvers)
    good = _SSH_GOOD.search(output)
    if good and returncode == 0:
        approver = approvers.by_principal(good.group(1))
        if approver is None:
            return SignatureCheck("unknown", principal=good.group(1), fingerprint=good.group(2))
        return SignatureCheck("good", approver, good.group(1), good.group(2))
    unknown = _SSH_GOOD_UNKNOWN.search(output)
    if unknown:
        return SignatureCheck("unknown", fingerprint=unknown.group(1), detail="ssh key not in the approvers file")
    last = [ln for ln in output.strip().splitlines() if ln.strip()][-1:] or ["verification failed"]
    return SignatureCheck("bad", detail=last[0].strip())


def _parse_gpg(output: str, approvers: Approvers) -> SignatureCheck:
    status: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("[GNUPG:] "):
            word, *args = line[9:].split()
            status.setdefault(word, args)
    for word, why in (("BADSIG", "bad signature"), ("EXPKEYSIG", "key expired"), ("REVKEYSIG", "key revoked")):
        if word in status:
            return SignatureCheck("bad", detail=f"gpg: {why}")
    if "VALIDSIG" in status:
        args = status["VALIDSIG"]
        for fpr in (args[0], args[-1]):
            approver = approvers.by_fingerprint(fpr)
            if approver is not None and approver.kind == "gpg":
                return SignatureCheck("good", approver, approver.name, fpr)
        return SignatureCheck("unknown", fingerprint=args[-1], detail="gpg key not in the approvers file")
    if "NO_PUBKEY" in status or "ERRSIG" in status:
        keyid = (status.get("NO_PUBKEY") or status.get("ERRSIG") or ["?"])[0]
        return SignatureCheck("unknown", fingerprint=keyid, detail="gpg public key not in the keyring")
    return SignatureCheck("bad", detail="gpg: no valid signature")


# -- signing ----------------------------------------------------------------------------------


def _config(git_repo: GitRepo, key: str) -> str:
    return git_repo.git("config", "--get", key, check=False).stdout.strip()


def signing_fingerprint(git_repo: GitRepo) -> tuple[str, list[str]]:
    """The kind ("ssh"/"gpg") and candidate fingerprints of the key `git tag -s` will use."""
    fmt = _config(git_repo, "gpg.format") or "openpgp"
    key = _config(git_repo, "user.signingkey")
    if fmt == "ssh":
        if not key:
            command = _config(git_repo, "gpg.ssh.defaultKeyCommand")
            if not command:
                raise ApprovalError("gpg.format is ssh but user.signingkey is not set",
                                    hint="git config user.signingkey ~/.ssh/id_ed25519.pub")
            import shlex
            import subprocess

            out = subprocess.run(shlex.split(command), capture_output=True, text=True, check=False).stdout
            key = out.strip().splitlines()[0] if out.strip() else ""
        return "ssh", [_ssh_key_fingerprint(key)]
    if fmt != "openpgp":
        raise ApprovalError(f"gpg.format={fmt} is not supported for approvals (use ssh or openpgp)")
    if not key:
        ident = git_repo.git("var", "GIT_COMMITTER_IDENT").stdout.strip()
        key = ident.rsplit(">", 1)[0] + ">"
    return "gpg", _gpg_fingerprints(git_repo, key)


def _ssh_key_fingerprint(key: str) -> str:
    from hotswap_cli.core.approvals.approvers import ssh_fingerprint

    literal = key.removeprefix("key::").strip()
    if re.match(r"^(ssh-|ecdsa-|sk-)", literal):
        return ssh_fingerprint(literal.split()[1])
    path = Path(os.path.expanduser(literal))
    pub = path if path.suffix == ".pub" else path.with_name(path.name + ".pub")
    if pub.is_file():
        return ssh_fingerprint(pub.read_text().split()[1])
    import subprocess

    result = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(path)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ApprovalError(f"cannot read the signing key {literal}: {result.stderr.strip()}")
    return result.stdout.split()[1]


def _gpg_fingerprints(git_repo: GitRepo, keyid: str) -> list[str]:
    import subprocess

    program = _config(git_repo, "gpg.openpgp.program") or _config(git_repo, "gpg.program") or "gpg"
    result = subprocess.run([program, "--batch", "--with-colons", "--list-secret-keys", keyid],
                            capture_output=True, text=True, check=False)
    fprs = [line.split(":")[9] for line in result.stdout.splitlines() if line.startswith("fpr:")]
    if not fprs:
        raise ApprovalError(f"no GPG secret key for {keyid!r}",
                            hint="set user.signingkey to your key's fingerprint, or gpg.format=ssh")
    return fprs


def sign_tag(git_repo: GitRepo, name: str, commit: str, message: str) -> None:
    """`git tag -s` with the user's own signing setup; a failing signer becomes an ApprovalError."""
    result = git_repo.git("tag", "-s", "-F", "-", name, commit, input=message, check=False)
    if result.returncode != 0:
        why = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["git tag failed"]
        delete_tag(git_repo, name)
        raise ApprovalError(f"signing the approval failed: {why[0]}",
                            hint="check user.signingkey, gpg.format and your ssh/gpg agent")


def delete_tag(git_repo: GitRepo, name: str) -> None:
    git_repo.update_ref("-d", f"refs/tags/{name}", check=False)


def commit_signatures(git_repo: GitRepo, rev_range: str, approvers: Approvers,
                      paths: list[str] | None = None) -> list[CommitSignature]:
    """Each commit in the range (touching `paths`, when given) with whether an approvers-listed key signed it."""
    fmt = "%H%x1f%G?%x1f%GS%x1f%GF%x1f%GP%x1f%s%x1e"
    git_repo.ensure_history(rev_range, why="the signed-commits check")  # a commit cut off would go unchecked
    with allowed_signers(approvers) as config:
        out = git_repo.git(*config, "log", f"--format={fmt}", rev_range, *(["--", *paths] if paths else [])).stdout
    commits = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, code, signer, fpr, primary, subject = record.split("\x1f")
        approver = approvers.by_fingerprint(fpr) or (approvers.by_fingerprint(primary) if primary else None)
        if code == "N":
            state = "unsigned"
        elif code in ("B", "X", "Y", "R"):
            state = "bad"
        elif code in ("G", "U") and approver is not None:
            state = "good"
        else:
            state = "unknown"
        commits.append(CommitSignature(sha, subject, state, approver.name if approver else (signer or fpr),
                                       approver.principals if approver is not None and state == "good" else ()))
    return commits
