"""`hotswap approvals PROFILE VERSION`: every approval with its status; `--check` is the quorum gate."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from hotswap_cli.cli.approve import APPROVERS_OPTION
from hotswap_cli.cli.context import JSON_OPTION, env_of


def approvals(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    version: str = typer.Argument(..., help="Version X.Y.Z."),
    check: bool = typer.Option(False, "--check", help="Exit 0 when the quorum is met, 4 otherwise."),
    require_signed: bool = typer.Option(
        False, "--require-signed-commits",
        help="Also require every commit since the previous approved version to be signed by an allowed key."),
    since: str = typer.Option(None, "--since", help="From this version or rev (default: the previous approved one)."),
    approvers: Path = APPROVERS_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """List the approvals of a version: signer, role, date, comment, status."""
    from hotswap_cli.core.approvals.approve import check_signed_commits, profile_at
    from hotswap_cli.core.approvals.quorum import check_quorum, require_quorum, resolve_version
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.errors import ApprovalError

    env = env_of(ctx, json=json_output)
    repo = env.repo
    git_repo = GitRepo(env.root)
    prof = profile_at(git_repo, repo, profile, resolve_version(git_repo, profile, version))
    report = check_quorum(git_repo, prof, version, approvers_path=approvers, signed=require_signed)
    signed = None
    if require_signed or report.require_signed_commits:
        since_rev = f"refs/tags/{profile}/{since}" if since and since.count(".") == 2 else since
        signed = check_signed_commits(git_repo, prof, version, since_rev=since_rev,
                                      approvers_path=approvers, fetch=False)
    if env.json:
        data = report.to_dict()
        data["signed_commits"] = signed.to_dict() if signed is not None else None
        env.print_json(data)
    else:
        rows = [(a.status + (f" ({a.detail})" if a.detail and not a.valid else ""), a.approver,
                 ", ".join(a.roles) or "-",
                 time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.date)) if a.date else "-",
                 a.comment.splitlines()[0] if a.comment else "") for a in report.approvals]
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(4)]
        for row in rows:
            line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
            env.out.print(line.rstrip(), markup=False, highlight=False)
        env.message(f"{profile} {version} ({report.environment}): {len(report.valid)} of {report.required} "
                    f"required approval(s); {report.summary()}")
        if signed is not None:
            env.message(signed.summary())
    if check and env.json and not (report.met and (signed is None or signed.ok)):
        env.message(f"{profile} {version}: " + (f"short of its quorum: {report.summary()}" if not report.met
                                                 else signed.summary() if signed is not None else ""))
        raise typer.Exit(int(ApprovalError.exit_code))  # the report above is the answer: no error document
    if check:
        require_quorum(report)
    if check and signed is not None and not signed.ok:
        raise ApprovalError(signed.summary())
