"""`become` (sudo) over the ssh transport against a real sshd and real sudo: an unprivileged deploy user
writes root-owned files in root-owned directories, keeping the atomic rename, the exact previous bytes
and the live file's owner, group and mode; without `become` a permission error says which file and
suggests it; sudo's refusals are one clear line that never holds the password."""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.become import (
    PASSWORD,
    WRONG_PASSWORD,
    BecomeHost,
    become_host,
    snapshot,
    write_owned,
)
from support.push import push
from support.sshd import free_port

from hotswap_cli.errors import ConfigError, TransportError
from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target, check_env

# Bytes a text-only path would mangle: CR LF, NUL, escape, invalid UTF-8, no final newline.
OLD = b"worker_processes 2;  # old, odd  spacing kept\r\n\x00\x1b[0m\xff\xfe tail"
NEW = b"worker_processes 4;\n"
ADM = 4  # Debian's adm group: a live file owned root:adm 0640, like many files under /etc
PW_ENV = "HS_SUDO_PW"


@pytest.fixture(scope="module")
def host() -> Iterator[BecomeHost]:
    with become_host() as prepared:
        yield prepared


@pytest.fixture
def etc(host: BecomeHost) -> Path:
    """A root-owned 0755 directory, as /etc/nginx is."""
    return host.directory("root", 0o755)


@pytest.fixture
def private(host: BecomeHost) -> Path:
    """A directory only root may enter: where check and reload leave their marks."""
    return host.directory("root", 0o700)


def meta(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def push_with_env(target: Target, data: bytes) -> None:
    """support.push.push with the password variable allowed, as `HOTSWAP_ALLOW_ENV=HS_SUDO_PW` would."""
    push(target, data, allowed_env={PW_ENV})


def leftovers(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".hotswap-" in n and n.endswith(".tmp"))


def test_become_root_swaps_a_root_owned_file_keeping_owner_mode_and_previous_bytes(
        host: BecomeHost, etc: Path, private: Path) -> None:
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    check = f'test "$(id -u)" = 0 && test -s {{path}} && stat -c %u:%g:%a {{path}} > {private}/staged'
    reload = f"id -u >> {private}/reloads"
    transport = open_transport(host.target("a", "hsdeploy", live, become=True, check=check, reload=reload))
    try:
        assert transport.read_current() == OLD  # 0640 root:adm: only root (sudo) can read it
        transport.stage(NEW)
        transport.check()
        transport.swap()
        transport.reload()
        assert transport.confirm(hashlib.sha256(NEW).hexdigest()) is None  # no confirm_url

        assert live.read_bytes() == NEW
        assert meta(live) == (0, ADM, 0o640)
        assert (private / "staged").read_text() == f"0:{ADM}:600\n"  # staged: the live file's owner, 0600
        assert (private / "reloads").read_text() == "0\n"  # the whole reload command ran as root
        prev = Path(f"{live}.hotswap-prev")
        assert prev.read_bytes() == OLD and meta(prev) == (0, ADM, 0o640)
        assert leftovers(etc) == []

        transport.revert()
        assert live.read_bytes() == OLD
        assert meta(live) == (0, ADM, 0o640)
        assert (private / "reloads").read_text() == "0\n0\n"  # revert reloads, as root
        assert leftovers(etc) == []
    finally:
        transport.close()


def test_become_keeps_the_previous_file_when_the_kept_copy_is_already_the_live_file(
        host: BecomeHost, etc: Path) -> None:
    """A run killed between keeping the previous file and its swap leaves `.hotswap-prev` a second
    link to the live file; `mv` refuses to move one link over another ("are the same file"), where
    rename(2) does nothing: the push goes on and leaves no temp file."""
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    os.link(live, f"{live}.hotswap-prev")
    transport = open_transport(host.target("a", "hsdeploy", live, become=True))
    try:
        transport.read_current()
        transport.stage(NEW)
        transport.swap()
    finally:
        transport.close()
    assert live.read_bytes() == NEW and Path(f"{live}.hotswap-prev").read_bytes() == OLD
    assert leftovers(etc) == []


def test_become_revert_removes_a_file_that_did_not_exist(host: BecomeHost, etc: Path) -> None:
    live = etc / "it's $new `conf`.conf"  # paths reach sudo's shell as data, never as script
    transport = open_transport(host.target("a", "hsdeploy", live, become=True, check="test -s {path}"))
    try:
        assert transport.read_current() is None
        transport.stage(NEW)
        transport.check()
        transport.swap()
        assert live.read_bytes() == NEW
        assert meta(live) == (0, 0, 0o644)  # written by root, the default mode
        transport.revert()
        assert not live.exists()
        assert sorted(os.listdir(etc)) == []
    finally:
        transport.close()


def test_a_large_binary_config_goes_through_sudo_intact(host: BecomeHost, etc: Path) -> None:
    live = etc / "big.bin"
    old, new = os.urandom(3 << 20), os.urandom(2 << 20)
    write_owned(live, old, owner="root", group=ADM, mode=0o600)
    transport = open_transport(host.target("a", "hsdeploy", live, become=True))
    try:
        assert transport.read_current() == old
        transport.stage(new)
        transport.swap()
        assert live.read_bytes() == new
        transport.revert()
        assert live.read_bytes() == old and meta(live) == (0, ADM, 0o600)
    finally:
        transport.close()


@pytest.mark.parametrize(("mode", "step"), [pytest.param(0o640, "read", id="unreadable-file"),
                                            pytest.param(0o644, "stage", id="root-owned-directory")])
def test_without_become_a_permission_error_names_the_file_and_suggests_become(
        host: BecomeHost, etc: Path, mode: int, step: str) -> None:
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=mode)
    before = snapshot(etc)
    with pytest.raises(TransportError) as exc:
        push(host.target("a", "hsdeploy", live), NEW)
    error = exc.value
    assert error.instance == "a"
    assert step in error.reason  # an unreadable file fails at read; a root-owned directory at stage
    assert str(live) in error.reason if step == "read" else str(etc) in error.reason
    assert error.hint is not None and "become" in error.hint
    assert snapshot(etc) == before


