"""Console entry point: `hotswap validate` runs without loading typer; all else goes to the app."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    from hotswap_cli.cli.fast_validate import run_if_simple

    run_if_simple(args)  # exits when it handled the command line
    from hotswap_cli.cli.app import main as app_main

    app_main(args)
