"""The `ssh` transport (paramiko): SFTP stage next to the file, remote check, atomic rename, reload."""

from __future__ import annotations

import errno
import os
import posixpath
import shlex
import stat
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import paramiko
from paramiko.message import Message
from paramiko.sftp import (
    CMD_CLOSE,
    CMD_EXTENDED,
    CMD_EXTENDED_REPLY,
    CMD_FSETSTAT,
    CMD_HANDLE,
    CMD_OPEN,
    CMD_WRITE,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_WRITE,
    int64,
)
from paramiko.sftp_attr import SFTPAttributes

from hotswap_cli.errors import TransportError
from hotswap_cli.io.ssh import Sftp, SshConnection
from hotswap_cli.io.steps import command_failed, step_error
from hotswap_cli.specs import SshSpec
from hotswap_cli.transports.fileswap import FileMeta, FileSwap
from hotswap_cli.transports.ssh_sudo import SudoFS

FSYNC = "fsync@openssh.com"
STATVFS = "statvfs@openssh.com"
_CHUNK = 32768  # paramiko's and OpenSSH's largest write request
_IN_FLIGHT = 64  # pipelined write requests awaiting their status (2 MiB: one default SSH window)


class _Replies:
    """The status replies to pipelined write requests (paramiko hands each to `_async_response`):
    every one is read, the first error kept, none lost."""

    def __init__(self, sftp: Sftp) -> None:
        self.sftp = sftp
        self.pending: set[int] = set()
        self.error: Exception | None = None

    def _async_response(self, kind: int, msg: Message, num: int) -> None:
        self.pending.discard(num)
        try:
            self.sftp.check_status(kind, msg)
        except (OSError, EOFError) as exc:
            self.error = self.error or exc


