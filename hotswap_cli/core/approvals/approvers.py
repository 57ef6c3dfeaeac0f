"""The approvers file (git allowed-signers lines plus roles) and the trust root it is read from."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hotswap_cli.errors import ConfigError

if TYPE_CHECKING:
    pass

APPROVERS_ENV = "HOTSWAP_APPROVERS"
REMOTE = "origin"
_KEY_TYPE = re.compile(r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+|[a-z0-9-]+-cert-v01@openssh\.com)$")
_TOKEN = re.compile(r'(?:[^\s"]|"[^"]*")+')
_GPG_FPR = re.compile(r"^[0-9A-F]{16,40}$")


@dataclass(frozen=True)
class Approver:
    """One line of the approvers file: who (principals), what they may do (roles), their key."""

    principals: tuple[str, ...]
    roles: tuple[str, ...]
    kind: str  # "ssh" or "gpg"
    key: str  # ssh: "keytype base64"; gpg: upper-case fingerprint
    options: tuple[str, ...] = ()  # ssh allowed-signers options other than roles, as written
    line: int = 0

    @property
    def name(self) -> str:
        return self.principals[0]

    @property
    def fingerprint(self) -> str:
        """ssh: `SHA256:...` as ssh-keygen prints it; gpg: the key fingerprint."""
        if self.kind == "gpg":
            return self.key
        return ssh_fingerprint(self.key.split()[1])

    def allowed_signers_line(self) -> str:
        opts = ",".join(self.options)
        return " ".join(p for p in (",".join(self.principals), opts, self.key) if p)


@dataclass(frozen=True)
class Approvers:
    """The parsed approvers file and where it was read from (shown in every refusal)."""

    entries: tuple[Approver, ...]
    source: str

    def by_principal(self, principal: str) -> Approver | None:
        found = [e for e in self.entries if principal in e.principals]
        if not found:
            return None
        roles = tuple(dict.fromkeys(r for e in found for r in e.roles))
        return Approver(found[0].principals, roles, found[0].kind, found[0].key, found[0].options,
                        found[0].line)

    def by_fingerprint(self, fingerprint: str) -> Approver | None:
        """The entry for an ssh `SHA256:...` fingerprint or a gpg fingerprint (full, or its tail)."""
        fpr = fingerprint.strip()
        for e in self.entries:
            if e.kind == "ssh" and e.fingerprint == fpr:
                return e
            if e.kind == "gpg" and fpr and (e.key.upper().endswith(fpr.upper()) or fpr.upper().endswith(e.key)):
                return e
        return None

    def allowed_signers(self) -> str:
        """The ssh entries as a file ssh-keygen accepts (it rejects the `roles` option)."""
        return "".join(e.allowed_signers_line() + "\n" for e in self.entries if e.kind == "ssh")


def ssh_fingerprint(blob_b64: str) -> str:
    digest = hashlib.sha256(base64.b64decode(blob_b64)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _split_options(token: str) -> list[str]:
    """`a="x,y",b` -> ['a="x,y"', 'b']: commas inside quotes do not split."""
    out, cur, quoted = [], "", False
    for ch in token:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [o for o in out if o]


def _parse_line(text: str, number: int, source: str) -> Approver:
    tokens = _TOKEN.findall(text)
    if text.count('"') % 2:
        raise ConfigError(f"{source}:{number}: unbalanced quotes")
    if len(tokens) < 3:
        raise ConfigError(f"{source}:{number}: expected `principal[,principal] [options] keytype key`")
    principals = tuple(p for p in tokens[0].split(",") if p)
    options: list[str] = []
    rest = tokens[1:]
    while rest and rest[0] != "gpg" and not _KEY_TYPE.match(rest[0]):
        options.extend(_split_options(rest.pop(0)))
    if len(rest) < 2:
        raise ConfigError(f"{source}:{number}: no key type (ssh-ed25519, ecdsa-sha2-..., gpg) found")
    roles: tuple[str, ...] = ()
    kept = []
    for opt in options:
        name, _, value = opt.partition("=")
        if name.lower() == "roles":
            roles = tuple(r.strip() for r in value.strip('"').split(",") if r.strip())
        else:
            kept.append(opt)
    if rest[0] == "gpg":
        fpr = rest[1].replace(" ", "").upper()
        if not _GPG_FPR.match(fpr):
            raise ConfigError(f"{source}:{number}: {rest[1]!r} is not a GPG key fingerprint (40 hex digits)")
        return Approver(principals, roles, "gpg", fpr, tuple(kept), number)
    try:
        base64.b64decode(rest[1], validate=True)
    except ValueError:
        raise ConfigError(f"{source}:{number}: the {rest[0]} key is not valid base64") from None
    return Approver(principals, roles, "ssh", f"{rest[0]} {rest[1]}", tuple(kept), number)


def parse_approvers(text: str, source: str) -> Approvers:
    """Parse approvers lines; `#` comments and blank lines are skipped. Raises ConfigError."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            entries.append(_parse_line(line, number, source))
    return Approvers(tuple(entries), source)
