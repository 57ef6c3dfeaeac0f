"""The `local` transport: a config file on this machine, staged, checked and swapped by rename."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from hotswap_cli.errors import TransportError
from hotswap_cli.io import files
from hotswap_cli.io.process import argv_of, run_command
from hotswap_cli.io.steps import command_failed, step_error
from hotswap_cli.specs import LocalSpec, Tls
from hotswap_cli.transports.fileswap import FileMeta, FileSwap


class LocalFS:
    """The swap's file operations on this machine (os), each step's failure one TransportError line."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    @contextmanager
    def guard(self, step: str) -> Iterator[None]:
        try:
            yield
        except TransportError:
            raise
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename and exc.errno not in files.FULL else ""
            raise step_error(self.instance, step, f"{exc.strerror or exc}{where}") from None

    def read(self, path: str) -> tuple[bytes, FileMeta] | None:
        try:
            with open(path, "rb") as fh:
                st = os.fstat(fh.fileno())
                return fh.read(), FileMeta(st.st_mode & 0o7777, st.st_uid, st.st_gid)
        except FileNotFoundError:
            return None

    def is_directory(self, path: str) -> bool:
        return os.path.isdir(path)

    def list_names(self, directory: str) -> list[str]:
        return os.listdir(directory)

    def write_new(self, path: str, data: bytes) -> None:
        files.write_new(path, data)

    def chown(self, path: str, uid: int, gid: int) -> None:
        if (uid, gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(path, uid, gid)
            except PermissionError:  # only root may give a file away; keep ours
                pass

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def link(self, src: str, dst: str) -> None:
        os.link(src, dst)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def abandon(self, path: str) -> None:
        try:
            os.unlink(path)
        except OSError:
            pass

    def sync_directory(self, path: str) -> None:
        files.sync_directory(path)


class LocalTransport:
    """Swaps `path` on this machine; the previous file is kept as `<path>.hotswap-prev` (a hard link)."""

    def __init__(self, name: str, spec: LocalSpec, *, traceparent: str | None = None) -> None:
        self.name = name
        self.spec = spec
        self.traceparent = traceparent
        self.file = FileSwap(name, LocalFS(name), spec.path, mode=spec.mode)

    def read_current(self) -> bytes | None:
        return self.file.read_current()

    def stage(self, data: bytes) -> None:
        self.file.stage(data)

    def check(self) -> None:
        if not self.spec.check:
            return
        staged = self.file.require_staged("check")
        try:
            self._run("check", argv_of(self.spec.check, staged))
        except TransportError:
            self.file.discard()
            raise

    def swap(self) -> None:
        self.file.swap()

    def reload(self) -> None:
        if self.spec.reload:
            self._run("reload", argv_of(self.spec.reload))

    def confirm(self, expected_sha256: str) -> bool | None:
        if not self.spec.confirm_url:
            return None
        from hotswap_cli.io.http import confirm_running

        return confirm_running(self.name, self.spec.confirm_url, expected_sha256, timeout=self.spec.confirm_timeout,
                               tls=Tls(), traceparent=self.traceparent)

    def discard(self) -> None:
        self.file.discard()

    def revert(self) -> None:
        if self.file.revert():
            self.reload()

    def close(self) -> None:
        self.file.staged = None

    def _run(self, step: str, argv: list[str]) -> None:
        env = {"TRACEPARENT": self.traceparent} if self.traceparent else None
        code, output = run_command(self.name, step, argv, timeout=self.spec.timeout, env=env)
        if code != 0:
            raise command_failed(self.name, step, code, output)
