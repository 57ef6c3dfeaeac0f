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
    assert not _ran_since(local_repo, "web.development", {"web-1": read})
    ledger.append_record(local_repo, {"id": "deploy-x", "kind": "deploy", "profile": "web.development",
                                      "version": "1.0.0", "status": "completed",
                                      "started_at": ledger.utc_iso(time.time() - 2), "finished_at": ledger.utc_iso(),
                                      "instances": []})
    assert _ran_since(local_repo, "web.development", {"web-1": read})
    later = PriorRead(None, OLD, time.monotonic() + 3)  # type: ignore[arg-type]
    assert not _ran_since(local_repo, "web.development", {"web-1": later})
    assert not _ran_since(local_repo, "other.development", {"web-1": read})  # another profile's run: no matter
