"""`hotswap validate`: every error of every selected profile, as file:line:col  $.path  message."""

from __future__ import annotations

from enum import StrEnum

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.cli.fast_validate import run


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"
    gitlab = "gitlab"


def validate(
    ctx: typer.Context,
    items: list[str] = typer.Argument(None, metavar="PROFILE|PATH",
                                      help="Profiles, or changed files: each validates the profiles it affects "
                                           "(a template: every profile extending it; a schema: every profile "
                                           "using it; hotswap.yaml: all). Default: every profile."),
    json_output: bool = JSON_OPTION,
    output: OutputFormat = typer.Option(None, "--format", show_default=False,
                                        help="text (default: file:line:col  $.path  message), json (as --json), "
                                             "github (Actions ::error annotations), gitlab (Code Quality report)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Re-validate even unchanged profiles."),
) -> None:
    """Validate profiles against their schemas (exit 0 valid, 3 invalid, 2 usage, 1 other errors).

    Each error is reported once, at the file:line:col that has it (an error in a template names the
    profiles it affects). A PROFILE that does not exist, or a PATH that matches no profile, template
    or schema file, is a usage error (2); under pre-commit, files that are not part of the config
    repo are skipped."""
    code = run(env_of(ctx, json=json_output), items or [], no_cache=no_cache,
               output=output.value if output is not None else None)
    if code:
        raise typer.Exit(code)
