"""`become: true`: the swap's file operations, the check and the reload run with sudo on the host, as
Ansible's `become` does. Most fleets log in as an unprivileged deploy user and write root-owned files.

Every operation is one small POSIX shell script run by `sudo -u <become_user> sh -c SCRIPT sh ARGS`:
paths travel as arguments (never spliced into the script), file bytes on stdin and stdout. The file
steps keep FileSwap's guarantees: new files are created 0600 and exclusively (`set -C`), flushed, read
back and compared before they count; the swap is `mv -T` (one rename(2)); owner, group and mode are the
live file's. Needs a GNU userland on the host (`stat -c`, `mv -T`), as any Linux distribution has.

Passwords: with `become_password_env`, `sudo -n true` is tried first; only when sudo wants a
password is it sent, as the first line of stdin to `sudo -k -S -p ''` (sudo reads it byte by byte, so
the rest of stdin stays the script's). It never appears in a command line, an environment, or a
message, and it is registered with hotswap_cli.redact."""

from __future__ import annotations

import errno
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hotswap_cli import redact
from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh import SshConnection
from hotswap_cli.io.steps import step_error
from hotswap_cli.transports.fileswap import FileMeta

_MISSING = 44  # the scripts' "no such file"


class SudoFS:
    """FileSwap's FileSystem on a host, through sudo (also runs `check` and `reload` through sudo)."""

    def __init__(self, instance: str, conn: SshConnection, directory: str, *, user: str = "root",
                 password: Callable[[], str | None] = lambda: None) -> None:
        self.instance = instance
        self.conn = conn
        self.directory = directory
        self.user = user
        self._password_source = password  # read on first use: a missing variable fails that step
        self._password: str | None = None
        self._asks_password: bool | None = None  # learned on first use, when a password is configured

    # -- running things through sudo ---------------------------------------------------------

    def sudo(self, script: str, *args: str, stdin: bytes = b"", step: str) -> tuple[int, bytes, str]:
        """Run `script` under sudo with positional arguments `args`; sudo's own refusals raise."""
        password = self._password_line(step)
        flags = "-k -S -p ''" if password else "-n"
        command = (f"sudo {flags} -u {shlex.quote(self.user)} -- sh -c {shlex.quote(script)} sh "
                   + " ".join(shlex.quote(a) for a in args))
        code, out, err = self.conn.exec(command, stdin=password + stdin, step=step)
        self._refused(code, err, step)
        return code, out, err

    def run(self, command: str, *, env: dict[str, str] | None = None, step: str = "command") -> tuple[int, str]:
        """A `check` or `reload` command under sudo: exit status and its output (stdout and stderr as
        one stream, in order)."""
        exports = "".join(f"{k}={shlex.quote(v)}; export {k}; " for k, v in (env or {}).items())
        code, out, err = self.sudo(f"exec 2>&1; {exports}{command}", step=step)
        return code, out.decode("utf-8", "replace") + err

    def _password_line(self, step: str) -> bytes:
        if self._asks_password is None:
            self._password = self._password_source()
            if self._password:
                redact.register(self._password)
        if not self._password:
            return b""
        if self._asks_password is None:
            code, _out, err = self.conn.exec(f"sudo -n -u {shlex.quote(self.user)} -- true", step=step)
            self._asks_password = code != 0 and "password is required" in err
            if code != 0 and not self._asks_password:
                self._refused(code, err, step)
        return (self._password + "\n").encode() if self._asks_password else b""

    def _refused(self, code: int, err: str, step: str) -> None:
        """Raise for sudo's own refusals (not the script's failures), in one line, without the password."""
        if code == 0:
            return
        text = err.lower()
        who, host = self.conn.user, self.conn.host
        if code == 127 and "sudo" in text and "not found" in text:
            raise step_error(self.instance, step, f"sudo is not installed on {host}",
                             hint="install sudo there, or deploy as a user that may write the file")
        if "password is required" in text:
            raise step_error(self.instance, step, f"sudo on {host} wants a password for {who}",
                             hint="set become_password_env to an allowed environment variable holding it, or "
                                  f"give {who} NOPASSWD in sudoers")
        if "incorrect password" in text or "sorry, try again" in text:
            raise step_error(self.instance, step, f"sudo on {host} refused the password for {who} "
                             "(from become_password_env)", hint="check the variable's value")
        if "not in the sudoers" in text or "may not run sudo" in text or "is not allowed to" in text:
            raise step_error(self.instance, step, f"{who} may not use sudo (as {self.user}) on {host}",
                             hint=f"allow it in sudoers on {host}, or drop `become`")

    # -- FileSystem ----------------------------------------------------------------------------

    @contextmanager
    def guard(self, step: str) -> Iterator[None]:
        try:
            yield
        except TransportError:
            raise
        except OSError as exc:
            raise step_error(self.instance, step, f"{exc.strerror or exc}") from None

    def _check(self, code: int, err: str, what: str) -> None:
        if code != 0:
            reason = err.strip().splitlines()[-1] if err.strip() else f"exit {code}"
            number = errno.ENOSPC if "no space left" in reason.lower() else errno.EIO
            raise OSError(number, f"{what} on {self.conn.host} (as {self.user} through sudo): {reason}")

    def read(self, path: str) -> tuple[bytes, FileMeta] | None:
        code, out, err = self.sudo(f'[ -e "$1" ] || exit {_MISSING}; stat -L -c "%a %u %g" -- "$1" && exec cat -- "$1"',
                                   path, step="read")
        if code == _MISSING:
            return None
        self._check(code, err, f"cannot read {path}")
        head, _, data = out.partition(b"\n")
        mode, uid, gid = head.split()
        return data, FileMeta(int(mode, 8), int(uid), int(gid))

    def is_directory(self, path: str) -> bool:
        code, _out, _err = self.sudo('[ -d "$1" ]', path, step="look for the directory")
        return code == 0

    def list_names(self, directory: str) -> list[str]:
        code, out, err = self.sudo('exec ls -A -- "$1"', directory, step="list the directory")
        self._check(code, err, f"cannot list {directory}")
        return out.decode("utf-8", "replace").splitlines()

    def write_new(self, path: str, data: bytes) -> None:
        code, _out, err = self.sudo('umask 077; set -C; cat > "$1" || exit 1; sync -- "$1" 2>/dev/null; exit 0',
                                    path, stdin=data, step="write")
        self._check(code, err, f"cannot write {path}")

    def chown(self, path: str, uid: int, gid: int) -> None:
        self.sudo('chown -- "$2" "$1" 2>/dev/null; exit 0', path, f"{uid}:{gid}", step="chown")  # as SFTP: root only

    def chmod(self, path: str, mode: int) -> None:
        code, _out, err = self.sudo('exec chmod -- "$2" "$1"', path, f"{mode:o}", step="chmod")
        self._check(code, err, f"cannot chmod {path}")

    def link(self, src: str, dst: str) -> None:
        code, _out, err = self.sudo('exec ln -- "$1" "$2"', src, dst, step="link")
        self._check(code, err, f"cannot link {src}")

    def rename(self, src: str, dst: str) -> None:
        # two links to one file: rename(2) succeeds and does nothing, where mv refuses ("are the same file")
        code, _out, err = self.sudo('if [ "$1" -ef "$2" ]; then exec true; fi; exec mv -fT -- "$1" "$2"',
                                    src, dst, step="rename")
        self._check(code, err, f"cannot rename {src} to {dst}")

    def remove(self, path: str) -> None:
        code, _out, err = self.sudo('exec rm -f -- "$1"', path, step="remove")
        self._check(code, err, f"cannot remove {path}")

    def abandon(self, path: str) -> None:
        if not self.conn.client_alive():
            return  # the connection is gone; the next stage removes it (FileSwap._remove_stale)
        try:
            self.remove(path)
        except Exception:  # noqa: BLE001 - best effort: the step's own error is the one to report
            pass

    def sync_directory(self, path: str) -> None:
        self.sudo('sync -- "$1" 2>/dev/null; exit 0', path, step="sync")
