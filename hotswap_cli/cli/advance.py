"""`hotswap advance SERVICE --to ENV`: release what completed in the environment before ENV as the
next version of SERVICE's ENV profile, then deploy it there through the same gates."""

from __future__ import annotations

from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.cli.deploy import APPROVERS_OPTION, DRY_RUN_OPTION, WAIT_OPTION, YES_OPTION, duration_option


def advance(
    ctx: typer.Context,
    service: str = typer.Argument(..., help="Service name: the part of its profiles' names before the "
                                  "environment, e.g. payment-service."),
    to: str = typer.Option(..., "--to", help="The environment to advance to, e.g. Production."),
    dry_run: bool = DRY_RUN_OPTION,
    yes: bool = YES_OPTION,
    wait_for_lock: str = WAIT_OPTION,
    approvers: Path = APPROVERS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Take what completed in the environment before ENV to SERVICE's ENV profile: release, deploy."""
    from hotswap_cli.cli.deploy import run_deployment
    from hotswap_cli.core.approvals.trust import load_trust_root
    from hotswap_cli.core.deploy.prepare import DeployOptions, open_git, prepare
    from hotswap_cli.core.deploy.promotion import plan_advance
    from hotswap_cli.core.versions.release import release

    env = env_of(ctx, json=json_output)
    git_repo = open_git(env.root)
    step = plan_advance(git_repo, load_trust_root(git_repo, approvers, fetch=True), service, to)
    env.message(f"{step.source} runs {step.source_version} (commit {step.commit[:12]}, {step.source_record}): "
                f"advancing it to {step.target} ({step.environment})")
    if env.json:  # the stream's first line: what goes where; the deploy's lines follow
        env.print_json_line({"event": "advance", "service": service, "source": step.source,
                             "source_version": step.source_version, "source_record": step.source_record,
                             "commit": step.commit, "target": step.target, "environment": step.environment,
                             "version": step.version, "released": step.released, "dry_run": dry_run})
    if not step.released:
        if dry_run:
            env.message(f"would release {step.target} {step.version} at commit {step.commit[:12]}, then deploy it")
            env.message("dry run: nothing was changed")
            return
        released, pushed = release(git_repo, step.target, step.version,
                                   f"advance {step.source} {step.source_version} ({step.source_record})",
                                   step.commit, push=True)
        env.message(f"released {step.target} {step.version} at commit {step.commit[:12]}"
                    + (" and pushed its tag to origin" if pushed else ""))
    else:
        env.message(f"{step.target} {step.version} is that commit already released")
    env.message(f"deploying {step.target} {step.version}")
    deployment = prepare(env.root, step.target, DeployOptions(version=step.version, approvers_path=approvers,
                                                                defer_approvals=dry_run), git_repo=git_repo)
    code = run_deployment(env, deployment, dry_run=dry_run, yes=yes,
                          lock_wait=duration_option(wait_for_lock, "--wait-for-lock") or 0.0)
    if code:
        raise typer.Exit(code)
