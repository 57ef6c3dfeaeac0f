"""What a deploy or rollback did: per-instance outcomes, health evidence, status and exit code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotswap_cli.errors import ExitCode
from hotswap_cli.runner.gate import Verdict

STATUSES = ("completed", "reverted", "revert_failed", "interrupted", "failed_before_change", "aborted")

_EXIT = {
    "completed": ExitCode.OK,
    "reverted": ExitCode.REVERTED,
    "revert_failed": ExitCode.REVERT_FAILED,
    "interrupted": ExitCode.INTERRUPTED,
    "failed_before_change": ExitCode.ERROR,
    "aborted": ExitCode.ABORTED,
}


@dataclass(frozen=True)
class InstanceOutcome:
    """One instance's end state (pending|staged|live|healthy|reverted|failed) and its history."""

    instance: str
    state: str
    phase: int | None = None  # first phase that lists it
    touched: bool = False  # stage was called: something changed on the instance
    previous_present: bool | None = None  # None: current config never read
    previous_sha256: str | None = None  # sha256 of the raw bytes it held before
    error: str | None = None  # the step that failed, with the transport's message
    revert_error: str | None = None  # set when the instance could not be restored
    started_at: float | None = None
    finished_at: float | None = None
    reverted_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class DeployResult:
    profile: str
    version: str
    strategy: str
    status: str  # one of STATUSES
    reason: str  # empty when completed; otherwise why, with the measured numbers
    instances: tuple[InstanceOutcome, ...]
    verdicts: tuple[Verdict, ...] = ()  # the last verdict of each gated phase
    failed_phase: int | None = None
    interrupted: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT[self.status]

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    @property
    def touched(self) -> tuple[str, ...]:
        return tuple(i.instance for i in self.instances if i.touched)

    @property
    def reverted(self) -> tuple[str, ...]:
        return tuple(i.instance for i in self.instances if i.state == "reverted")

    @property
    def unrestored(self) -> tuple[str, ...]:
        """Instances that could not be put back on their previous config (exit 7 names them)."""
        return tuple(i.instance for i in self.instances if i.revert_error is not None)

    def outcome(self, instance: str) -> InstanceOutcome:
        return next(i for i in self.instances if i.instance == instance)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "version": self.version,
            "strategy": self.strategy,
            "status": self.status,
            "exit_code": int(self.exit_code),
            "reason": self.reason,
            "failed_phase": self.failed_phase,
            "interrupted": self.interrupted,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "unrestored": list(self.unrestored),
            "instances": [i.to_dict() for i in self.instances],
            "verdicts": [v.to_dict() for v in self.verdicts],
        }
