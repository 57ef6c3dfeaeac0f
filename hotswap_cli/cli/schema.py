"""`hotswap schema diff ID OLD NEW`: what changed between two versions of a schema, and whether configs
valid under one stay valid under the other."""

from __future__ import annotations

import sys

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

schema_app = typer.Typer(help="Schema versions: structural diffs and compatibility.", no_args_is_help=True)

_EPILOG = """\
backward: the new version accepts every config the old one accepted; forward: the old one
accepts every config the new one accepts; full: both. The mode a schema promises is its
"x-hotswap-compatibility" (backward, forward, full or none; default backward)."""


@schema_app.command("diff", epilog=_EPILOG)
def diff(
    ctx: typer.Context,
    schema: str = typer.Argument(..., help="Schema id: its folder under schemas/, e.g. payment-config."),
    old: str = typer.Argument(..., help="Old version, e.g. 1.0 (schemas/<schema>/1.0.json)."),
    new: str = typer.Argument(..., help="New version, e.g. 2.0."),
    strict: bool = typer.Option(False, "--strict", help="A change that cannot be judged counts as breaking."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Every structural change by JSONPath, each judged backward- and forward-compatible."""
    from hotswap_cli.core.config.schemadiff import breaking, change_location, diff_schema_versions, uncertain
    from hotswap_cli.errors import ExitCode

    env = env_of(ctx, json=json_output)
    result = diff_schema_versions(env.repo, schema, old, new)
    mode = result.declared_mode
    if env.json:
        data = result.to_dict()
        for change, out in zip(result.changes, data["changes"], strict=True):
            out["location"] = str(change_location(env.repo, result, change))
        env.print_json(data)
    else:
        rows = [(c.kind, c.path, c.detail, _judged(c.backward, c.forward),
                 str(change_location(env.repo, result, c))) for c in result.changes]
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(4)]
        for row in rows:
            line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[4]
            env.out.print(line, markup=False, highlight=False)
        if not rows:
            env.message(f"{schema} {old} -> {new}: no structural changes")
        verdicts = "  ".join(f"{m} {_mark(v)}" for m, v in result.compatible.items())
        env.message(f"{schema} {old} -> {new}: {verdicts}; declared mode {mode}: {_word(result.verdict)}")
        unsure = uncertain(result.changes, mode)
        if unsure:
            env.message(f"{len(unsure)} change(s) cannot be judged structurally: review them "
                        "(`hotswap validate` also checks the configs that use the old version)")
    broken = breaking(result.changes, mode) or (uncertain(result.changes, mode) if strict else [])
    if broken:
        raise typer.Exit(int(ExitCode.INVALID))


def _marks() -> tuple[str, str, str]:
    """✓ ✗ ? where stdout can print them, else words."""
    try:
        "✓✗".encode(sys.stdout.encoding or "utf-8")
        return "✓", "✗", "?"
    except (UnicodeEncodeError, LookupError):
        return "yes", "no", "?"


def _mark(flag: bool | None) -> str:
    yes, no, unknown = _marks()
    return yes if flag is True else no if flag is False else unknown


def _judged(backward: bool | None, forward: bool | None) -> str:
    if backward is None and forward is None:
        return "cannot tell"
    return f"backward {_mark(backward)} forward {_mark(forward)}"


def _word(verdict: bool | None) -> str:
    return "compatible" if verdict else "not compatible" if verdict is False else "cannot tell"
