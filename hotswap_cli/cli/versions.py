"""`hotswap versions PROFILE` and `hotswap show PROFILE VERSION`."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any

import typer

from hotswap_cli import redact
from hotswap_cli.cli.context import JSON_OPTION, env_of
from hotswap_cli.cli.jsonout import utc
from hotswap_cli.core.config.profile import read_profile


def versions(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    json_output: bool = JSON_OPTION,
) -> None:
    """A profile's versions, newest first: version, date, author, description, content hash."""
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.release import list_versions

    env = env_of(ctx, json=json_output)
    found = list_versions(GitRepo(env.root), profile)
    if not found:
        read_profile(env.repo, profile)  # an unknown profile is an error, not an empty list
    if env.json:
        env.print_json([version_dict(v) for v in found])
        return
    if not found:
        env.message(f"{profile} has no versions yet (make one with `hotswap release {profile} 1.0.0`)")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("VERSION", "DATE", "AUTHOR", "SHA256", "DESCRIPTION"):
        table.add_column(col, no_wrap=col != "DESCRIPTION")
    for v in found:
        first = v.description.splitlines()[0] if v.description else ""
        table.add_row(v.version, v.date, v.author, v.sha256[:12], first)
    env.out.print(table)


def show(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    version: str = typer.Argument(..., help="A version X.Y.Z (or any git revision, or `worktree`)."),
    fmt: str = typer.Option("yaml", "--format", "-f", help="yaml or json."),
    reveal: bool = typer.Option(False, "--reveal", help="Decrypt secrets (needs HOTSWAP_SECRET_KEY)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """The rendered config of a version; secrets masked unless --reveal and the key is set."""
    from hotswap_cli.core.config.yamlsrc import dump_yaml
    from hotswap_cli.core.secrets.crypto import decrypt_config, load_key, mask_config, require_key
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.history import config_at
    from hotswap_cli.errors import UsageError

    if fmt not in ("yaml", "json"):
        raise UsageError(f"--format must be yaml or json, not {fmt!r}")
    env = env_of(ctx, json=json_output)
    snap = config_at(GitRepo(env.root), profile, version)
    if reveal:
        data = decrypt_config(snap.data, snap.schema, snap.origin, require_key())
    else:
        data = mask_config(snap.data, snap.schema, key=load_key())
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n" if fmt == "json" or env.json else dump_yaml(data)
    with redact.revealing() if reveal else contextlib.nullcontext():  # asked for: the one unscrubbed output
        sys.stdout.write(text)


def version_dict(v: Any) -> dict[str, Any]:
    """A version for --json: its date in UTC; what a hand-made tag does not say (no trailers) as null."""
    return {**v.to_dict(), "date": utc(v.date), "sha256": v.sha256 or None, "schema": v.schema or None}
