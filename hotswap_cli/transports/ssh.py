"""The `ssh` transport (paramiko): SFTP stage next to the file, remote check, atomic rename, reload."""

from __future__ import annotations

import posixpath
import shlex
import stat
from collections.abc import Collection, Iterator
from contextlib import contextmanager

import paramiko
from paramiko.sftp import CMD_EXTENDED

from hotswap_cli.errors import TransportError
from hotswap_cli.io.process import tail
from hotswap_cli.io.ssh import SshConnection
from hotswap_cli.specs import SshSpec
from hotswap_cli.transports.fileswap import FileMeta, FileSwap


class SftpFS:
    """The swap's file operations on a host over SFTP (paramiko), each step's failure one line."""

    def __init__(self, instance: str, conn: SshConnection, directory: str) -> None:
        self.instance = instance
        self.conn = conn
        self.directory = directory

    @contextmanager
    def guard(self, step: str) -> Iterator[None]:
        """Translate paramiko and socket failures into one TransportError line for `step`."""
        try:
            yield
        except TransportError:
            raise
        except PermissionError:
            raise TransportError(self.instance, f"{step}: permission denied on {self.conn.host}",
                                 hint=f"{self.conn.user} must be able to write {self.directory}") from None
        except OSError as exc:
            if exc.errno is None and str(exc) == "Failure":  # SFTP's catch-all status (EROFS, ENOSPC, ...)
                reason = f"the server refused to write in {self.directory} (read-only file system or disk full?)"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            if not self.conn.client_alive():
                reason = f"connection to {self.conn.where} dropped ({reason})"
            raise TransportError(self.instance, f"{step}: {reason}") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise TransportError(self.instance, f"{step}: connection to {self.conn.where} dropped "
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

    def write_new(self, path: str, data: bytes) -> None:
        with self.conn.sftp.open(path, "wbx") as fh:
            fh.set_pipelined(True)
            fh.write(data)

    def set_meta(self, path: str, mode: int, uid: int | None, gid: int | None) -> None:
        sftp = self.conn.sftp
        sftp.chmod(path, mode)
        if uid is not None and gid is not None:
            try:
                sftp.chown(path, uid, gid)
            except PermissionError:  # only root may give a file away; keep the login user's
                pass

    def link(self, src: str, dst: str) -> None:
        """OpenSSH's hardlink extension."""
        self.conn.sftp._request(CMD_EXTENDED, "hardlink@openssh.com", src, dst)  # type: ignore[attr-defined]

    def rename(self, src: str, dst: str) -> None:
        self.conn.sftp.posix_rename(src, dst)

    def remove(self, path: str) -> None:
        try:
            self.conn.sftp.remove(path)
        except FileNotFoundError:
            pass

    def sync_directory(self, path: str) -> None:
        pass  # SFTP has no directory fsync; the server's rename is atomic


class SshTransport:
    """Swaps a remote file; the previous one stays as `<path>.hotswap-prev` (a hard link) for revert."""

    def __init__(self, name: str, spec: SshSpec, *, traceparent: str | None = None,
                 allowed_env: Collection[str] = frozenset()) -> None:
        self.name = name
        self.spec = spec
        self.allowed_env = allowed_env
        self.conn = SshConnection(name, spec)
        self.traceparent = traceparent
        directory = posixpath.dirname(spec.path) or "."
        self.file = FileSwap(name, SftpFS(name, self.conn, directory), spec.path, mode=spec.mode,
                             where=f" on {spec.host}")

    def read_current(self) -> bytes | None:
        return self.file.read_current()

    def stage(self, data: bytes) -> None:
        self.file.stage(data)

    def check(self) -> None:
        if not self.spec.check:
            return
        staged = self.file.require_staged("check")
        code, output = self.conn.run(self.spec.check.replace("{path}", shlex.quote(staged)), env=self._env())
        if code != 0:
            self.file.discard()
            raise TransportError(self.name, f"check failed (exit {code}): {tail(output)}")

    def swap(self) -> None:
        self.file.swap()

    def reload(self) -> None:
        if self.spec.reload:
            code, output = self.conn.run(self.spec.reload, env=self._env())
            if code != 0:
                raise TransportError(self.name, f"reload failed (exit {code}): {tail(output)}")
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

    def _env(self) -> dict[str, str]:
        return {"TRACEPARENT": self.traceparent} if self.traceparent else {}
