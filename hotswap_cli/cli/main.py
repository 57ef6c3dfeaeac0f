"""Console entry point: `hotswap validate` runs without loading typer; all else goes to the app."""

from __future__ import annotations

import os
import sys


def _std_streams() -> None:
    """A CI step may start hotswap with stdin (or stdout, stderr) closed (`hotswap … <&-`). The
    descriptor then stays free and the first file or pipe hotswap opens would take its place (a
    lock file read as stdin by git, a log written to as stdout), so /dev/null is put there: stdin
    reads as end of input, and a closed stdout or stderr discards what is written."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, os.O_RDWR)
            if opened != fd:  # pragma: no cover - the lowest free descriptor is always taken first
                os.dup2(opened, fd)
                os.close(opened)
            setattr(sys, name, open(fd, mode, closefd=False, encoding="utf-8"))  # noqa: SIM115


def _more_open_files() -> None:
    """A deploy keeps a connection per instance open from the plan's read to the end of its run
    (and its probes, git and the ledger need more): 1000 instances are at the edge of the usual
    soft limit of 1024 descriptors, 10,000 far past it. The soft limit is raised as far as the hard
    limit allows (what `ulimit -n` would do), never lowered."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, OSError, ValueError):  # pragma: no cover - not on this platform, or refused
        pass


def _no_httpx_command_line() -> None:
    """httpx imports its own command-line client (`httpx._main`: rich's console, click, pygments)
    whenever those are installed, as they are beside typer: ~70 ms of every command that talks
    http, for a client hotswap never runs. None in sys.modules makes that one import fail, and
    httpx then falls back to its stub (`httpx.main` says how to install httpx[cli])."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


GC_THRESHOLD = (50_000, 20, 20)  # Python's default is (700, 10, 10)


def _fewer_collections() -> None:
    """A fleet-sized run allocates millions of short-lived objects (parsed YAML nodes, requests,
    events) beside a large live set (a spec, a slot and a connection per instance): with Python's
    default thresholds the cyclic collector runs every 700 allocations and its full passes walk
    the whole live set. Fewer passes, same memory here: `status` of 1000 instances 1.72 -> 1.50 s,
    a 10,000-instance deploy 39.7 -> 35.8 s (docs/performance.md). Cycles are still collected."""
    import gc

    gc.set_threshold(*GC_THRESHOLD)


def main(argv: list[str] | None = None) -> None:
    _fewer_collections()
    _no_httpx_command_line()
    _std_streams()
    _more_open_files()
    args = sys.argv[1:] if argv is None else argv
    from hotswap_cli.cli.fast_validate import run_if_simple

    run_if_simple(args)  # exits when it handled the command line
    from hotswap_cli.cli.app import main as app_main

    app_main(args)
