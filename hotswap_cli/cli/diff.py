"""`hotswap diff PROFILE [A [B]]`: key-aware changes between two rendered configs."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, Env, env_of
from hotswap_cli.core.config.profile import read_profile

_VALUE_WIDTH = 100


def diff(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name."),
    a: str = typer.Argument(None, help="Old side: version, git revision, `worktree` or live:INSTANCE "
                                         "(default: latest version)."),
    b: str = typer.Argument("worktree", help="New side (default: the working tree)."),
    fmt: str = typer.Option("text", "--format", "-f", help="text (by key) or unified (canonical YAML)."),
    exit_code: bool = typer.Option(False, "--exit-code", help="Exit 1 when there are differences."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Added, removed and changed keys by JSONPath, with a breaking-change flag; secrets masked."""
    from hotswap_cli.core.secrets.crypto import load_key
    from hotswap_cli.core.versions.diff import diff_configs, unified_diff
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.release import latest_version
    from hotswap_cli.errors import RepoError, UsageError
    from hotswap_cli.ops.live import config_at

    if fmt not in ("text", "unified"):
        raise UsageError(f"--format must be text or unified, not {fmt!r}")
    env = env_of(ctx, json=json_output)
    git_repo = GitRepo(env.root)
    if a is None:
        latest = latest_version(git_repo, profile)
        if latest is None:
            read_profile(env.repo, profile)
            raise RepoError(f"{profile} has no versions yet: name the old side",
                            hint=f"e.g. `hotswap diff {profile} HEAD`")
        a = latest.version
    old, new = config_at(git_repo, profile, a), config_at(git_repo, profile, b)
    key = load_key()
    live = old if old.raw is not None else new if new.raw is not None else None
    if live is not None:  # a payload compared as text: a unified diff of the bytes, either side
        differs = _text_diff(env, git_repo, old, new, live.instance or "", key)
        if exit_code and differs:
            raise typer.Exit(1)
        return
    if (old.live or new.live) and key is not None:
        old, new = comparable(old, key), comparable(new, key)  # instances hold secrets decrypted
    if fmt == "unified" and not env.json:
        text = unified_diff(old.data, new.data, old.schema, new.schema, old_label=old.describe(),
                            new_label=new.describe(), key=key)
        sys.stdout.write(text)
        differs = bool(text)
    else:
        result = diff_configs(old.data, new.data, old.schema, new.schema, key=key)
        differs = not result.empty
        if env.json:
            env.print_json({"profile": profile, "from": _side(old), "to": _side(new), **result.to_dict()})
        else:
            _print_human(env, old.describe(), new.describe(), result)
    if exit_code and differs:
        raise typer.Exit(1)


def _text_diff(env: Any, git_repo: Any, old: Any, new: Any, instance: str, key: bytes | None) -> bool:
    """Unified diff of the bytes an instance holds against those a version gives it."""
    import difflib

    from hotswap_cli.ops.live import payload_at

    before = payload_at(git_repo, old, instance, key).decode("utf-8", "replace").splitlines(keepends=True)
    after = payload_at(git_repo, new, instance, key).decode("utf-8", "replace").splitlines(keepends=True)
    text = "".join(difflib.unified_diff(before, after, old.describe(), new.describe()))
    if env.json:
        env.print_json({"profile": old.profile, "from": _side(old), "to": _side(new), "identical": not text,
                        "text_diff": text})
    else:
        sys.stdout.write(text)
    return bool(text)


def comparable(snap: Any, key: bytes) -> Any:
    """A stored config with its secrets decrypted in memory, so fingerprints match an instance's."""
    from dataclasses import replace

    from hotswap_cli.core.secrets.crypto import decrypt_config

    return snap if snap.live else replace(snap, data=decrypt_config(snap.data, snap.schema, snap.origin, key))


def _side(snap: Any) -> dict[str, Any]:
    """One side for --json: the config's hash, or for a payload read from an instance as text its bytes'."""
    import hashlib

    sha = hashlib.sha256(snap.raw).hexdigest() if snap.raw is not None else snap.sha256
    return {"ref": snap.label, "version": snap.version, "commit": snap.commit, "sha256": sha,
            "schema": snap.schema_ref}


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=indent)


def _value(value: Any) -> str:
    text = _json(value)
    return text if len(text) <= _VALUE_WIDTH else text[:_VALUE_WIDTH - 3] + "..."


def _print_human(env: Env, old_label: str, new_label: str, result: Any) -> None:
    out = env.out
    out.print(f"--- {old_label}", style="bold", markup=False)
    out.print(f"+++ {new_label}", style="bold", markup=False)
    if result.empty:
        env.message("no differences")
        return
    print_changes(out, result)
    counts = ", ".join(f"{len(result.of_kind(k))} {k}" for k in ("added", "removed", "changed"))
    env.message(f"{len(result.changes)} change(s): {counts}" + ("; BREAKING" if result.breaking else ""))


def print_changes(out: Any, result: Any, indent: str = "", *, full: bool = False) -> bool:
    """The changes of a ConfigDiff, grouped added / removed / changed, by JSONPath. A value's JSON
    longer than _VALUE_WIDTH is cut short, or with `full` printed whole as indented JSON (secrets in
    it are the diff's own, already masked). True when a value was cut."""
    if result.breaking:
        out.print(f"{indent}BREAKING:", style="bold red", markup=False)
        for reason in result.breaking_reasons:
            out.print(f"{indent}  ! {reason}", style="red", markup=False)
    cut = False
    for kind, sign, style in (("added", "+", "green"), ("removed", "-", "red"), ("changed", "~", "yellow")):
        changes = result.of_kind(kind)
        if not changes:
            continue
        out.print(f"{indent}{kind}:", style="bold", markup=False)
        for c in changes:
            values = [c.old, c.new] if kind == "changed" else [c.new if kind == "added" else c.old]
            mark = "  (breaking)" if c.breaking else ""
            long = any(len(_json(v)) > _VALUE_WIDTH for v in values)
            cut = cut or (long and not full)
            if not (long and full):
                out.print(f"{indent}  {sign} {c.path}: {' → '.join(_value(v) for v in values)}{mark}", style=style,
                          markup=False)
                continue
            out.print(f"{indent}  {sign} {c.path}:{mark}", style=style, markup=False)
            for n, value in enumerate(values):
                if n:
                    out.print(f"{indent}    →", style=style, markup=False)
                for line in _json(value, 2).splitlines():
                    out.print(f"{indent}    {line}", style=style, markup=False, highlight=False)
    return cut
