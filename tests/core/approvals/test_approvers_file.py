"""The approvers file format: allowed-signers lines with roles, ssh and gpg keys."""

from __future__ import annotations

import pytest

from hotswap_cli.core.approvals.approvers import parse_approvers, ssh_fingerprint
from hotswap_cli.errors import ConfigError

KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIGqFbCz3FHmMHIhRHtN4sPOIZwzIErNjAp7RwJdomh1m"
FPR = "9905B5E97ED649676A6A107A3BC0F52DB4342D51"

# line, principals, roles, kind, allowed-signers line written for ssh-keygen (None for gpg)
CASES = [
    (f'alice@example.com namespaces="git" roles="lead,sre" ssh-ed25519 {KEY}',
     ("alice@example.com",), ("lead", "sre"), "ssh", f'alice@example.com namespaces="git" ssh-ed25519 {KEY}'),
    (f'alice@example.com namespaces="git",roles="lead, sre" ssh-ed25519 {KEY} laptop',
     ("alice@example.com",), ("lead", "sre"), "ssh", f'alice@example.com namespaces="git" ssh-ed25519 {KEY}'),
    (f"a@x.com,alice@corp.com ssh-ed25519 {KEY}",
     ("a@x.com", "alice@corp.com"), (), "ssh", f"a@x.com,alice@corp.com ssh-ed25519 {KEY}"),
    (f'carol@example.com roles="lead" gpg {FPR}', ("carol@example.com",), ("lead",), "gpg", None),
    (f'carol@example.com roles="lead" gpg {FPR.lower()}', ("carol@example.com",), ("lead",), "gpg", None),
]


@pytest.mark.parametrize(("line", "principals", "roles", "kind", "signers_line"), CASES)
def test_parse_line(line: str, principals: tuple[str, ...], roles: tuple[str, ...], kind: str,
                    signers_line: str | None) -> None:
    approvers = parse_approvers(f"# comment\n\n{line}\n", "approvers")
    (entry,) = approvers.entries
    assert (entry.principals, entry.roles, entry.kind, entry.line) == (principals, roles, kind, 3)
    if signers_line is None:
        assert entry.key == FPR and approvers.allowed_signers() == ""
    else:
        assert approvers.allowed_signers() == signers_line + "\n"
        assert entry.fingerprint == ssh_fingerprint(KEY)


@pytest.mark.parametrize(("line", "message"), [
    ("alice@example.com", "approvers:1: expected `principal[,principal] [options] keytype key`"),
    ('alice@example.com roles="lead" something', "approvers:1: no key type"),
    ('alice@example.com roles="lead" notakeytype AAAA', "approvers:1: no key type"),
    ('carol@example.com roles="lead" gpg NOTHEX', "approvers:1: 'NOTHEX' is not a GPG key fingerprint"),
    ('alice@example.com roles="lead ssh-ed25519 AAAA', "approvers:1: unbalanced quotes"),
    ("alice@example.com ssh-ed25519 not*base64", "approvers:1: the ssh-ed25519 key is not valid base64"),
])
def test_bad_lines_are_config_errors(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_approvers(line, "approvers")
    assert str(err.value).startswith(message)


def test_lookup_by_principal_merges_roles_and_by_fingerprint() -> None:
    approvers = parse_approvers(
        f'alice@example.com roles="lead" ssh-ed25519 {KEY}\nalice@example.com roles="sre" gpg {FPR}\n', "f")
    alice = approvers.by_principal("alice@example.com")
    assert alice is not None and alice.roles == ("lead", "sre")
    assert approvers.by_principal("bob@example.com") is None
    by_gpg = approvers.by_fingerprint(FPR[-16:])
    assert by_gpg is not None and by_gpg.kind == "gpg"
    by_ssh = approvers.by_fingerprint(ssh_fingerprint(KEY))
    assert by_ssh is not None and by_ssh.kind == "ssh"
    assert approvers.by_fingerprint("SHA256:nope") is None
