"""Local accounts and sudoers rules for the `become` (sudo) tests over the ssh transport.

`become_host()` (a context manager; the test module wraps it in a fixture) creates, as root:
- `hsdeploy`: key login, `hsdeploy ALL=(ALL) NOPASSWD: ALL`;
- `hspass`: key login and the password PASSWORD, `hspass ALL=(ALL) ALL` (sudo asks for it);
- `hsnosudo`: key login, no sudo rights;
- `hsapp`: a service account that owns its own files (a `become_user` target), no sudo rights;
starts a private sshd every one of them can log in to with the same key, and on exit stops that sshd,
removes the sudoers files and the accounts (`userdel -r`). Accounts or rules left by a killed run are
replaced, and a lock file makes two runs on one machine take turns instead of deleting each other's
accounts. Not root, or no sudo: the tests fail with a message saying so (they are never skipped).
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hotswap_cli.specs import Target, target
from support.sshd import SshServer, start_sshd

PASSWORD = "Hs pw'\"$(id);x`y` \\n"  # hspass's sudo password: quotes, $, backticks: it must go in as data
WRONG_PASSWORD = "not-hspass-password-7d1f"
SUDOERS_DIR = Path("/etc/sudoers.d")
LOCK = Path("/tmp/hotswap-test-become.lock")
RULES = {
    "hsdeploy": "hsdeploy ALL=(ALL) NOPASSWD: ALL\n",
    "hspass": "hspass ALL=(ALL) ALL\n",
}
USERS = ("hsdeploy", "hspass", "hsnosudo", "hsapp")


@dataclass
class BecomeHost:
    """A private sshd on 127.0.0.1 the test accounts log in to, and a scratch directory (`/tmp/...`,
    0755 root:root) the tests make their "system" directories in."""

    server: SshServer
    scratch: Path

    def spec(self, user: str, path: str | Path, **extra: Any) -> dict[str, Any]:
        """An ssh transport dict logging in as `user`."""
        return self.server.spec(path, user=user, **extra)

    def target(self, name: str, user: str, path: str | Path, **extra: Any) -> Target:
        return target(name, self.spec(user, path, **extra))

    def directory(self, owner: str = "root", mode: int = 0o755) -> Path:
        """A fresh directory owned by `owner` (its own group) with `mode`."""
        path = Path(tempfile.mkdtemp(dir=self.scratch, prefix="d-"))
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(mode)
        return path


def uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the become tests create local users and sudoers rules: run them as root "
                    "(CI runs the suite as root in a container)", pytrace=False)
    missing = [tool for tool in ("sudo", "visudo", "useradd", "userdel", "chpasswd") if not shutil.which(tool)]
    if missing:
        pytest.fail(f"the become tests need {', '.join(missing)}: apt-get install sudo passwd "
                    "(.ci/run installs them)", pytrace=False)


def _run(*argv: str, input: str | None = None) -> None:
    done = subprocess.run(argv, input=input, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {(done.stderr or done.stdout).strip()}")


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def remove_user(name: str) -> None:
    """Remove the account, its home, its group and sudo's records of it; quiet when already gone."""
    if _exists(name):
        # -f: a session sshd or sudo left behind may still run as the user
        subprocess.run(["userdel", "-r", "-f", name], capture_output=True)
    subprocess.run(["groupdel", name], capture_output=True)
    for record in (Path("/run/sudo/ts") / name, Path("/var/lib/sudo/lectured") / name):
        record.unlink(missing_ok=True)


def add_user(name: str, password: str | None = None) -> None:
    """A fresh account with shell /bin/sh and a home. Key login only unless `password`: with UsePAM no,
    sshd refuses an account whose password field starts with "!" (useradd's default), so it gets "*"."""
    remove_user(name)
    _run("useradd", "-m", "-U", "-s", "/bin/sh", name)
    if password is None:
        _run("usermod", "-p", "*", name)
    else:
        _run("chpasswd", input=f"{name}:{password}\n")


def install_sudoers(name: str, rule: str) -> Path:
    """`/etc/sudoers.d/hotswap-test-<name>`, checked with `visudo -cf` before it is put in place (0440)."""
    path = SUDOERS_DIR / f"hotswap-test-{name}"
    draft = SUDOERS_DIR / f".hotswap-test-{name}.draft"  # sudo skips names containing "."
    draft.write_text(rule)
    draft.chmod(0o440)
    try:
        _run("visudo", "-cf", str(draft))
        draft.replace(path)
    finally:
        draft.unlink(missing_ok=True)
    return path


def _world_traversable_sshd() -> SshServer:
    """sshd reads AuthorizedKeysFile as the user logging in: its directory must be traversable and the
    file readable by all (pytest's tmp_path sits under a 0700 directory). The private key stays 0600
    (root runs the client)."""
    directory = Path(tempfile.mkdtemp(dir="/tmp", prefix="hotswap-t-sshd-"))
    directory.chmod(0o755)
    server = start_sshd(directory)
    (directory / "authorized_keys").chmod(0o644)
    return server


@contextmanager
def become_host() -> Iterator[BecomeHost]:
    require_root()
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run on this machine uses the same account names
        server: SshServer | None = None
        scratch = Path(tempfile.mkdtemp(dir="/tmp", prefix="hotswap-t-"))
        try:
            scratch.chmod(0o755)
            for name in USERS:
                add_user(name, PASSWORD if name == "hspass" else None)
            for name, rule in RULES.items():
                install_sudoers(name, rule)
            server = _world_traversable_sshd()
            yield BecomeHost(server, scratch)
        finally:
            if server is not None:
                server.stop()
                shutil.rmtree(server.directory, ignore_errors=True)
            for name in RULES:
                (SUDOERS_DIR / f"hotswap-test-{name}").unlink(missing_ok=True)
            for name in USERS:
                remove_user(name)
            shutil.rmtree(scratch, ignore_errors=True)


def snapshot(directory: Path) -> dict[str, tuple[bytes, int, int, int]]:
    """Every entry of `directory`: bytes (files), owner, group and mode; to show nothing changed."""
    entries = {}
    for entry in sorted(directory.iterdir()):
        st = entry.lstat()
        data = entry.read_bytes() if stat.S_ISREG(st.st_mode) else b""
        entries[entry.name] = (data, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    return entries


def write_owned(path: Path, data: bytes, *, owner: str | int, group: str | int, mode: int) -> None:
    path.write_bytes(data)
    os.chown(path, uid(owner) if isinstance(owner, str) else owner,
             grp.getgrnam(group).gr_gid if isinstance(group, str) else group)
    path.chmod(mode)
