"""When the plan's read of an instance may stand for the run's (runner.slot.PriorRead): not after
another run of the profile was recorded since the read."""

from __future__ import annotations

import time

from hotswap_cli.core.deploy import ledger
from hotswap_cli.core.versions.git import GitRepo
from hotswap_cli.ops.run import _ran_since
from hotswap_cli.runner.slot import PriorRead

OLD = b'{"queue": {"name": "old"}}'


def test_a_run_recorded_after_the_plans_read_makes_the_read_stale(local_repo: GitRepo) -> None:
    read = PriorRead(transport=None, current=OLD, read_at=time.monotonic() - 5)  # type: ignore[arg-type]
    assert not _ran_since(local_repo, "web.development", {"web-1": read}, frozenset())
    ledger.append_record(local_repo, {"id": "deploy-x", "kind": "deploy", "profile": "web.development",
                                      "version": "1.0.0", "status": "completed",
                                      "started_at": ledger.utc_iso(time.time() - 2), "finished_at": ledger.utc_iso(),
                                      "instances": []})
    assert _ran_since(local_repo, "web.development", {"web-1": read}, frozenset())
    later = PriorRead(None, OLD, time.monotonic() + 3)  # type: ignore[arg-type]
    assert not _ran_since(local_repo, "web.development", {"web-1": later}, frozenset())
    # another profile's run: no matter
    assert not _ran_since(local_repo, "other.development", {"web-1": read}, frozenset())


def test_a_run_the_plan_saw_in_the_ledger_does_not_make_its_reads_stale(local_repo: GitRepo) -> None:
    """Back-to-back deploys: the last run finished a second before this one's reads. The plan read
    the ledger before the instances, and that run's record was in it: the reads stand. A record the
    plan did not see, with the same time, makes them stale."""
    for n in (1, 2):
        ledger.append_record(local_repo, {"id": f"deploy-{n}", "kind": "deploy", "profile": "web.development",
                                          "version": "1.0.0", "status": "completed",
                                          "started_at": ledger.utc_iso(time.time() - 2),
                                          "finished_at": ledger.utc_iso(), "instances": []})
        seen = frozenset(str(r["id"]) for r in ledger.read_records(local_repo, "web.development"))
        read = PriorRead(None, OLD, time.monotonic())  # type: ignore[arg-type]
        assert not _ran_since(local_repo, "web.development", {"web-1": read}, seen)
        assert _ran_since(local_repo, "web.development", {"web-1": read}, frozenset({"deploy-0"}))
