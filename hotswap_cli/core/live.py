"""What instances run now: read each target's current config and recognise it by hash."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hotswap_cli.model import Target, config_hash
from hotswap_cli.transports.base import Transport


@dataclass(frozen=True)
class LiveConfig:
    """One instance's current config: absent (no file yet), parsed, or unreadable (error)."""

    instance: str
    present: bool = False
    data: Any = None
    sha256: str | None = None  # config_hash of the parsed config: comparable with versions
    error: str | None = None


def parse_config_bytes(raw: bytes) -> Any:
    """JSON or YAML bytes as data (what a transport reads back)."""
    try:
        return json.loads(raw)
    except ValueError:
        import yaml

        return yaml.safe_load(raw)


def read_one(target: Target, open_transport: Callable[[Target], Transport]) -> LiveConfig:
    transport = None
    try:
        transport = open_transport(target)
        raw = transport.read_current()
        if raw is None:
            return LiveConfig(target.name)
        data = parse_config_bytes(raw)
        return LiveConfig(target.name, True, data, config_hash(data))
    except Exception as exc:  # noqa: BLE001 - an unreadable instance is reported, not fatal
        return LiveConfig(target.name, error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    finally:
        if transport is not None:
            try:
                transport.close()
            except Exception:  # noqa: BLE001,S110 - closing a broken connection may fail too
                pass


def read_live(targets: Sequence[Target], open_transport: Callable[[Target], Transport],
              concurrency: int = 50) -> list[LiveConfig]:
    """Every target's current config, read in parallel, in target order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(targets)))) as pool:
        return list(pool.map(lambda t: read_one(t, open_transport), targets))