class SftpFS:
    """The swap's file operations on a host over SFTP (paramiko), each step's failure one line, each
    step bounded by the spec's timeout (SshConnection.bounded)."""

    def __init__(self, instance: str, conn: SshConnection, path: str) -> None:
        self.instance = instance
        self.conn = conn
        self.path = path
        self.directory = posixpath.dirname(path) or "."

    @contextmanager
    def guard(self, step: str) -> Iterator[None]:
        """Translate paramiko and socket failures into one TransportError line for `step`."""
        try:
            with self.conn.bounded(step):
                yield
        except TransportError:
            raise
        except PermissionError:
            what = f"read {self.path}" if step.startswith("read") else f"write in {self.directory}"
            raise step_error(self.instance, step, f"permission denied: {self.conn.user} may not {what} on "
                             f"{self.conn.host}",
                             hint="set `become: true` on the target to use sudo there (as Ansible's become), "
                                  f"or give {self.conn.user} access") from None
        except OSError as exc:
            if exc.errno is None and str(exc) == "Failure":  # SFTP's catch-all status (EROFS, ENOSPC, ...)
                reason = f"the server refused to write in {self.directory} (read-only file system or disk full?)"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            if not self.conn.client_alive():
                reason = f"connection to {self.conn.where} dropped ({reason})"
            raise step_error(self.instance, step, reason) from None
        except (paramiko.SSHException, EOFError) as exc:
            raise step_error(self.instance, step, f"connection to {self.conn.where} dropped "
                             f"({exc or type(exc).__name__})") from None

    def read(self, path: str) -> tuple[bytes, FileMeta] | None:
        try:
            with self.conn.sftp.open(path, "rb") as fh:
                attrs = fh.stat()
                data = fh.read()
        except FileNotFoundError:
            return None
        mode = stat.S_IMODE(attrs.st_mode) if attrs.st_mode else None
        return data, FileMeta(mode, attrs.st_uid, attrs.st_gid)

    def is_directory(self, path: str) -> bool:
        try:
            return stat.S_ISDIR(self.conn.sftp.stat(path).st_mode or 0)
        except FileNotFoundError:
            return False

    def list_names(self, directory: str) -> list[str]:
        return self.conn.sftp.listdir(directory)

    def write_new(self, path: str, data: bytes) -> None:
        """Open with O_EXCL and mode 0600 (set again on the handle before any byte: a server may
        apply its own mode at open), pipelined writes whose every status is read, fsync where the
        server offers it, and a close whose error counts (some file systems report late)."""
        sftp = self.conn.sftp  # one session for the whole write: a dropped one is not reopened midway
        private = SFTPAttributes()
        private.st_mode = 0o600
        kind, msg = sftp.request(CMD_OPEN, path, SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL, private)
        if kind != CMD_HANDLE:
            raise OSError(errno.EPROTO, "the server answered an open without a file handle")
        handle = msg.get_binary()
        try:
            sftp.request(CMD_FSETSTAT, handle, private)
            error = self._send(sftp, handle, data)
            if error is None and FSYNC in sftp.extensions:
                sftp.request(CMD_EXTENDED, FSYNC, handle)
        except BaseException:
            self._close_quietly(sftp, handle)
            raise
        if error is not None:
            self._close_quietly(sftp, handle)
            raise self._explain(sftp, path, len(data), error)
        sftp.request(CMD_CLOSE, handle)

    def chown(self, path: str, uid: int, gid: int) -> None:
        try:
            self.conn.sftp.chown(path, uid, gid)
        except PermissionError:  # only root may give a file away; keep the login user's
            pass

    def chmod(self, path: str, mode: int) -> None:
        self.conn.sftp.chmod(path, mode)

    def link(self, src: str, dst: str) -> None:
        """OpenSSH's hardlink extension."""
        self.conn.sftp.request(CMD_EXTENDED, "hardlink@openssh.com", src, dst)

    def rename(self, src: str, dst: str) -> None:
        self.conn.sftp.posix_rename(src, dst)

    def remove(self, path: str) -> None:
        try:
            self.conn.sftp.remove(path)
        except FileNotFoundError:
            pass

    def abandon(self, path: str) -> None:
        sftp = self.conn.live_sftp()
        if sftp is None:  # the connection is gone; the next stage removes the file (FileSwap._remove_stale)
            return
        try:
            sftp.remove(path)
        except Exception:  # noqa: BLE001 - best effort: the step's own error is the one to report
            pass

    def sync_directory(self, path: str) -> None:
        pass  # SFTP has no directory fsync; the server's rename is atomic

    def _send(self, sftp: Sftp, handle: bytes, data: bytes) -> Exception | None:
        """Pipelined writes; every status read before returning. The first error, or None."""
        replies = _Replies(sftp)
        for offset in range(0, len(data), _CHUNK):
            if replies.error is not None:
                break
            replies.pending.add(sftp.request_async(replies, CMD_WRITE, handle, int64(offset),
                                                    data[offset:offset + _CHUNK]))
            while len(replies.pending) >= _IN_FLIGHT:
                sftp.read_reply()
        while replies.pending:
            sftp.read_reply()
        return replies.error

    def _explain(self, sftp: Sftp, path: str, expected: int, error: Exception) -> Exception:
        """Why a write stopped: SFTP v3 reports a full disk as a bare "Failure", so ask the file's size
        and the file system's free space (statvfs@openssh.com) to say so."""
        try:
            written = sftp.stat(path).st_size or 0
            free = self._free_bytes(sftp)
        except Exception:  # noqa: BLE001 - the write's own error is the one to report
            return error
        if free is not None and free < expected - written:
            return OSError(errno.ENOSPC, f"disk full on {self.conn.host}: wrote {written} of {expected} bytes")
        if isinstance(error, OSError) and error.errno is None and str(error) == "Failure":
            return OSError(errno.EIO, f"the server refused to write in {self.directory} after {written} of "
                                      f"{expected} bytes (disk full or quota?)")
        return error

    def _free_bytes(self, sftp: Sftp) -> int | None:
        if STATVFS not in sftp.extensions:
            return None
        kind, msg = sftp.request(CMD_EXTENDED, STATVFS, self.directory)
        if kind != CMD_EXTENDED_REPLY:
            return None
        _bsize, frsize, _blocks, _bfree, bavail = (msg.get_int64() for _ in range(5))
        return int(frsize * bavail)

    @staticmethod
    def _close_quietly(sftp: Sftp, handle: bytes) -> None:
        try:
            sftp.request(CMD_CLOSE, handle)
        except Exception:  # noqa: BLE001 - closing after a failure; that failure is what gets reported
            pass


