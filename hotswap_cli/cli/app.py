"""The `hotswap` command: global options, the command registry, and the one error boundary."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from hotswap_cli import __version__
from hotswap_cli.cli.boundary import fail, run_guarded
from hotswap_cli.cli.context import Env
from hotswap_cli.errors import Interrupted, UsageError

try:  # typer >= 0.25 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors  # type: ignore[no-redef]

# name -> (module, attribute). A function becomes a command, a typer.Typer a command group.
# Commands are imported only when used: `hotswap validate` in a pre-commit hook loads
# nothing but what validation needs.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("hotswap_cli.cli.init", "init"),
    "profiles": ("hotswap_cli.cli.profiles", "profiles"),
    "render": ("hotswap_cli.cli.render", "render"),
    "validate": ("hotswap_cli.cli.validate", "validate"),
    "release": ("hotswap_cli.cli.release", "release"),
    "versions": ("hotswap_cli.cli.versions", "versions"),
    "show": ("hotswap_cli.cli.versions", "show"),
    "history": ("hotswap_cli.cli.history", "history"),
    "diff": ("hotswap_cli.cli.diff", "diff"),
    "secret": ("hotswap_cli.cli.secret", "secret_app"),
    "schema": ("hotswap_cli.cli.schema", "schema_app"),
    "approve": ("hotswap_cli.cli.approve", "approve"),
    "approvals": ("hotswap_cli.cli.approvals", "approvals"),
    "deploy": ("hotswap_cli.cli.deploy", "deploy"),
    "rollback": ("hotswap_cli.cli.rollback", "rollback"),
    "advance": ("hotswap_cli.cli.advance", "advance"),
    "status": ("hotswap_cli.cli.status", "status"),
    "deployments": ("hotswap_cli.cli.deployments", "deployments"),
    "unlock": ("hotswap_cli.cli.unlock", "unlock"),
    "watch": ("hotswap_cli.cli.watch", "watch"),
    "promote": ("hotswap_cli.cli.control", "promote"),
    "resume": ("hotswap_cli.cli.control", "resume"),
    "abort": ("hotswap_cli.cli.control", "abort"),
    "demo": ("hotswap_cli.cli.demo", "app"),
}


class BoundaryGroup(TyperGroup):
    """Click's own failures (usage, abort) become HotswapErrors for the one boundary."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "hotswap")
        run_guarded(lambda: self._main(*args, **kwargs))

    def _main(self, *args: Any, **kwargs: Any) -> int:
        try:
            code = super().main(*args, **kwargs)
        except click_errors.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            raise UsageError(f"{exc.format_message()}{hint}") from None
        except typer.Abort:
            raise Interrupted("aborted") from None
        except click_errors.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        return code if isinstance(code, int) else 0


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"hotswap {__version__}\n")
        raise typer.Exit(0)


def _global(
    ctx: typer.Context,
    repo: Path = typer.Option(None, "--repo", help="Config repo directory (default: find hotswap.yaml upward)."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    no_color: bool = typer.Option(False, "--no-color", help="No colour (also: NO_COLOR, or stdout not a TTY)."),
    ssh_config: str = typer.Option(None, "--ssh-config", metavar="FILE",
                                   help="ssh config to read for ssh targets instead of ~/.ssh/config ('none': no "
                                        "file); the same as HOTSWAP_SSH_CONFIG."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    if ssh_config:
        os.environ["HOTSWAP_SSH_CONFIG"] = ssh_config  # read where ssh targets are resolved (io/ssh_config)
    ctx.obj = Env(repo_option=repo, json=json_output, no_color=no_color)


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI with every command, or with just `only` (what a normal invocation needs)."""
    cli = typer.Typer(
        cls=BoundaryGroup,
        name="hotswap",
        help="Ship service configuration from a Git repository to running instances with zero downtime.",
        pretty_exceptions_enable=False,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    cli.callback()(_global)
    for name, (module, attr) in COMMANDS.items():
        if only is not None and name != only:
            continue
        target = getattr(importlib.import_module(module), attr)
        if isinstance(target, typer.Typer):
            cli.add_typer(target, name=name)
        else:
            cli.command(name)(target)
    return cli


def _command_name(argv: list[str]) -> str | None:
    """The subcommand in argv, skipping global options; None when help or unknown."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--repo":
            skip = True
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def __getattr__(name: str) -> Any:
    if name == "app":  # the full app, for tests and shell completion
        return build_app()
    raise AttributeError(name)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    completing = any(k.endswith("_COMPLETE") for k in os.environ)
    build_app(None if completing else _command_name(args))(args=args, prog_name="hotswap")
