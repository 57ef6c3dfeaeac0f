"""What every command's help ends with: examples and the exit codes it can return (README's table),
kept in one place so a new command cannot forget them (a test checks every command has both).
They are said here only: a command's docstring or epilog does not repeat them (a test checks each
help page has one "Examples:" and one "Exit codes:")."""

from __future__ import annotations

from hotswap_cli.errors import ExitCode

MEANING: dict[int, str] = {
    ExitCode.OK: "success",
    ExitCode.ERROR: "error: bad input, a repo or config problem, an unreachable target",
    ExitCode.USAGE: "usage error (a bad option or argument)",
    ExitCode.INVALID: "schema validation failed",
    ExitCode.APPROVAL: "approval missing or invalid",
    ExitCode.LOCKED: "the deploy lock is held, or an interrupted run's journal is open",
    ExitCode.REVERTED: "the deploy failed, the automatic revert succeeded",
    ExitCode.REVERT_FAILED: "the deploy failed and reverting failed on some instances (named)",
    ExitCode.UNRECORDED: "completed, but the ledger record did not reach origin (`hotswap deployments --push`)",
    ExitCode.ABORTED: "aborted by `hotswap abort` (every touched instance reverted)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, after reverting)",
}

_DEPLOYING = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 130)
_NOT_TAKEN = "no deploy of PROFILE is running, the run did not take the order within --wait, or another error"

# command path (a group's subcommand as "group sub") -> (examples, exit codes, what a code means
# here when it differs from MEANING)
HELP: dict[str, tuple[tuple[str, ...], tuple[int, ...], dict[int, str]]] = {
    "init": (("hotswap init my-config", "hotswap init ."), (0, 1, 2), {}),
    "profiles": (("hotswap profiles", "hotswap profiles --json"), (0, 1, 2), {}),
    "render": (("hotswap render payment-service.production",
                "hotswap render payment-service.production --target web-1 --format json"), (0, 1, 2, 3), {}),
    "validate": (("hotswap validate", "hotswap validate profiles/payment-service.production/config.yaml",
                  "hotswap validate --format github   # annotations in a GitHub Actions job"), (0, 1, 2, 3),
                 {2: "usage error, or a PROFILE or PATH that matches no profile"}),
    "release": (("hotswap release payment-service.production 1.4.0 -m 'raise the pool size'",
                 "hotswap release payment-service.production 1.4.0 --push"), (0, 1, 2, 3), {}),
    "versions": (("hotswap versions payment-service.production",), (0, 1, 2), {}),
    "show": (("hotswap show payment-service.production 1.4.0",), (0, 1, 2), {}),
    "history": (("hotswap history payment-service.production            # the newest 20",
                 "hotswap history payment-service.production --all",
                 "hotswap history payment-service.production --json --limit 5"), (0, 1, 2), {}),
    "diff": (("hotswap diff payment-service.production 1.3.0 1.4.0",
              "hotswap diff payment-service.production 1.4.0 live:web-1 --exit-code"), (0, 1, 2),
             {1: "an error; with --exit-code also: the two sides differ"}),
    "secret set": (("printf %s \"$DB_PASSWORD\" | hotswap secret set payment-service.production '$.db.password'",),
                   (0, 1, 2), {}),
    "secret rotate": (("hotswap secret rotate --dry-run", "hotswap secret rotate --new-key-file new.key"),
                      (0, 1, 2), {}),
    "schema diff": (("hotswap schema diff worker-config 1.0 2.0",
                     "hotswap schema diff worker-config 1.0 2.0 --strict --json"), (0, 1, 2, 3),
                    {0: "compatible in the declared mode (or no change can be judged to break it)",
                     1: "a version that does not exist, a $ref that leaves the config repo, or another error",
                     3: "not compatible in the declared mode (with --strict: also when a change cannot be judged)"}),
    "approve": (("hotswap approve payment-service.production 1.4.0 -m 'reviewed' --push",), (0, 1, 2, 4), {}),
    "approvals": (("hotswap approvals payment-service.production 1.4.0",
                   "hotswap approvals payment-service.production 1.4.0 --check"), (0, 1, 2, 4),
                  {4: "--check: the quorum is not met"}),
    "deploy": (("hotswap deploy payment-service.production --canary 10",
                "hotswap deploy payment-service.production 1.4.0 --dry-run",
                "hotswap deploy payment-service.staging 1.4.0 --rolling --batch 25% --yes --json   # CI"),
               _DEPLOYING, {0: "success, nothing to do, or you answered no at the prompt (nothing changed)"}),
    "rollback": (("hotswap rollback payment-service.production",
                  "hotswap rollback payment-service.production --to 1.3.0"), _DEPLOYING, {}),
    "advance": (("hotswap advance payment-service --to Staging --yes",), _DEPLOYING, {}),
    "status": (("hotswap status payment-service.production",), (0, 1, 2), {}),
    "deployments": (("hotswap deployments payment-service.production", "hotswap deployments --push"),
                    (0, 1, 2, 8), {8: "--push: records still did not reach origin"}),
    "deployments show": (("hotswap deployments show deploy-20261130-170203-4f2a",
                          "hotswap deployments show deploy-20261130-170203-4f2a --format markdown"), (0, 1, 2), {}),
    "unlock": (("hotswap unlock payment-service.production", "hotswap unlock payment-service.production --force"),
               (0, 1, 2, 5), {5: "the lock is held (without --force)"}),
    # watch exits with the deploy's own code when it ends; 1 also when there is nothing to watch
    "watch": (("hotswap watch payment-service.production",), _DEPLOYING,
              {0: "the deploy completed",
               1: "no deploy of PROFILE is running, its runner stopped without finishing, or another error",
               130: "the deploy was interrupted, or you stopped watching (Ctrl-C; the deploy goes on)"}),
    "promote": (("hotswap promote payment-service.production", "hotswap promote payment-service.production --full"),
                (0, 1, 2), {0: "the run took the order", 1: _NOT_TAKEN}),
    "resume": (("hotswap resume payment-service.production",), (0, 1, 2),
               {0: "the run took the order",
                1: "no paused deploy of PROFILE, the run did not take the order within --wait, or another error"}),
    "abort": (("hotswap abort payment-service.production",), (0, 1, 2),
              {0: "the run took the order (it reverts and ends with exit code 9)", 1: _NOT_TAKEN}),
    "demo": (("hotswap demo", "hotswap demo up -n 5", "hotswap demo down"), (0, 1), {}),
    "output-schema": (("hotswap output-schema", "hotswap output-schema deploy > deploy.schema.json"), (0, 2),
                      {0: "printed", 2: "no command of that name has an output schema"}),
    "demo up": (("hotswap demo up -n 5", "hotswap --json demo up -n 3"), (0, 1, 2), {}),
    "demo down": (("hotswap demo down",), (0, 1, 2), {}),
}

HELP["deployments list"] = HELP["deployments"]  # `hotswap deployments --help` shows its listing's help


def epilog(path: str) -> str | None:
    """The help's closing text for a command path ("deploy", "secret set"), or None when it has none."""
    found = HELP.get(path)
    if found is None:
        return None
    examples, codes, special = found
    # "\b" keeps click from re-wrapping a paragraph
    lines = ["\b", "Examples:", *(f"  $ {e}" for e in examples), "", "\b", "Exit codes:"]
    lines += [f"  {code:<4} {special.get(code, MEANING[code])}" for code in codes]
    return "\n".join(lines)
