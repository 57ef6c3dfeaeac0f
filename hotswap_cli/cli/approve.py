"""`hotswap approve PROFILE VERSION`: sign an approval tag on exactly that version's commit."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

APPROVERS_OPTION = typer.Option(
    None, "--approvers", envvar="HOTSWAP_APPROVERS",
    help="Trusted approvers file (default: the approvers file on the default branch, as fetched).")


def approve(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    version: str = typer.Argument(..., help="Version X.Y.Z (the tag <profile>/<X.Y.Z>)."),
    message: str = typer.Option("", "--message", "-m", help="Comment stored in the approval tag."),
    push: bool = typer.Option(False, "--push", help="Push the approval tag to origin."),
    approvers: Path = APPROVERS_OPTION,
    require_signed: bool = typer.Option(
        False, "--require-signed-commits",
        help="Judge self-approval on who signed the version's commits, not on their author fields."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Approve a version with a signed tag (git's own SSH or GPG signing); exit 4 when refused."""
    from hotswap_cli.core.approvals.approve import approve as make_approval
    from hotswap_cli.core.versions.git import GitRepo

    env = env_of(ctx, json=json_output)
    repo = env.repo
    approval = make_approval(GitRepo(env.root), repo, profile, version, comment=message, push=push,
                             approvers_path=approvers, signed=require_signed)
    if env.json:
        env.print_json(approval.to_dict())
    else:
        sys.stdout.write(f"{approval.tag}\n")
        roles = ", ".join(approval.roles) or "no role"
        pushed = " and pushed it" if push else " (push with --push or `git push origin --tags`)"
        env.message(f"approved {profile} {version} as {approval.approver} ({roles}): signed {approval.tag}{pushed}")
