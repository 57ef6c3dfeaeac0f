"""The `local` transport: a config file on this machine, staged, checked and swapped by rename."""

from __future__ import annotations

import os
import tempfile

from hotswap_cli.errors import TransportError
from hotswap_cli.io.process import argv_of, run_command, tail
from hotswap_cli.specs import LocalSpec, Tls

PREV_SUFFIX = ".hotswap-prev"


class LocalTransport:
    """Swaps `path` on this machine; the previous file is kept as `<path>.hotswap-prev` (a hard link)."""

    def __init__(self, name: str, spec: LocalSpec, *, traceparent: str | None = None) -> None:
        self.name = name
        self.path = spec.path
        self.prev_path = self.path + PREV_SUFFIX
        self.check_cmd = spec.check
        self.reload_cmd = spec.reload
        self.confirm_url = spec.confirm_url
        self.mode = spec.mode
        self.timeout = spec.timeout
        self.confirm_timeout = spec.confirm_timeout
        self.traceparent = traceparent
        self._previous: bytes | None = None
        self._read = False
        self._stat: os.stat_result | None = None
        self._staged: str | None = None
        self._swapped = False

    # -- steps ------------------------------------------------------------------------------

    def read_current(self) -> bytes | None:
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise TransportError(self.name, f"directory {directory} does not exist",
                                 hint="create it or fix the target's path")
        try:
            with open(self.path, "rb") as fh:
                self._stat = os.fstat(fh.fileno())
                self._previous = fh.read()
        except FileNotFoundError:
            self._previous, self._stat = None, None
        except OSError as exc:
            raise self._os_error("read current config", exc) from None
        self._read = True
        return self._previous

    def stage(self, data: bytes) -> None:
        if not self._read:
            self.read_current()
        self.discard()
        directory, base = os.path.split(self.path)
        try:
            fd, staged = tempfile.mkstemp(prefix=f".{base}.hotswap-", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise self._os_error(f"stage into {directory}", exc) from None
        self._staged = staged
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            self._copy_metadata(staged)
        except OSError as exc:
            self.discard()
            raise self._os_error("write staged config", exc) from None

    def check(self) -> None:
        if not self.check_cmd:
            return
        staged = self._require_staged("check")
        try:
            self._run("check", argv_of(self.check_cmd, staged))
        except TransportError:
            self.discard()
            raise

    def swap(self) -> None:
        staged = self._require_staged("swap")
        try:
            if self._previous is not None:
                self._keep_previous()
            os.replace(staged, self.path)
            self._sync_dir()
        except OSError as exc:
            raise self._os_error("swap", exc) from None
        self._staged = None
        self._swapped = True

    def reload(self) -> None:
        if self.reload_cmd:
            self._run("reload", argv_of(self.reload_cmd))

    def confirm(self, expected_sha256: str) -> bool | None:
        if not self.confirm_url:
            return None
        from hotswap_cli.io.http import confirm_running

        return confirm_running(self.name, self.confirm_url, expected_sha256, timeout=self.confirm_timeout,
                               tls=Tls(), traceparent=self.traceparent)

    def discard(self) -> None:
        if self._staged is not None:
            try:
                os.unlink(self._staged)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise self._os_error("discard staged config", exc) from None
            self._staged = None

    def revert(self) -> None:
        self.discard()
        if not self._swapped:
            return
        try:
            if self._previous is None:
                if os.path.lexists(self.path):
                    os.unlink(self.path)
            elif _same_bytes(self.prev_path, self._previous):
                os.replace(self.prev_path, self.path)
            else:  # the kept copy is gone or changed: write the remembered bytes atomically
                self.stage(self._previous)
                assert self._staged is not None
                os.replace(self._staged, self.path)
                self._staged = None
            self._sync_dir()
        except OSError as exc:
            raise self._os_error("revert", exc) from None
        self._swapped = False
        self.reload()

    def close(self) -> None:
        self._staged = None

    # -- helpers ----------------------------------------------------------------------------

    def _require_staged(self, step: str) -> str:
        if self._staged is None:
            raise TransportError(self.name, f"{step}: nothing staged")
        return self._staged

    def _copy_metadata(self, staged: str) -> None:
        st = self._stat
        os.chmod(staged, self.mode if self.mode is not None else (st.st_mode & 0o7777 if st else 0o644))
        if st is not None and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(staged, st.st_uid, st.st_gid)
            except PermissionError:  # only root may give a file away; keep ours
                pass

    def _keep_previous(self) -> None:
        try:
            os.unlink(self.prev_path)
        except FileNotFoundError:
            pass
        try:
            os.link(self.path, self.prev_path)
        except OSError:  # no hard links here (or the file moved): keep a copy instead
            with open(self.prev_path, "wb") as fh:
                fh.write(self._previous or b"")

    def _sync_dir(self) -> None:
        try:
            fd = os.open(os.path.dirname(self.path), os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def _run(self, step: str, argv: list[str]) -> None:
        env = {"TRACEPARENT": self.traceparent} if self.traceparent else None
        code, output = run_command(self.name, step, argv, timeout=self.timeout, env=env)
        if code != 0:
            raise TransportError(self.name, f"{step} failed (exit {code}): {tail(output)}")

    def _os_error(self, step: str, exc: OSError) -> TransportError:
        where = exc.filename or self.path
        return TransportError(self.name, f"{step}: {exc.strerror or exc} ({where})")


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read() == data
    except OSError:
        return False
