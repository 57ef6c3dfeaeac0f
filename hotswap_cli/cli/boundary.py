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


def run_guarded(command: Callable[[], int | None], *, json: bool = False, stream: bool = False) -> NoReturn:
    """Run `command` and exit with its code; expected errors print one line, unexpected ones
    one line plus the path of a file holding the traceback (never locals: they may hold secrets).
    With `json`, stdout also gets the error as a JSON document (a line with `"event": "error"` for
    a `stream` command), so it always holds what the JSON contract promises (docs/json.md).
    Everything written to stdout and stderr meanwhile is scrubbed of secret values (see redact)."""
    errors = _Errors(json, stream)
    with redact.scrubbed_stdio():
        try:
            code = command()
        except HotswapError as exc:
            errors.fail(str(exc), exc.exit_code, exc.kind, exc.message, exc.hint)
        except KeyboardInterrupt:
            errors.fail("interrupted", ExitCode.INTERRUPTED, "interrupted")
        except BrokenPipeError:
            sys.exit(ExitCode.ERROR)
        except Exception as exc:  # noqa: BLE001 - the boundary
            path = _write_traceback()
            errors.fail(f"unexpected error: {type(exc).__name__}: {exc} (traceback written to {path})",
                        ExitCode.ERROR, "internal")
        sys.exit(code or 0)


class _Errors:
    def __init__(self, json: bool, stream: bool) -> None:
        self.json, self.stream = json, stream

    def fail(self, line: str, code: int, kind: str, message: str | None = None, hint: str | None = None) -> NoReturn:
        if self.json:
            import json

            document = {"error": {"code": int(code), "kind": kind, "message": message or line, "hint": hint}}
            text = json.dumps({"event": "error", **document} if self.stream else document, ensure_ascii=False)
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        fail(line, code)


def fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"hotswap: error: {message}\n")
    sys.stderr.flush()
    sys.exit(int(code))


def _write_traceback() -> str:
    fd, path = tempfile.mkstemp(prefix="hotswap-traceback-", suffix=".txt")
    with os.fdopen(fd, "w") as fh:
        fh.write(redact.scrub(traceback.format_exc()))
    return path
