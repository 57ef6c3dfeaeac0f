"""`hotswap secret set PROFILE JSONPATH` encrypts a value from stdin into the profile's config;
`hotswap secret rotate` re-encrypts every secret under a new key (or re-binds v1 values)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from hotswap_cli.cli.context import env_of
from hotswap_cli.core.config.profile import load_profile
from hotswap_cli.jsonpath import format_path

secret_app = typer.Typer(help="Encrypted secret fields (AES-256-GCM; key from HOTSWAP_SECRET_KEY, _FILE or _COMMAND).",
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
    if env.json:  # never the value, nor its ciphertext: where it went
        env.print_json({"profile": profile, "path": format_path(path), "file": written, "comments_kept": kept})
        return
    env.message(f"encrypted {jsonpath} into {written}", "green")
    if not kept:
        env.message(f"note: {written} was rewritten; its comments were not kept")


@secret_app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_key_file: Path | None = typer.Option(None, "--new-key-file", help="Re-encrypt under the key in this file."),
    new_key_command: str | None = typer.Option(
        None, "--new-key-command", help="Re-encrypt under the key this command prints (e.g. a Vault or KMS CLI)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Name what would be re-encrypted; write nothing."),
    json_output: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Re-encrypt every secret in the repo: under a new key, and bound to its file and path (v2).

    The current key comes from HOTSWAP_SECRET_KEY, _FILE or _COMMAND. Without a new key the values
    keep their key and are only re-bound (v1 -> v2). Every value is decrypted before any file is
    written: one that will not decrypt stops the rotation with nothing written."""
    from hotswap_cli.core.config.secretfile import rotate_secrets
    from hotswap_cli.core.secrets.crypto import key_from_command, parse_key, require_key
    from hotswap_cli.errors import SecretError, UsageError

    env = env_of(ctx, json=json_output)
    if new_key_file is not None and new_key_command is not None:
        raise UsageError("give --new-key-file or --new-key-command, not both")
    old_key = require_key()
    new_key = old_key
    if new_key_file is not None:
        try:
            new_key = parse_key(new_key_file.read_text(), f"--new-key-file ({new_key_file})")
        except OSError as exc:
            raise SecretError(f"cannot read the key file {new_key_file}: {exc.strerror}") from None
    elif new_key_command is not None:
        new_key = key_from_command(new_key_command, "--new-key-command")
    done = rotate_secrets(env.root, old_key, new_key, write=not dry_run)
    files = sorted({r.file for r in done})
    if env.json:
        env.print_json({"dry_run": dry_run, "rotated": [r.to_dict() for r in done], "files": files})
        return
    verb = "would re-encrypt" if dry_run else "re-encrypted"
    for r in done:
        how = "under the new key" if r.rekeyed else "bound to its place"
        env.out.print(f"{verb} {r.file} {format_path(r.path)} ({r.was} -> v2, {how})", markup=False)
    if not done:
        env.message("nothing to re-encrypt: every secret is already v2 under this key", "green")
    elif not dry_run:
        env.message(f"{len(done)} secret(s) re-encrypted in {len(files)} file(s): commit them, release and "
                    "deploy; retire the old key once every environment runs the new release", "green")
