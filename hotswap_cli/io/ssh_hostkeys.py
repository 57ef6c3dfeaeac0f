"""Host keys as OpenSSH trusts them: plain known_hosts entries (paramiko reads those), plus what
paramiko skips: `@cert-authority` lines, whose CA may sign host certificates, and `@revoked` keys.

A host certificate is accepted when its CA is listed for the host, its signature verifies, it is a
host certificate valid now, it names the host among its principals and has no critical options;
anything else is refused with the reason (never accepted on trust)."""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
from dataclasses import dataclass, field

import paramiko
from paramiko.message import Message

CERT_SUFFIX = "-cert-v01@openssh.com"
HOST_CERT_ALGORITHMS = (
    "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com", "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com",
)
_HOST_CERT = 2
_KEY_FIELDS = {"ssh-ed25519": 1, "ecdsa-sha2-nistp256": 2, "ecdsa-sha2-nistp384": 2, "ecdsa-sha2-nistp521": 2,
               "ssh-rsa": 2}


class UnknownHostKey(Exception):
    def __init__(self, key: paramiko.PKey) -> None:
        super().__init__("unknown host key")
        self.key = key


class HostCertRefused(Exception):
    """A host certificate that does not prove the host's identity; the reason says why."""


@dataclass
class KnownHosts:
    """What known_hosts files say: plain keys per host, CAs for host certificates, revoked keys."""

    keys: paramiko.HostKeys = field(default_factory=paramiko.HostKeys)
    authorities: list[tuple[list[str], bytes]] = field(default_factory=list)  # (host patterns, CA key blob)
    revoked: set[bytes] = field(default_factory=set)

    @classmethod
    def load(cls, files: tuple[str, ...]) -> KnownHosts:
        known = cls()
        for path in files:
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    words = line.split()
                    if not words or words[0].startswith("#"):
                        continue
                    if not words[0].startswith("@"):
                        known._add_plain(line.strip())
                        continue
                    if len(words) < 4 or words[0] not in ("@cert-authority", "@revoked"):
                        continue
                    try:
                        blob = base64.b64decode(words[3], validate=True)
                    except (binascii.Error, ValueError):
                        continue
                    if words[0] == "@revoked":
                        known.revoked.add(blob)
                    else:
                        known.authorities.append((words[1].split(","), blob))
        return known

    def _add_plain(self, line: str) -> None:
        """A `names keytype key` line (paramiko's own loader stops at the first marker line)."""
        try:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
        except Exception:  # noqa: BLE001 - a line paramiko cannot read trusts nothing, as in OpenSSH
            return
        if entry is not None and entry.key is not None:
            for name in entry.hostnames:
                self.keys.add(name, entry.key.get_name(), entry.key)

    def authorities_for(self, name: str) -> list[bytes]:
        """The CA keys trusted to sign host certificates for `name` (`host` or `[host]:port`)."""
        return [blob for patterns, blob in self.authorities if _matches(patterns, name)]


def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH's patterns: `*` and `?` only (so `[host]:port` is literal, unlike fnmatch)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()))


def _matches(patterns: list[str], name: str) -> bool:
    """known_hosts pattern lists: `*`/`?` globs, `!negation` wins; a bare host matches its port-22 name."""
    hit = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if _glob(pattern.lstrip("!")).fullmatch(name.lower()):
            if negate:
                return False
            hit = True
    return hit


class VerifyHostKey(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when no plain known_hosts entry matches: accept a valid host certificate
    from a trusted CA, refuse everything else."""

    def __init__(self, known: KnownHosts, name: str, principal: str) -> None:
        self.known = known
        self.name = name  # as looked up in known_hosts
        self.principal = principal  # what the certificate must name

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        blob = key.public_blob
        if key.asbytes() in self.known.revoked:
            raise HostCertRefused(f"its key {key.fingerprint} is marked @revoked in known_hosts")
        if blob is None or not blob.key_type.endswith(CERT_SUFFIX):
            raise UnknownHostKey(key)
        check_host_cert(blob.key_blob, self.principal, self.known.authorities_for(self.name), self.known.revoked)


def check_host_cert(cert: bytes, principal: str, authorities: list[bytes], revoked: set[bytes]) -> None:
    """Raise HostCertRefused unless `cert` is a host certificate for `principal`, valid now, signed by
    one of `authorities`."""
    if not authorities:
        raise HostCertRefused("it presents a host certificate, and no @cert-authority in known_hosts covers it")
    msg = Message(cert)
    cert_type = msg.get_text()
    plain = cert_type.removesuffix(CERT_SUFFIX)
    if plain not in _KEY_FIELDS:
        raise HostCertRefused(f"its certificate type {cert_type} is not one hotswap can check")
    msg.get_binary()  # nonce
    for _ in range(_KEY_FIELDS[plain]):
        msg.get_binary()  # the key itself (strings and mpints share the wire format)
    msg.get_int64()  # serial
    kind = msg.get_int()
    key_id = msg.get_text()
    names = Message(msg.get_binary())
    principals = []
    while names.get_remainder():
        principals.append(names.get_text())
    valid_after, valid_before = msg.get_int64(), msg.get_int64()
    critical = msg.get_binary()
    msg.get_binary()  # extensions
    msg.get_binary()  # reserved
    signer = msg.get_binary()
    signed = msg.get_so_far()
    signature = msg.get_binary()
    if signer not in authorities:
        raise HostCertRefused(f"its certificate {key_id!r} is signed by a CA that known_hosts does not trust for "
                              f"this host ({_fingerprint(signer)})")
    if signer in revoked:
        raise HostCertRefused(f"the CA that signed its certificate {key_id!r} is marked @revoked in known_hosts")
    ca = paramiko.PKey.from_type_string(Message(signer).get_text(), signer)
    if not ca.verify_ssh_sig(signed, Message(signature)):
        raise HostCertRefused(f"its certificate {key_id!r} has a signature that does not verify")
    if kind != _HOST_CERT:
        raise HostCertRefused(f"its certificate {key_id!r} is a user certificate, not a host certificate")
    now = time.time()
    if not valid_after <= now < valid_before:
        raise HostCertRefused(f"its certificate {key_id!r} is not valid now (valid from "
                              f"{_when(valid_after)} to {_when(valid_before)})")
    if principal not in principals:
        raise HostCertRefused(f"its certificate {key_id!r} is for {', '.join(principals) or 'no host'}, "
                              f"not {principal}")
    if critical:
        raise HostCertRefused(f"its certificate {key_id!r} has critical options, which host certificates must not")


def _fingerprint(blob: bytes) -> str:
    import hashlib

    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _when(stamp: int) -> str:
    if stamp >= 2**63:
        return "forever"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
