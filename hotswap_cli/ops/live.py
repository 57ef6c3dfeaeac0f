"""What instances run now: read each target's current config and recognise it by hash."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.payload import payload_sha256, structured
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.core.versions.history import ConfigAt
from hotswap_cli.errors import RepoError, TransportError, UsageError
from hotswap_cli.formats import parse_config_bytes
from hotswap_cli.model import config_hash
from hotswap_cli.runner.parallel import run_all
from hotswap_cli.runner.slot import PriorRead
from hotswap_cli.specs import Target, check_env
from hotswap_cli.transports.base import Transport

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo


@dataclass(frozen=True)
class LiveConfig:
    """One instance's current config: absent (no file yet), parsed, or unreadable (error)."""

    instance: str
    present: bool = False
    data: Any = None
    sha256: str | None = None  # config_hash of the parsed config, or sha256 of the bytes of a text payload
    error: str | None = None
    raw: bytes | None = field(default=None, repr=False)  # a text payload's bytes (None for json and yaml)
    kept: PriorRead | None = field(default=None, repr=False, compare=False)  # read_live(keep=True)


def read_one(target: Target, open_transport: Callable[[Target], Transport], *, keep: bool = False) -> LiveConfig:
    """What the target holds: json and yaml are read back as data (known by config hash); any
    other payload (a template's text, toml, ini, ...) is known by the sha256 of its bytes. With
    `keep`, a transport that read successfully is left open, with what it read (`kept`), for the
    deploy to go on with (see PriorRead)."""
    transport = None
    try:
        transport = open_transport(target)
        raw = transport.read_current()
        kept = PriorRead(transport, raw, time.monotonic()) if keep else None
        if raw is None:
            live = LiveConfig(target.name, kept=kept)
        elif not structured(target):
            live = LiveConfig(target.name, True, None, payload_sha256(raw), raw=raw, kept=kept)
        else:
            data = parse_config_bytes(raw)
            live = LiveConfig(target.name, True, data, config_hash(data), kept=kept)
        if keep:
            transport = None  # handed over
        return live
    except Exception as exc:  # noqa: BLE001 - an unreadable instance is reported, not fatal
        return LiveConfig(target.name, error=unreadable(exc))
    finally:
        if transport is not None:
            close_quietly(transport)


def close_quietly(transport: Transport) -> None:
    try:
        transport.close()
    except Exception:  # noqa: BLE001,S110 - closing a broken connection may fail too
        pass


def unreadable(exc: Exception) -> str:
    """Why an instance could not be read, on one line and without its name: whoever shows it
    names the instance once (a TransportError's message starts with it)."""
    if isinstance(exc, TransportError):
        text = f"{exc.reason} ({exc.hint})" if exc.hint else exc.reason
    else:
        text = str(exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def read_live(targets: Sequence[Target], open_transport: Callable[[Target], Transport],
              concurrency: int = 50, *, keep: bool = False) -> list[LiveConfig]:
    """Every target's current config, read in parallel, in target order (`keep`: see read_one)."""
    found: dict[int, LiveConfig] = {}

    def read(i: int) -> None:
        found[i] = read_one(targets[i], open_transport, keep=keep)

    run_all(read, range(len(targets)), concurrency)  # the threads go on to serve the deploy's steps
    return [found[i] for i in range(len(targets))]


@contextmanager
def kept_reads(live: Sequence[LiveConfig]) -> Iterator[dict[str, PriorRead]]:
    """The transports `read_live(keep=True)` left open, by instance, for a deploy to take over
    (the engine pops what it adopts); whatever is left when the block ends is closed."""
    reads = {item.instance: item.kept for item in live if item.kept is not None}
    try:
        yield reads
    finally:
        for prior in list(reads.values()):
            close_quietly(prior.transport)
        reads.clear()


def config_at(git_repo: GitRepo, profile: str, ref: str) -> ConfigAt:
    """`ref` as `hotswap diff` takes it: `live:INSTANCE` (read through its transport now), else a
    version, revision or the working tree (core.versions.history.config_at)."""
    from hotswap_cli.core.versions.history import config_at as stored_config

    if ref.startswith("live:"):
        return live_config(git_repo, profile, ref.removeprefix("live:"))
    return stored_config(git_repo, profile, ref)


def live_config(git_repo: GitRepo, profile: str, instance: str) -> ConfigAt:
    """What `instance` (a target of the working tree's profile) runs now, read through its transport."""
    from hotswap_cli.core.approvals.trust import load_trust_root
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.ops.backends import open_transport

    repo = ConfigRepo.open(git_repo.config_root)
    loaded = load_profile(repo, profile, registry=True)
    target = next((t for t in loaded.targets if t.name == instance), None)
    if target is None:
        names = ", ".join(t.name for t in loaded.targets) or "none"
        raise UsageError(f"{profile} has no target {instance!r} (targets: {names})")
    allowed = load_trust_root(git_repo).allowed_env()
    check_env([target], allowed)  # before anything connects
    live = read_one(target, partial(open_transport, allowed_env=allowed, profile=profile))
    if live.error:
        raise RepoError(f"cannot read what {instance} runs: {live.error}")
    schema, _ = repo.load_schema(loaded.schema)
    if not target.structured:
        return ConfigAt(profile, f"live:{instance}", None, None, schema, str(loaded.schema), live=True,
                        raw=live.raw or b"", instance=instance)
    return ConfigAt(profile, f"live:{instance}", None, live.data if live.present else {}, schema,
                    str(loaded.schema), live=True, instance=instance)


def payload_at(git_repo: GitRepo, snap: ConfigAt, instance: str, key: bytes | None) -> bytes:
    """The bytes `instance` receives from the config `snap` holds (a version, a revision or the
    working tree; its raw bytes when it is live). Secrets are decrypted with the key (so they
    compare with what runs; output scrubs them), else shown masked."""
    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.payload import render_payloads
    from hotswap_cli.core.secrets.crypto import decrypt_config, mask_config

    if snap.live:
        return snap.raw or b""
    repo = ConfigRepo(git_repo.source_at(snap.commit), root=git_repo.config_root) if snap.commit else \
        ConfigRepo.open(git_repo.config_root)
    loaded = load_profile(repo, snap.profile, registry=True)
    target = next((t for t in loaded.targets if t.name == instance), None)
    if target is None:
        raise UsageError(f"{snap.describe()} has no target {instance!r}")
    data = decrypt_config(snap.data, snap.schema, snap.origin, key) if key is not None else \
        mask_config(snap.data, snap.schema)
    return render_payloads(repo, loaded, data, [target])[instance]
