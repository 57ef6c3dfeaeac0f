"""Local commands for checks, reloads and command probes: argv only (never a shell), with a deadline."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence

from hotswap_cli.io.steps import step_error


def argv_of(command: str | Sequence[str], staged: str | None = None) -> list[str]:
    """A command as argv (a string is split like a shell would, never run by one); {path} -> staged."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return [a.replace("{path}", staged) for a in argv] if staged is not None else argv


def tail(text: str, lines: int = 5) -> str:
    """The last lines of a command's output, joined on one line for an error message."""
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "no output"


KEY_VARIABLES = "HOTSWAP_SECRET_KEY"  # _FILE, _COMMAND: how hotswap finds its key


def command_environment() -> dict[str, str]:
    """The environment a check, reload or probe command runs with: ours without the key settings
    (a command that echoes its environment, or a compromised validator, cannot print the key)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(KEY_VARIABLES)}


def run_command(instance: str, what: str, argv: list[str], *, timeout: float,
                env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `argv` with stdin closed; (exit status, its output: stdout and stderr on one stream, in
    the order it printed them, so the end holds the reason whichever stream it went to). A command
    that cannot run or overruns `timeout` raises TransportError naming `what` (check, reload, command)."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env={**command_environment(), **(env or {})})
    except FileNotFoundError:
        raise step_error(instance, what, f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise step_error(instance, what, f"command timed out after {timeout:g}s") from None
    except OSError as exc:
        raise step_error(instance, what, f"command could not run: {argv[0]}: {exc.strerror}") from None
    return proc.returncode, proc.stdout