def test_become_user_writes_as_that_user(host: BecomeHost) -> None:
    home = host.directory("hsapp", 0o700)  # hsdeploy cannot even enter it
    live, fresh = home / "app.conf", home / "extra.conf"
    write_owned(live, OLD, owner="hsapp", group="hsapp", mode=0o600)
    app = pwd.getpwnam("hsapp")
    check = 'test "$(id -un)" = hsapp && test -s {path}'
    for path in (live, fresh):
        push(host.target("a", "hsdeploy", path, become=True, become_user="hsapp", check=check), NEW)
        assert path.read_bytes() == NEW
    assert meta(live) == (app.pw_uid, app.pw_gid, 0o600)
    assert meta(fresh) == (app.pw_uid, app.pw_gid, 0o644)  # a new file belongs to become_user
    assert Path(f"{live}.hotswap-prev").read_bytes() == OLD
    assert leftovers(home) == []


def test_become_with_a_password_from_an_allowed_variable(
        host: BecomeHost, etc: Path, private: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PW_ENV, PASSWORD)
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    target = host.target("a", "hspass", live, become=True, become_password_env=PW_ENV,
                         check='test "$(id -u)" = 0 && test -s {path}', reload=f"id -u > {private}/reloaded")
    check_env([target], {PW_ENV})
    transport = open_transport(target, allowed_env={PW_ENV})
    try:
        assert transport.read_current() == OLD
        transport.stage(NEW)
        transport.check()
        transport.swap()
        transport.reload()
        assert live.read_bytes() == NEW and meta(live) == (0, ADM, 0o640)
        assert (private / "reloaded").read_text() == "0\n"
        transport.revert()
        assert live.read_bytes() == OLD and meta(live) == (0, ADM, 0o640)
    finally:
        transport.close()


