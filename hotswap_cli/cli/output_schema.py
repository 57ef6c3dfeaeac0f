"""`hotswap output-schema [COMMAND]`: the JSON Schema (draft 2020-12) of what a command prints with
`--json` (docs/json.md), or the list of commands that have one.

The schemas ship in the package (data/output-schemas/<command>.json, `secret set` as secret-set.json)
and share definitions through `common.json` and `error.json`; what this command prints is one
self-contained schema, those definitions copied into its `$defs`."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import typer

from hotswap_cli.cli.context import env_of

SHARED = ("common", "error")  # definitions, not commands
ALIASES = {"deployments list": "deployments"}  # `deployments list` is `deployments`
_GROUPS = ("secret", "schema", "deployments", "demo")  # `secret-set.json` is `secret set`; `output-schema` stays


def command_names() -> list[str]:
    """Every command with an output schema, as typed: `deploy`, `secret set`."""
    files = resources.files("hotswap_cli").joinpath("data", "output-schemas")
    stems = (f.name.removesuffix(".json") for f in files.iterdir() if f.name.endswith(".json"))
    return sorted(s.replace("-", " ") if s.split("-")[0] in _GROUPS else s for s in stems if s not in SHARED)


@cache
def load(stem: str) -> dict[str, Any]:
    """One schema file as shipped (its `$ref`s name common.json and error.json)."""
    text = resources.files("hotswap_cli").joinpath("data", "output-schemas", f"{stem}.json").read_text("utf-8")
    return dict(json.loads(text))


def stem_of(command: str) -> str:
    """`secret set` -> `secret-set`; an alias to its schema's command."""
    name = " ".join(command.split())
    return ALIASES.get(name, name).replace(" ", "-")


def bundled(command: str) -> dict[str, Any]:
    """The command's schema with every definition it uses from the shared files in its own `$defs`."""
    top = load(stem_of(command))
    defs: dict[str, Any] = {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: rewrite(v) for k, v in node.items() if k != "$ref"}
        ref = node.get("$ref")
        if isinstance(ref, str):
            out["$ref"] = local(ref)
        return out

    def local(ref: str) -> str:
        """`common.json#/$defs/x` -> `#/$defs/x`; `error.json` -> `#/$defs/error`, copying what they name."""
        file, _, pointer = ref.partition("#")
        if not file:
            return ref
        stem = file.removesuffix(".json")
        if pointer:
            name = pointer.removeprefix("/$defs/")
            if name not in defs:
                defs[name] = {}  # before the walk: a definition may refer to itself
                defs[name] = rewrite(load(stem)["$defs"][name])
            return f"#/$defs/{name}"
        if stem not in defs:
            defs[stem] = {}
            whole = load(stem)
            defs[stem] = rewrite({k: v for k, v in whole.items() if k not in ("$schema", "$id", "$defs")})
            for name, value in whole.get("$defs", {}).items():
                defs.setdefault(name, rewrite(value))
        return f"#/$defs/{stem}"

    body = rewrite({k: v for k, v in top.items() if k != "$defs"})
    for name, value in top.get("$defs", {}).items():
        defs.setdefault(name, rewrite(value))
    return {**body, "$defs": dict(sorted(defs.items()))} if defs else body


def output_schema(
    ctx: typer.Context,
    command: list[str] = typer.Argument(None, metavar="[COMMAND]...",
                                        help="A command, e.g. deploy or `secret set` (default: list them)."),
) -> None:
    """Print the JSON Schema of a command's --json output, or list the commands that have one."""
    from hotswap_cli.errors import UsageError

    env = env_of(ctx)
    names = command_names()
    if not command:
        if env.json:
            env.print_json({"commands": names})
        else:
            env.out.print("\n".join(names), markup=False, highlight=False)
        return
    name = " ".join(command)
    if stem_of(name) not in {stem_of(n) for n in names}:
        import difflib

        close = difflib.get_close_matches(name, names, n=1)
        raise UsageError(f"no output schema for {name!r}" + (f": did you mean {close[0]!r}?" if close else ""),
                         hint="`hotswap output-schema` lists them")
    env.print_json(bundled(name))
