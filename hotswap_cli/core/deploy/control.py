"""The control channel of a running deploy: `hotswap promote|resume|abort PROFILE` from any terminal
or CI job with push access writes one control (`refs/hotswap/control/<profile>` on origin); the run
it names polls that ref every few seconds (HOTSWAP_CONTROL_POLL, 2s) and acts on a control it has
not seen. A control names the run (the journal's id), so one meant for a run that has ended is
never taken by the next."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from hotswap_cli.core.deploy import refdoc
from hotswap_cli.core.deploy.ledger import identity, utc_iso

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

CONTROL_PREFIX = "refs/hotswap/control/"
SEEN_PREFIX = "refs/hotswap/remote/control/"
CONTROL_FILE = "control.json"
ACTIONS = ("promote", "resume", "abort")


@dataclass(frozen=True)
class Control:
    id: str
    run: str  # the journal id (= ledger record id) of the run it is meant for
    action: str  # promote | resume | abort
    by: str
    at: str
    full: bool = False  # promote: every remaining phase now, no more bakes, gates or pauses

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def send(git_repo: GitRepo, profile: str, run: str, action: str, *, full: bool = False) -> Control:
    """Write the control for `run` where the run will read it (origin when there is one)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown control {action!r}")
    who, _ = identity(git_repo)
    control = Control(f"control-{secrets.token_hex(6)}", run, action, who, utc_iso(), full)
    refdoc.store(git_repo, CONTROL_PREFIX + profile, CONTROL_FILE, control.to_dict(),
                 f"{action} {profile} ({run}) by {who}", "the deploy control")
    return control


def read(git_repo: GitRepo, profile: str) -> Control | None:
    """The latest control sent for the profile's runs, or None. RepoError when origin cannot be read."""
    try:
        found = refdoc.load(git_repo, CONTROL_PREFIX + profile, SEEN_PREFIX + profile, CONTROL_FILE,
                            "the deploy control")
    except ValueError:
        return None  # not one of ours: ignored, like no control
    if found is None:
        return None
    data = found[0]
    try:
        control = Control(str(data["id"]), str(data["run"]), str(data["action"]), str(data.get("by", "?")),
                          str(data.get("at", "")), bool(data.get("full", False)))
    except KeyError:
        return None
    return control if control.action in ACTIONS else None

