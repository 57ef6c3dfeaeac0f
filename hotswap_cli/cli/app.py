"""The `hotswap` command: global options, the command registry, and the one error boundary."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
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
    "output-schema": ("hotswap_cli.cli.output_schema", "output_schema"),
}


STREAMS = ("deploy", "rollback", "advance", "watch")  # JSON lines under --json; the rest print one document


class BoundaryGroup(TyperGroup):
    """Click's own failures (usage, abort) become HotswapErrors for the one boundary."""

    def main(self, args: list[str] | None = None, **kwargs: Any) -> Any:  # type: ignore[override]
        argv, as_json = hoist_json(list(sys.argv[1:] if args is None else args))
        kwargs["standalone_mode"] = False
        kwargs.setdefault("prog_name", "hotswap")
        run_guarded(lambda: self._main(argv, **kwargs), json=as_json, stream=_command_name(argv) in STREAMS)

    def _main(self, args: list[str], **kwargs: Any) -> int:
        if not args and not _completing():  # bare `hotswap`: the command list, and that is not an error
            with self.make_context(kwargs["prog_name"], ["--help"], resilient_parsing=True) as ctx:
                sys.stdout.write(ctx.get_help() + "\n")
            return 0
        try:
            code = super().main(args, **kwargs)
        except click_errors.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            raise UsageError(f"{exc.format_message()}{hint}") from None
        except typer.Abort:
            raise Interrupted("aborted") from None
        except click_errors.ClickException as exc:
            fail(exc.format_message(), exc.exit_code)
        return code if isinstance(code, int) else 0

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            teach(command, cmd_name)
        return command


def teach(command: Any, path: str) -> None:
    """Give a command (and a group's subcommands) its examples and exit codes, argument names that
    read as such (PROFILE, VERSION), and completion of profile names and versions."""
    from hotswap_cli.cli.completion import complete_profile, complete_version
    from hotswap_cli.cli.helptext import epilog

    ours = epilog(path)
    if ours and ours not in (command.epilog or ""):
        command.epilog = f"{command.epilog}\n\n{ours}" if command.epilog else ours
    for param in command.params:
        if param.param_type_name == "argument":
            param.metavar = param.metavar or param.name.upper()
            if param.required and param.nargs == 1:  # `deploy PROFILE [VERSION]`, not typer's `{PROFILE}`
                param._usage_display_name = lambda name=param.metavar: name  # typer 0.29
                param.make_metavar = lambda *_, name=param.metavar, **__: name  # typer 0.28
        if param.name == "profile" and param.param_type_name == "argument":
            param._custom_shell_complete = complete_profile
        elif (path, param.name) in VERSION_PARAMS:
            param._custom_shell_complete = VERSION_PARAMS[(path, param.name)]
        elif param.name == "version":
            param._custom_shell_complete = complete_version
    for name, sub in getattr(command, "commands", {}).items():
        teach(sub, f"{path} {name}")


def _complete_option_version(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """`rollback PROFILE --to <TAB>`: click stops parsing at an option still missing its value,
    before it assigns the arguments, so PROFILE is still the first of the unparsed ones."""
    from hotswap_cli.cli.completion import complete_version

    if ctx.params.get("profile") is None and ctx.args:
        ctx.params["profile"] = ctx.args[0]  # a context made for this one completion
    return complete_version(ctx, param, incomplete)


def _complete_side(ctx: Any, param: Any, incomplete: str) -> list[str]:
    """A side of `hotswap diff`: the profile's versions, then `worktree`. A git revision or
    `live:INSTANCE` is typed out (naming instances would mean reading the profile's config)."""
    from hotswap_cli.cli.completion import complete_version

    return [*complete_version(ctx, param, incomplete), *(["worktree"] if "worktree".startswith(incomplete) else [])]


# options and arguments that take a version without being called `version`: (command path, name)
VERSION_PARAMS: dict[tuple[str, str], Callable[[Any, Any, str], list[str]]] = {
    ("rollback", "to"): _complete_option_version,
    ("diff", "a"): _complete_side,
    ("diff", "b"): _complete_side,
}


def hoist_json(args: list[str]) -> tuple[list[str], bool]:
    """`--json` is a global option that may also follow the command (`hotswap render X --json`):
    every `--json` before a `--` is taken out and given once, before the command."""
    end = args.index("--") if "--" in args else len(args)
    given = "--json" in args[:end]
    if not given:
        return args, False
    return ["--json", *(a for a in args[:end] if a != "--json"), *args[end:]], True


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
        no_args_is_help=False,
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
        elif arg in ("--repo", "--ssh-config"):
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


def _completing() -> bool:
    """Is the shell asking for completions (`_HOTSWAP_COMPLETE=…`) rather than running a command?"""
    return any(k.endswith("_COMPLETE") for k in os.environ)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    build_app(None if _completing() else _command_name(args))(args=args, prog_name="hotswap")
