"""User and host certificates against real OpenSSH servers on loopback, signed by real CAs (ssh-keygen).

User certificates: a server that trusts only a user CA (TrustedUserCAKeys, AuthorizedKeysFile none)
lets in a key with `<key>-cert.pub` next to it, or with CertificateFile in the ssh config, and nobody
else. Host certificates: known_hosts lists only `@cert-authority` CAs; the server presents its host key
signed by one (HostCertificate); a wrong CA, a principal that is not the host, an expired certificate or
a revoked CA is refused with a message about the certificate, before anything is written."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.push import push
from support.sshd import SshServer, keygen, sign_key, start_sshd

from hotswap_cli.errors import TransportError
from hotswap_cli.specs import target

OLD = b"old config\n"
NEW = b"new config\n"


@pytest.fixture(autouse=True)
def _no_ssh_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", "none")
    from hotswap_cli.io.ssh import close_jumps

    yield
    close_jumps()


@dataclass
class Cas:
    ca1: Path  # private keys; `.pub` next to them
    ca2: Path

    @staticmethod
    def public(ca: Path) -> str:
        """`ssh-ed25519 AAAA...` of a CA."""
        kind, key = ca.with_name(ca.name + ".pub").read_text().split()[:2]
        return f"{kind} {key}"


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> Cas:
    root = tmp_path_factory.mktemp("cas")
    keygen(root / "ca1", "hotswap-test-ca1")
    keygen(root / "ca2", "hotswap-test-ca2")
    return Cas(root / "ca1", root / "ca2")


@pytest.fixture
def live(tmp_path: Path) -> Path:
    path = tmp_path / "remote" / "app.conf"
    path.parent.mkdir()
    path.write_bytes(OLD)
    return path


def untouched(live: Path) -> bool:
    return live.read_bytes() == OLD and [p.name for p in live.parent.iterdir()] == ["app.conf"]


def wait_log(server: SshServer, text: str) -> str:
    deadline = time.monotonic() + 5
    while text not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.log_text()


# -- user certificates --------------------------------------------------------------------------


@dataclass
class UserCa:
    server: SshServer  # trusts ca1 for users, no authorized_keys
    key: Path  # signed by ca1 for root: key-cert.pub next to it


@pytest.fixture(scope="module")
def user_ca(cas: Cas, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserCa]:
    root = tmp_path_factory.mktemp("usercert")
    key = root / "keys" / "id_ed25519"
    key.parent.mkdir()
    keygen(key, "deployer")
    sign_key(cas.ca1, key.with_name(key.name + ".pub"), identity="deployer@hotswap", principals="root")
    server = start_sshd(root / "sshd", user_key=key, trusted_user_ca=cas.ca1.with_name("ca1.pub"),
                        log_file=root / "sshd.log")
    yield UserCa(server, key)
    server.stop()


def key_copy(key: Path, directory: Path) -> Path:
    """The same key pair in another directory, without its certificate."""
    directory.mkdir()
    shutil.copy(key, directory / key.name)
    shutil.copy(key.with_name(key.name + ".pub"), directory / (key.name + ".pub"))
    (directory / key.name).chmod(0o600)
    return directory / key.name


def test_a_user_certificate_next_to_the_key_is_offered(user_ca: UserCa, live: Path) -> None:
    assert user_ca.key.with_name("id_ed25519-cert.pub").exists()
    push(user_ca.server.target("a", live), NEW)
    assert live.read_bytes() == NEW
    assert "ED25519-CERT" in wait_log(user_ca.server, "Accepted publickey")  # logged in with the certificate


def test_the_same_key_without_its_certificate_is_refused(user_ca: UserCa, live: Path, tmp_path: Path) -> None:
    bare = key_copy(user_ca.key, tmp_path / "bare")
    with pytest.raises(TransportError, match="authentication failed") as exc:
        push(user_ca.server.target("a", live, key=str(bare), retries=0), NEW)
    assert exc.value.instance == "a"
    assert untouched(live)


def test_certificate_file_from_the_ssh_config(
        user_ca: UserCa, live: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = key_copy(user_ca.key, tmp_path / "bare")
    cert = tmp_path / "elsewhere" / "deployer.cert"
    cert.parent.mkdir()
    shutil.copy(user_ca.key.with_name("id_ed25519-cert.pub"), cert)
    server = user_ca.server
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host certified\n    HostName 127.0.0.1\n    Port {server.port}\n    User root\n"
                   f"    IdentityFile {bare}\n    CertificateFile {cert}\n    IdentitiesOnly yes\n"
                   f"    UserKnownHostsFile {server.known_hosts}\n")
    monkeypatch.setenv("HOTSWAP_SSH_CONFIG", str(cfg))
    push(target("a", {"type": "ssh", "host": "certified", "path": str(live), "timeout": "5s"}), NEW)
    assert live.read_bytes() == NEW


def test_a_certificate_for_another_principal_is_refused(
        user_ca: UserCa, cas: Cas, live: Path, tmp_path: Path) -> None:
    other = key_copy(user_ca.key, tmp_path / "other")
    sign_key(cas.ca1, other.with_name(other.name + ".pub"), identity="someone", principals="someone-else")
    with pytest.raises(TransportError, match="authentication failed"):
        push(user_ca.server.target("a", live, key=str(other), retries=0), NEW)
    assert untouched(live)


def test_a_certificate_from_an_untrusted_ca_is_refused(
        user_ca: UserCa, cas: Cas, live: Path, tmp_path: Path) -> None:
    other = key_copy(user_ca.key, tmp_path / "other")
    sign_key(cas.ca2, other.with_name(other.name + ".pub"), identity="deployer", principals="root")
    with pytest.raises(TransportError, match="authentication failed"):
        push(user_ca.server.target("a", live, key=str(other), retries=0), NEW)
    assert untouched(live)


# -- host certificates --------------------------------------------------------------------------


@dataclass
class HostCerts:
    good: SshServer  # host key signed by ca1 for 127.0.0.1
    elsewhere: SshServer  # signed by ca1 for other.example
    expired: SshServer  # signed by ca1 for 127.0.0.1, valid in 2020 only


@pytest.fixture(scope="module")
def host_certs(cas: Cas, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostCerts]:
    root = tmp_path_factory.mktemp("hostcert")
    servers: list[SshServer] = []
    try:
        for name, principals, validity in (("good", "127.0.0.1", None), ("elsewhere", "other.example", None),
                                           ("expired", "127.0.0.1", "20200101:20200102")):
            servers.append(start_sshd(root / name, host_cert_ca=cas.ca1, host_cert_principals=principals,
                                      host_cert_validity=validity))
        yield HostCerts(*servers)
    finally:
        for server in servers:
            server.stop()


def ca_known_hosts(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_the_host_presents_a_certificate(host_certs: HostCerts) -> None:
    """The fixture is what the tests below rely on: ssh-keygen reads the certificate sshd serves."""
    cert = host_certs.good.host_key.with_name("ssh_host_ed25519_key-cert.pub")
    listing = subprocess.run(["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, text=True,
                             check=True).stdout
    assert "host certificate" in listing and "127.0.0.1" in listing
    assert f"HostCertificate {cert}" in (host_certs.good.directory / "sshd_config").read_text()


@pytest.mark.parametrize("pattern", ["host", "*"])
def test_a_host_certificate_from_a_listed_ca_is_accepted(
        host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path, pattern: str) -> None:
    server = host_certs.good
    name = f"[127.0.0.1]:{server.port}" if pattern == "host" else "*"
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority {name} {cas.public(cas.ca1)}")
    push(server.target("a", live, known_hosts=str(known)), NEW)
    assert live.read_bytes() == NEW
    assert known.read_text() == f"@cert-authority {name} {cas.public(cas.ca1)}\n"  # nothing added


def test_a_host_certificate_from_another_ca_is_refused(
        host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path) -> None:
    server = host_certs.good
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority [127.0.0.1]:{server.port} {cas.public(cas.ca2)}")
    with pytest.raises(TransportError, match="certificate") as exc:
        push(server.target("a", live, known_hosts=str(known), retries=0), NEW)
    assert exc.value.instance == "a" and f"127.0.0.1:{server.port}" in exc.value.reason
    assert untouched(live)


def test_a_ca_listed_for_another_host_does_not_count(
        host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path) -> None:
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority *.example.com {cas.public(cas.ca1)}")
    with pytest.raises(TransportError, match="certificate|unknown host key"):
        push(host_certs.good.target("a", live, known_hosts=str(known), retries=0), NEW)
    assert untouched(live)


def test_a_host_certificate_for_another_host_name_is_refused(
        host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path) -> None:
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority * {cas.public(cas.ca1)}")
    with pytest.raises(TransportError, match="certificate") as exc:
        push(host_certs.elsewhere.target("a", live, known_hosts=str(known), retries=0), NEW)
    assert "other.example" in exc.value.reason
    assert untouched(live)


def test_an_expired_host_certificate_is_refused(
        host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path) -> None:
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority * {cas.public(cas.ca1)}")
    with pytest.raises(TransportError, match="certificate") as exc:
        push(host_certs.expired.target("a", live, known_hosts=str(known), retries=0), NEW)
    assert "valid" in exc.value.reason
    assert untouched(live)


def test_a_revoked_ca_is_refused(host_certs: HostCerts, cas: Cas, live: Path, tmp_path: Path) -> None:
    known = ca_known_hosts(tmp_path / "known_hosts", f"@cert-authority * {cas.public(cas.ca1)}",
                           f"@revoked * {cas.public(cas.ca1)}")
    with pytest.raises(TransportError, match="certificate"):
        push(host_certs.good.target("a", live, known_hosts=str(known), retries=0), NEW)
    assert untouched(live)


def test_a_plain_host_key_still_works_next_to_a_certificate(host_certs: HostCerts, live: Path) -> None:
    """A server with a host certificate, known_hosts with its plain key only (and no CA): accepted."""
    push(host_certs.good.target("a", live), NEW)
    assert live.read_bytes() == NEW
