"""ops.journal.JournalKeeper: the write before a phase is made before the phase goes on; the best-effort
writes (the run started, a gate passed) are made at once by the background writer, and the run does
not wait for them."""

from __future__ import annotations

import threading
import time

from hotswap_cli.core.deploy import journal as journals
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.ops.journal import LIVE_INTERVAL, JournalKeeper
from hotswap_cli.runner.events import DeployStarted, InstanceState, PhasePrepared, VerdictReached
from hotswap_cli.runner.gate import Verdict

PROFILE = "web.development"


def states(repo: GitRepo) -> dict[str, str] | None:
    found = journals.read(repo, PROFILE)
    return None if found is None else {name: entry.state for name, entry in found.instances.items()}


def wait_for(check: object, seconds: float) -> float:
    """Seconds until `check()` held (or AssertionError after `seconds`)."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < seconds, f"not within {seconds}s"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_gate_is_written_at_once_and_the_run_does_not_wait_for_it(local_repo: GitRepo) -> None:
    keeper = JournalKeeper(local_repo, journals.new_journal(
        local_repo, record_id="deploy-1", kind="deploy", profile=PROFILE, version="1.1.0", sha256="ab" * 32,
        strategy="rolling", phases=2, total=2), {})
    try:
        keeper.emit(DeployStarted(0.0, PROFILE, "1.1.0", "rolling", 2, 2))
        wait_for(lambda: states(local_repo) == {}, 5)  # the run started: written by the background writer
        keeper.emit(PhasePrepared(0.1, 1, (("web-1", True, "old"),)))
        assert states(local_repo) == {"web-1": "pushing"}  # before the phase goes on: written already

        keeper.emit(InstanceState(0.2, "web-1", "live"))
        with keeper._writing:  # a slow write in flight (a push to a far origin)
            emitted = threading.Event()
            verdict = threading.Thread(target=lambda: (keeper.emit(VerdictReached(0.3, 1, True, Verdict())),
                                                       emitted.set()))
            verdict.start()
            assert emitted.wait(2), "the run waited for the gate's journal write"
        took = wait_for(lambda: states(local_repo) == {"web-1": "live"}, 5)
        assert took < LIVE_INTERVAL * 0.75, f"the gate's write waited for the live interval ({took:.2f}s)"
    finally:
        keeper.stop()
