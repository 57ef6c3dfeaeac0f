"""`hotswap secret set PROFILE JSONPATH`: encrypt a value from stdin into the profile's config."""

from __future__ import annotations

import sys

import typer

from hotswap_cli.cli.context import env_of
from hotswap_cli.core.config.profile import load_profile

secret_app = typer.Typer(help="Encrypted secret fields (AES-256-GCM; key from HOTSWAP_SECRET_KEY).",
                         no_args_is_help=True)


# Extra arguments are caught here, not by click: its error would echo them, and one may be the value.
@secret_app.command("set", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def set_secret(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    jsonpath: str = typer.Argument(..., help="The secret field, e.g. '$.payments.apiKey'."),
) -> None:
    """Read the value from stdin (or a no-echo prompt) and write it encrypted as ENC[...]."""
    from hotswap_cli.core.config.secretfile import parse_jsonpath, write_secret
    from hotswap_cli.core.secrets.crypto import require_key
    from hotswap_cli.errors import UsageError

    if ctx.args:
        raise UsageError("secret set takes no value argument (argv is visible to other users and shell history): "
                         "pipe the value on stdin or type it at the prompt")
    env = env_of(ctx)
    path = parse_jsonpath(jsonpath)
    key = require_key()
    load_profile(env.repo, profile)
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value for {jsonpath} (not echoed): ")
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise UsageError("empty secret value: nothing written")
    written, kept = write_secret(env.root, profile, path, value, key)
    env.message(f"encrypted {jsonpath} into {written}", "green")
    if not kept:
        env.message(f"note: {written} was rewritten; its comments were not kept")