class SshTransport:
    """Swaps a remote file; the previous one stays as `<path>.hotswap-prev` (a hard link) for revert."""

    def __init__(self, name: str, spec: SshSpec, *, traceparent: str | None = None,
                 allowed_env: Collection[str] = frozenset()) -> None:
        self.name = name
        self.spec = spec
        self.allowed_env = allowed_env
        self.conn = SshConnection(name, spec)
        self.traceparent = traceparent
        fs: SftpFS | SudoFS
        if spec.become:
            fs = SudoFS(name, self.conn, posixpath.dirname(spec.path) or ".", user=spec.become_user,
                        password=self._become_password)
        else:
            fs = SftpFS(name, self.conn, spec.path)
        self.commands: SshConnection | SudoFS = fs if isinstance(fs, SudoFS) else self.conn
        self.file = FileSwap(name, fs, spec.path, mode=spec.mode, where=f" on {spec.host}")

    def read_current(self) -> bytes | None:
        return self.file.read_current()

    def stage(self, data: bytes) -> None:
        self.file.stage(data)

    def check(self) -> None:
        if not self.spec.check:
            return
        staged = self.file.require_staged("check")
        code, output = self.commands.run(self.spec.check.replace("{path}", shlex.quote(staged)),
                                         env=self._env(), step="check")
        if code != 0:
            self.file.discard()
            raise command_failed(self.name, "check", code, output)

    def swap(self) -> None:
        self.file.swap()

    def reload(self) -> None:
        if self.spec.reload:
            code, output = self.commands.run(self.spec.reload, env=self._env(), step="reload")
            if code != 0:
                raise command_failed(self.name, "reload", code, output)
        if self.spec.reload_url:
            from hotswap_cli.io.http import expand_headers, post_reload

            post_reload(self.name, self.spec.reload_url, headers=expand_headers(self.name, self.spec.reload_headers,
                                                                        self.allowed_env),
                        tls=self.spec.tls, timeout=self.conn.timeout, traceparent=self.traceparent)

    def confirm(self, expected_sha256: str) -> bool | None:
        if not self.spec.confirm_url:
            return None
        from hotswap_cli.io.http import confirm_running

        return confirm_running(self.name, self.spec.confirm_url, expected_sha256, timeout=self.spec.confirm_timeout,
                               tls=self.spec.tls, traceparent=self.traceparent)

    def discard(self) -> None:
        self.file.discard()

    def revert(self) -> None:
        if self.file.revert():
            self.reload()

    def close(self) -> None:
        self.conn.close()

    def _become_password(self) -> str | None:
        """The sudo password from the allowed environment variable `become_password_env` names."""
        name = self.spec.become_password_env
        if not name:
            return None
        if name.startswith("HOTSWAP_") or name not in self.allowed_env:
            raise TransportError(self.name, f"become_password_env names ${{{name}}}, which is not an allowed "
                                 "environment variable", hint=f"allow it with HOTSWAP_ALLOW_ENV={name}")
        value = os.environ.get(name)
        if not value:
            raise TransportError(self.name, f"become_password_env names ${{{name}}}, which is not set",
                                 hint=f"export {name} with the sudo password of the login user")
        return value

    def _env(self) -> dict[str, str]:
        return {"TRACEPARENT": self.traceparent} if self.traceparent else {}
