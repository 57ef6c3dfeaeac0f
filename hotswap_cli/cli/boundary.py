"""The one error boundary: every failure becomes one line on stderr and a documented exit code."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import NoReturn

from hotswap_cli import redact
from hotswap_cli.errors import ExitCode, HotswapError


def run_guarded(command: Callable[[], int | None]) -> NoReturn:
    """Run `command` and exit with its code; expected errors print one line, unexpected ones
    one line plus the path of a file holding the traceback (never locals: they may hold secrets).
    Everything written to stdout and stderr meanwhile is scrubbed of secret values (see redact)."""
    with redact.scrubbed_stdio():
        try:
            code = command()
        except HotswapError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", ExitCode.INTERRUPTED)
        except BrokenPipeError:
            sys.exit(ExitCode.ERROR)
        except Exception as exc:  # noqa: BLE001 - the boundary
            path = _write_traceback()
            fail(f"unexpected error: {type(exc).__name__}: {exc} (traceback written to {path})", ExitCode.ERROR)
        sys.exit(code or 0)


def fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"hotswap: error: {message}\n")
    sys.stderr.flush()
    sys.exit(int(code))


def _write_traceback() -> str:
    fd, path = tempfile.mkstemp(prefix="hotswap-traceback-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(redact.scrub(traceback.format_exc()))
    return path
