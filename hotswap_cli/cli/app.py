"""The `hotswap` command: global options, command registration, and the one error boundary."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

import click
import typer
from typer.core import TyperGroup

from hotswap_cli import __version__
from hotswap_cli.cli import init as init_cmd
from hotswap_cli.cli import profiles as profiles_cmd
from hotswap_cli.cli import render as render_cmd
from hotswap_cli.cli import validate as validate_cmd
from hotswap_cli.cli.context import Env
from hotswap_cli.errors import ExitCode, HotswapError


class BoundaryGroup(TyperGroup):
    """Turns every failure into one line on stderr and a documented exit code."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        try:
            code = super().main(args=args, prog_name=prog_name or "hotswap", complete_var=complete_var,
                                standalone_mode=False, **extra)
        except HotswapError as exc:
            _fail(str(exc), exc.exit_code)
        except click.exceptions.UsageError as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
            _fail(f"{exc.format_message()}{hint}", ExitCode.USAGE)
        except click.exceptions.Abort:
            _fail("aborted", ExitCode.INTERRUPTED)
        except KeyboardInterrupt:
            _fail("interrupted", ExitCode.INTERRUPTED)
        except click.exceptions.ClickException as exc:
            _fail(exc.format_message(), ExitCode(exc.exit_code) if exc.exit_code in iter(ExitCode) else 1)
        except BrokenPipeError:
            sys.exit(ExitCode.ERROR)
        except Exception as exc:  # noqa: BLE001 - the boundary: one line, traceback to a file
            path = _write_traceback()
            _fail(f"unexpected error: {type(exc).__name__}: {exc} (traceback written to {path})", ExitCode.ERROR)
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"hotswap: error: {message}\n")
    sys.stderr.flush()
    sys.exit(int(code))


def _write_traceback() -> str:
    fd, path = tempfile.mkstemp(prefix="hotswap-traceback-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(traceback.format_exc())
    return path


app = typer.Typer(
    cls=BoundaryGroup,
    name="hotswap",
    help="Ship service configuration from a Git repository to running instances with zero downtime.",
    pretty_exceptions_enable=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"hotswap {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _global(
    ctx: typer.Context,
    repo: Path = typer.Option(None, "--repo", help="Config repo directory (default: find hotswap.yaml upward)."),
    json_output: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    no_color: bool = typer.Option(False, "--no-color", help="No colour (also: NO_COLOR, or stdout not a TTY)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    ctx.obj = Env(repo_option=repo, json=json_output, no_color=no_color)


app.command("init")(init_cmd.init)
app.command("profiles")(profiles_cmd.profiles)
app.command("render")(render_cmd.render)
app.command("validate")(validate_cmd.validate)


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="hotswap")
