"""`hotswap demo up|down`: local demo instances to deploy to (data on stdout, messages on stderr)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from hotswap_cli.cli.context import JSON_OPTION, env_of

app = typer.Typer(name="demo", help="The demo: local instances and a full deploy/revert run.",
                  invoke_without_command=True)

DIR_OPTION = typer.Option(None, "--dir", help="State directory (default: $HOTSWAP_DEMO_DIR or ~/.cache/hotswap/demo).")


@app.callback()
def demo(
    ctx: typer.Context,
    bake: str = typer.Option("3s", "--bake", help="Bake per canary phase."),
    keep: bool = typer.Option(False, "--keep", help="Leave the instances and the repo for a look around."),
) -> None:
    """Start 5 instances, deploy a good version by canary, then a bad one that is reverted."""
    if ctx.invoked_subcommand is not None:
        return
    from hotswap_cli.cli.demo_run import run_demo
    from hotswap_cli.cli.deploy import duration_option

    duration_option(bake, "--bake")  # a bad value: a usage error before any instance starts
    code = run_demo(env_of(ctx), bake=bake, keep=keep)
    if code:
        raise typer.Exit(code)


@app.command("up")
def up(
    ctx: typer.Context,
    count: int = typer.Option(5, "-n", "--count", min=1, max=5000, help="How many instances."),
    base_port: int = typer.Option(None, "--base-port", help="First port (default: any free ports)."),
    directory: Path = DIR_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Start N demo instances and print their URLs."""
    from hotswap_cli.demo.instances import default_directory, start_instances

    env = env_of(ctx, json=json_output)
    root = directory or default_directory()
    instances = start_instances(count, root, base_port=base_port)
    if env.json:
        env.print_json({"directory": str(root), "instances": [asdict(i) for i in instances]})
        return
    for inst in instances:
        typer.echo(f"{inst.name}\t{inst.url}\t{inst.config_path}")
    env.message(f"started {len(instances)} demo instance(s); state in {root}; stop with `hotswap demo down`")


@app.command("down")
def down(ctx: typer.Context, directory: Path = DIR_OPTION) -> None:
    """Stop exactly the demo instances `demo up` started."""
    from hotswap_cli.demo.instances import default_directory, stop_instances

    env = env_of(ctx)
    root = directory or default_directory()
    stopped = stop_instances(root)
    if env.json:
        env.print_json({"directory": str(root), "stopped": [i.name for i in stopped]})
    env.message(f"stopped {len(stopped)} demo instance(s)" if stopped else f"no demo instances in {root}")
