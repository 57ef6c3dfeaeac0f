"""The `ssh` transport (paramiko): SFTP stage next to the file, remote check, atomic rename, reload."""

from __future__ import annotations

import posixpath
import secrets
import shlex
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import paramiko
from paramiko.sftp import CMD_EXTENDED

from hotswap_cli.errors import TransportError
from hotswap_cli.io.process import tail
from hotswap_cli.io.ssh import SshConnection
from hotswap_cli.specs import SshSpec
from hotswap_cli.transports.local import PREV_SUFFIX


class SshTransport:
    """Swaps a remote file; the previous one stays as `<path>.hotswap-prev` (a hard link) for revert."""

    def __init__(self, name: str, spec: SshSpec, *, traceparent: str | None = None) -> None:
        self.name = name
        self.conn = SshConnection(name, spec)
        self.path = spec.path
        self.directory = posixpath.dirname(self.path) or "."
        self.prev_path = self.path + PREV_SUFFIX
        self.check_cmd = spec.check
        self.reload_cmd = spec.reload
        self.reload_url = spec.reload_url
        self.reload_headers = spec.reload_headers
        self.confirm_url = spec.confirm_url
        self.mode = spec.mode
        self.confirm_timeout = spec.confirm_timeout
        self.traceparent = traceparent
        self.tls = spec.tls
        self._read = False
        self._previous: bytes | None = None
        self._attrs: paramiko.SFTPAttributes | None = None
        self._staged: str | None = None
        self._swapped = False

    # -- steps ------------------------------------------------------------------------------

    def read_current(self) -> bytes | None:
        sftp = self.conn.sftp
        with self._guard("read current config"):
            try:
                with sftp.open(self.path, "rb") as fh:
                    self._attrs = fh.stat()
                    self._previous = fh.read()
            except FileNotFoundError:
                self._previous, self._attrs = None, None
                self._require_directory(sftp)
        self._read = True
        return self._previous

    def stage(self, data: bytes) -> None:
        if not self._read:
            self.read_current()
        self.discard()
        sftp = self.conn.sftp
        base = posixpath.basename(self.path)
        staged = posixpath.join(self.directory, f".{base}.hotswap-{secrets.token_hex(6)}.tmp")
        with self._guard(f"stage into {self.directory}"):
            try:
                fh = sftp.open(staged, "wbx")
            except FileNotFoundError:
                self._require_directory(sftp)
                raise
            self._staged = staged
            with fh:
                fh.set_pipelined(True)
                fh.write(data)
            attrs = self._attrs
            sftp.chmod(staged, self.mode if self.mode is not None else
                       (stat.S_IMODE(attrs.st_mode) if attrs and attrs.st_mode else 0o644))
            if attrs is not None and attrs.st_uid is not None and attrs.st_gid is not None:
                try:
                    sftp.chown(staged, attrs.st_uid, attrs.st_gid)
                except PermissionError:  # only root may give a file away; keep the login user's
                    pass

    def check(self) -> None:
        if not self.check_cmd:
            return
        staged = self._require_staged("check")
        code, output = self.conn.run(self.check_cmd.replace("{path}", shlex.quote(staged)), env=self._env())
        if code != 0:
            self.discard()
            raise TransportError(self.name, f"check failed (exit {code}): {tail(output)}")

    def swap(self) -> None:
        staged = self._require_staged("swap")
        sftp = self.conn.sftp
        with self._guard("swap"):
            if self._previous is not None:
                self._keep_previous(sftp)
            sftp.posix_rename(staged, self.path)
        self._staged = None
        self._swapped = True

    def reload(self) -> None:
        if self.reload_cmd:
            code, output = self.conn.run(self.reload_cmd, env=self._env())
            if code != 0:
                raise TransportError(self.name, f"reload failed (exit {code}): {tail(output)}")
        if self.reload_url:
            from hotswap_cli.io.http import expand_headers, post_reload

            post_reload(self.name, self.reload_url, headers=expand_headers(self.name, self.reload_headers),
                        tls=self.tls, timeout=self.conn.timeout, traceparent=self.traceparent)

    def confirm(self, expected_sha256: str) -> bool | None:
        if not self.confirm_url:
            return None
        from hotswap_cli.io.http import confirm_running

        return confirm_running(self.name, self.confirm_url, expected_sha256, timeout=self.confirm_timeout,
                               tls=self.tls, traceparent=self.traceparent)

    def discard(self) -> None:
        if self._staged is None:
            return
        with self._guard("discard staged config"):
            try:
                self.conn.sftp.remove(self._staged)
            except FileNotFoundError:
                pass
        self._staged = None

    def revert(self) -> None:
        self.discard()
        if not self._swapped:
            return
        sftp = self.conn.sftp
        with self._guard("revert"):
            if self._previous is None:
                try:
                    sftp.remove(self.path)
                except FileNotFoundError:
                    pass
            else:
                try:
                    sftp.posix_rename(self.prev_path, self.path)
                except FileNotFoundError:  # the kept copy is gone: upload the remembered bytes instead
                    self.stage(self._previous)
                    sftp.posix_rename(self._require_staged("revert"), self.path)
                    self._staged = None
        self._swapped = False
        self.reload()

    def close(self) -> None:
        self.conn.close()

    # -- helpers ----------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        return {"TRACEPARENT": self.traceparent} if self.traceparent else {}

    def _keep_previous(self, sftp: paramiko.SFTPClient) -> None:
        """A hard link to the live file (OpenSSH's hardlink extension); a copy when links fail."""
        try:
            sftp.remove(self.prev_path)
        except FileNotFoundError:
            pass
        try:
            sftp._request(CMD_EXTENDED, "hardlink@openssh.com", self.path, self.prev_path)  # type: ignore[attr-defined]
        except OSError:
            with sftp.open(self.prev_path, "wb") as fh:
                fh.set_pipelined(True)
                fh.write(self._previous or b"")

    def _require_directory(self, sftp: paramiko.SFTPClient) -> None:
        try:
            if stat.S_ISDIR(sftp.stat(self.directory).st_mode or 0):
                return
        except FileNotFoundError:
            pass
        raise TransportError(self.name, f"remote directory {self.directory} does not exist on {self.conn.host}",
                             hint="create it or fix the target's path")

    def _require_staged(self, step: str) -> str:
        if self._staged is None:
            raise TransportError(self.name, f"{step}: nothing staged")
        return self._staged

    @contextmanager
    def _guard(self, step: str) -> Iterator[None]:
        """Translate paramiko and socket failures into one TransportError line for `step`."""
        try:
            yield
        except TransportError:
            raise
        except PermissionError:
            raise TransportError(self.name, f"{step}: permission denied on {self.conn.host}",
                                 hint=f"{self.conn.user} must be able to write {self.directory}") from None
        except OSError as exc:
            if exc.errno is None and str(exc) == "Failure":  # SFTP's catch-all status (EROFS, ENOSPC, ...)
                reason = f"the server refused to write in {self.directory} (read-only file system or disk full?)"
            else:
                reason = exc.strerror or str(exc) or type(exc).__name__
            if not self.conn.client_alive():
                reason = f"connection to {self.conn.where} dropped ({reason})"
            raise TransportError(self.name, f"{step}: {reason}") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise TransportError(self.name, f"{step}: connection to {self.conn.where} dropped "
                                 f"({exc or type(exc).__name__})") from None
