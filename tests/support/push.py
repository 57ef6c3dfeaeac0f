"""One push through a transport, as the runner's steps go: read, stage, check, swap, reload."""

from __future__ import annotations

from collections.abc import Collection

from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target


def push(target: Target, data: bytes, *, allowed_env: Collection[str] = frozenset()) -> None:
    transport = open_transport(target, allowed_env=allowed_env)
    try:
        transport.read_current()
        transport.stage(data)
        transport.check()
        transport.swap()
        transport.reload()
    finally:
        transport.close()
