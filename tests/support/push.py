"""One push through a transport, as the runner's steps go: read, stage, check, swap, reload."""

from __future__ import annotations

from hotswap_cli.ops.backends import open_transport
from hotswap_cli.specs import Target


def push(target: Target, data: bytes) -> None:
    transport = open_transport(target)
    try:
        transport.read_current()
        transport.stage(data)
        transport.check()
        transport.swap()
        transport.reload()
    finally:
        transport.close()