def test_a_password_is_sent_only_when_sudo_asks_for_one(
        host: BecomeHost, etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hsdeploy has NOPASSWD: a configured password must not end up in front of the file's bytes."""
    monkeypatch.setenv(PW_ENV, PASSWORD)
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    push_with_env(host.target("a", "hsdeploy", live, become=True, become_password_env=PW_ENV), NEW)
    assert live.read_bytes() == NEW and meta(live) == (0, ADM, 0o640)


def test_the_password_never_reaches_a_command_or_its_output(
        host: BecomeHost, etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing check's output is shown; a command reading its stdin must not find the password there."""
    monkeypatch.setenv(PW_ENV, PASSWORD)
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    check = 'timeout 2 cat; echo "check ran as $(id -u)"; exit 1'
    target = host.target("a", "hspass", live, become=True, become_password_env=PW_ENV, check=check)
    before = snapshot(etc)
    with pytest.raises(TransportError, match=r"check: failed \(exit 1\)") as exc:
        push_with_env(target, NEW)
    message = f"{exc.value} {exc.value.hint}"
    assert "check ran as 0" in message
    assert PASSWORD not in message and "Hs pw" not in message
    assert snapshot(etc) == before


def test_a_wrong_password_is_refused_without_showing_it(
        host: BecomeHost, etc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PW_ENV, WRONG_PASSWORD)
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    before = snapshot(etc)
    with pytest.raises(TransportError) as exc:
        push_with_env(host.target("a", "hspass", live, become=True, become_password_env=PW_ENV), NEW)
    message = f"{exc.value} {exc.value.hint}"
    assert "password" in message.lower()
    assert any(word in message.lower() for word in ("refused", "incorrect", "wrong", "rejected"))
    assert WRONG_PASSWORD not in message and PASSWORD not in message
    assert snapshot(etc) == before


def test_a_password_variable_that_is_not_allowed_or_not_set_is_refused_before_connecting(
        host: BecomeHost, monkeypatch: pytest.MonkeyPatch) -> None:
    target = host.target("a", "hspass", "/etc/hotswap-test-never.conf", become=True, become_password_env=PW_ENV,
                         port=free_port(), retries=0)  # nobody listens: an attempt would say "connection refused"
    monkeypatch.setenv(PW_ENV, PASSWORD)
    with pytest.raises(ConfigError, match=PW_ENV) as refused:  # the deploy's pre-flight
        check_env([target], set())
    assert f"HOTSWAP_ALLOW_ENV={PW_ENV}" in str(refused.value)
    with pytest.raises((ConfigError, TransportError), match=f"{PW_ENV}.*not an allowed") as not_allowed:
        push(target, NEW)
    monkeypatch.delenv(PW_ENV)
    with pytest.raises((ConfigError, TransportError), match=f"{PW_ENV}.*not set") as unset:
        push_with_env(target, NEW)
    for exc in (refused, not_allowed, unset):
        assert PASSWORD not in f"{exc.value} {exc.value.hint}"
    with pytest.raises(ConfigError, match=f"{PW_ENV}.*not set"):  # allowed but unset: found before any instance
        check_env([target], {PW_ENV})


def test_a_symlinked_live_file_is_replaced_with_its_target_mode_never_the_link_s(
        host: BecomeHost, etc: Path) -> None:
    """As over SFTP (which reads the file through the link): the new file gets the mode and owner of the
    file the link points to; a symbolic link's own lstat mode is 0777."""
    real = etc / "app.conf.real"
    write_owned(real, OLD, owner="root", group=ADM, mode=0o640)
    live = etc / "app.conf"
    live.symlink_to(real.name)
    push(host.target("a", "hsdeploy", live, become=True), NEW)
    assert live.read_bytes() == NEW
    assert meta(live) == (0, ADM, 0o640)
    assert real.read_bytes() == OLD

@pytest.mark.parametrize(("user", "says"), [
    # sudo -n cannot tell "no rights" from "needs a password" before authenticating: either is fine
    ("hsnosudo", ("not allowed", "may not", "not in the sudoers", "password is required", "wants a password")),
    ("hspass", ("password is required", "wants a password", "become_password_env")),
])
def test_a_user_sudo_refuses_gets_one_clear_error_and_nothing_changes(
        host: BecomeHost, etc: Path, user: str, says: tuple[str, ...]) -> None:
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    before = snapshot(etc)
    with pytest.raises(TransportError) as exc:
        push(host.target("a", user, live, become=True), NEW)
    message = f"{exc.value} {exc.value.hint}"
    assert "sudo" in message
    assert any(phrase in message for phrase in says), message
    assert PASSWORD not in message
    assert snapshot(etc) == before


def test_a_failing_check_under_become_removes_the_staged_file(host: BecomeHost, etc: Path) -> None:
    live = etc / "app.conf"
    write_owned(live, OLD, owner="root", group=ADM, mode=0o640)
    before = snapshot(etc)
    check = 'echo "checked as $(id -u)"; test "$(id -u)" != 0'
    transport = open_transport(host.target("a", "hsdeploy", live, become=True, check=check))
    try:
        transport.read_current()
        transport.stage(NEW)
        assert leftovers(etc) != []  # staged beside the live file
        with pytest.raises(TransportError, match=r"check: failed \(exit 1\).*checked as 0"):
            transport.check()
        assert snapshot(etc) == before  # staged file gone, no kept copy, live file untouched
        transport.stage(NEW)  # a blue-green abort discards under sudo too
        transport.discard()
        assert snapshot(etc) == before
    finally:
        transport.close()

