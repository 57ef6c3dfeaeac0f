"""A private single-node etcd on 127.0.0.1 for tests: free loopback ports (client and peer), its
data dir under the test's tmp_path, started and waited on until a range answers, stopped by its
PID. etcd must be installed (CI installs etcd-server and etcd-client in .ci/run): a missing
binary fails the tests, it does not skip them.

Usage:
    etcd = start_etcd(tmp_path)                  # plain HTTP
    etcd = start_etcd(tmp_path, tls=True)        # HTTPS, --client-cert-auth (CA, server, client cert)
    etcd.endpoint                                # "http://127.0.0.1:PORT" (https with tls)
    etcd.client()                                # an EtcdClient (with the client cert when tls)
    etcd.etcdctl("put", "/k", "v")               # the real etcdctl, with the right flags
    etcd.enable_auth("root", "pw")               # user root with a password, then `auth enable`
    etcd.stop() / etcd.kill()                    # SIGTERM (waits) / SIGKILL: etcd gone mid-deploy
    etcd.freeze() / etcd.thaw()                  # SIGSTOP / SIGCONT: etcd hangs
or the fixtures `etcd` and `etcd_tls` (register with `pytest_plugins = ["support.etcd"]` or import
them into a test module).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hotswap_cli.io.etcd import EtcdAuth, EtcdClient, EtcdError, EtcdTls
from support.sshd import free_port

START_DEADLINE = 15.0


@dataclass(frozen=True)
class EtcdCerts:
    """PEM files: a CA, the server's cert (127.0.0.1, localhost) and a client cert, all by the CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def tls(self) -> EtcdTls:
        return EtcdTls(ca=str(self.ca), cert=str(self.client_cert), key=str(self.client_key))


@dataclass
class Etcd:
    process: subprocess.Popen[bytes]
    data_dir: Path
    client_port: int
    peer_port: int
    log: Path
    certs: EtcdCerts | None = None
    auth: EtcdAuth | None = field(default=None)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.certs else 'http'}://127.0.0.1:{self.client_port}"

    def client(self, *, auth: EtcdAuth | None = None, timeout: float = 3.0) -> EtcdClient:
        """A client for this etcd (the caller closes it); as root after `enable_auth` unless told."""
        return EtcdClient([self.endpoint], tls=self.certs.tls() if self.certs else None,
                          auth=auth or self.auth, timeout=timeout)

    def etcdctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        flags = [f"--endpoints={self.endpoint}", "--dial-timeout=3s", "--command-timeout=5s"]
        if self.certs:
            flags += [f"--cacert={self.certs.ca}", f"--cert={self.certs.client_cert}",
                      f"--key={self.certs.client_key}"]
        if self.auth and self.auth.user:
            flags.append(f"--user={self.auth.user}:{self.auth.password}")
        return subprocess.run([etcdctl_binary(), *flags, *args], capture_output=True, text=True,
                              check=check, env={**os.environ, "ETCDCTL_API": "3"}, timeout=15)

    def enable_auth(self, user: str = "root", password: str = "pw") -> None:
        """Add `user` with `password` (root gets the root role), then turn auth on; later
        `client()` and `etcdctl` calls authenticate as that user."""
        self.etcdctl("user", "add", f"{user}:{password}")
        if user != "root":
            self.etcdctl("user", "add", "root:root-pw")
            self.etcdctl("user", "grant-role", user, "root")
        else:
            self.etcdctl("user", "grant-role", "root", "root")
        self.etcdctl("auth", "enable")
        self.auth = EtcdAuth(user=user, password=password)

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM by PID (after a SIGCONT: a test may have frozen it with SIGSTOP), waited on
        (SIGKILL after 5 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def freeze(self) -> None:
        """SIGSTOP by PID: etcd keeps its connections open and answers nothing (a hung server)."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL by PID: etcd vanishes without closing connections."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)


def etcd_binary() -> str:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)
    assert found, "etcd is not installed (CI installs etcd-server in .ci/run)"
    return found


def etcdctl_binary() -> str:
    found = shutil.which("etcdctl")
    assert found, "etcdctl is not installed (CI installs etcd-client in .ci/run)"
    return found


def make_certs(directory: Path) -> EtcdCerts:
    """A CA, a server cert for 127.0.0.1/localhost (server and client auth: etcd 3.4's gateway dials
    its own gRPC port with it) and a client cert, generated with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("hotswap test etcd CA")).issuer_name(name("hotswap test etcd CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_path, _ = write("ca", ca, ca_key)

    def issue(cn: str, stem: str, usages: list[x509.ObjectIdentifier], san: bool) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return write(stem, builder.sign(ca_key, hashes.SHA256()), key)

    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    server_cert, server_key = issue("127.0.0.1", "server", both, san=True)
    # No common name on the client cert: with auth enabled, etcd 3.4 refuses a gateway (/v3/...)
    # request whose client cert has one ("CommonName of client sending a request against gateway
    # will be ignored and not used as expected", 400); the user comes from user/password instead.
    client_cert, client_key = issue("", "client", [ExtendedKeyUsageOID.CLIENT_AUTH], san=False)
    return EtcdCerts(ca=ca_path, server_cert=server_cert, server_key=server_key,
                     client_cert=client_cert, client_key=client_key)


def start_etcd(tmp_path: Path, *, tls: bool = False, name: str = "etcd") -> Etcd:
    """Start etcd under `tmp_path/name` and wait (up to START_DEADLINE) until a range answers."""
    root = tmp_path / name
    root.mkdir(parents=True, exist_ok=True)
    certs = make_certs(root / "certs") if tls else None
    client_port, peer_port = free_port(), free_port()
    while peer_port == client_port:
        peer_port = free_port()
    scheme = "https" if certs else "http"
    client_url, peer_url = f"{scheme}://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    args = [etcd_binary(), "--name", name, "--data-dir", str(root / "data"),
            "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"{name}={peer_url}", "--initial-cluster-state", "new",
            "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
    if certs:
        args += ["--cert-file", str(certs.server_cert), "--key-file", str(certs.server_key),
                 "--trusted-ca-file", str(certs.ca), "--client-cert-auth"]
    log = root / "etcd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    etcd = Etcd(process=process, data_dir=root / "data", client_port=client_port, peer_port=peer_port,
                log=log, certs=certs)
    deadline = time.monotonic() + START_DEADLINE
    client = etcd.client(timeout=1.0)
    try:
        while True:
            if process.poll() is not None:
                raise AssertionError(f"etcd exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                client.get("/hotswap-test/ready")
                return etcd
            except EtcdError as exc:
                if time.monotonic() > deadline:
                    etcd.stop()
                    raise AssertionError(f"etcd did not answer within {START_DEADLINE:g}s: {exc}\n"
                                         f"{log.read_text()[-2000:]}") from None
                time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[Etcd]:
    """A plain-HTTP etcd for one test, stopped by PID at teardown."""
    server = start_etcd(tmp_path)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd_tls(tmp_path: Path) -> Iterator[Etcd]:
    """An HTTPS etcd requiring a client certificate (`--client-cert-auth`), stopped at teardown."""
    server = start_etcd(tmp_path, tls=True, name="etcd-tls")
    try:
        yield server
    finally:
        server.stop()
