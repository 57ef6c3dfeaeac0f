"""The one error tree: every expected failure is a HotswapError carrying its exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes documented in README.md and DESIGN.md section 8."""

    OK = 0
    ERROR = 1  # bad input, repo or config problem, unreachable target; diff: differences
    USAGE = 2
    INVALID = 3  # schema validation failed
    APPROVAL = 4  # approval missing or invalid
    LOCKED = 5  # deploy lock held by someone else
    REVERTED = 6  # deploy failed, automatic revert succeeded
    REVERT_FAILED = 7  # deploy failed and revert failed on some instances
    UNRECORDED = 8  # deploy completed, but its ledger record did not reach origin (`deployments --push`)
    ABORTED = 9  # `hotswap abort` stopped the deploy; every touched instance reverted
    INTERRUPTED = 130


class HotswapError(Exception):
    """An expected failure: its message is one line a user can act on."""

    exit_code: ExitCode = ExitCode.ERROR
    kind = "error"  # what went wrong, for machines: the `kind` of a `--json` error document

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(HotswapError):
    kind = "usage"
    exit_code = ExitCode.USAGE


class ConfigError(HotswapError):
    """The config repo or a file in it cannot be used."""

    kind = "config"


class RepoError(HotswapError):
    """Git state prevents the operation (missing revision, dirty tree, existing tag)."""

    kind = "repo"


class ValidationFailed(HotswapError):
    kind = "validation"
    exit_code = ExitCode.INVALID


class ApprovalError(HotswapError):
    kind = "approval"
    exit_code = ExitCode.APPROVAL


class LockHeld(HotswapError):
    kind = "locked"
    exit_code = ExitCode.LOCKED


class TransportError(HotswapError):
    """A target could not be reached or refused a step; names the instance."""

    kind = "transport"

    def __init__(self, instance: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{instance}: {message}", hint=hint)
        self.instance = instance
        self.reason = message


class ProbeError(HotswapError):
    """A probe is misconfigured (not a failing health check: that is a sample)."""

    kind = "probe"


class SecretError(HotswapError):
    """A secret cannot be encrypted or decrypted; never carries the value."""

    kind = "secret"


class Interrupted(HotswapError):
    kind = "interrupted"
    exit_code = ExitCode.INTERRUPTED
