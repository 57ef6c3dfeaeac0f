"""`hotswap release PROFILE X.Y.Z`: validate at a commit, then tag it `<profile>/<X.Y.Z>`."""

from __future__ import annotations

import sys

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of


def release(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    version: str = typer.Argument(..., help="Semantic version X.Y.Z, e.g. 1.4.0."),
    message: str = typer.Option("", "--message", "-m", help="What this version changes."),
    rev: str = typer.Option("HEAD", "--rev", help="Commit to release (default HEAD)."),
    push: bool = typer.Option(False, "--push", help="Push the tag to origin when there is one."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Name a validated commit as a version: the annotated tag <profile>/<X.Y.Z> (never moved)."""
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.release import check_version
    from hotswap_cli.core.versions.release import release as make_release

    env = env_of(ctx, json=json_output)
    check_version(version)
    git_repo = GitRepo(env.root)
    released, pushed = make_release(git_repo, profile, version, message, rev, push)
    if env.json:
        from hotswap_cli.cli.versions import version_dict

        env.print_json({**version_dict(released), "pushed": pushed})
        return
    sys.stdout.write(released.tag + "\n")
    env.message(f"released {profile} {version}: commit {released.commit[:12]}, sha256 {released.sha256[:12]}, "
                f"schema {released.schema}, {released.size} bytes", "green")
    if push and not pushed:
        env.message("no remote named origin: the tag was not pushed")
    elif pushed:
        env.message(f"pushed {released.tag} to origin")
