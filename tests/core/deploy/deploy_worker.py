"""One of the concurrent "deploys" of test_concurrency.py: lock, critical section, ledger, release."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hotswap_cli.core.deploy import ledger, lock
from hotswap_cli.core.versions.git import GitRepo


def main(clone: str, out: str, index: str) -> None:
    repo = GitRepo(Path(clone))
    profile = "payment-service.production"
    with lock.acquire(repo, profile, wait=60, poll=0.1, purpose=f"worker {index}"):
        start = time.time()
        time.sleep(0.2)  # the "deploy"
        # No fetch first: the push is rejected by the previous worker's record, exercising the rebase.
        ledger.append_record(repo, {"id": f"deploy-worker-{index}", "kind": "deploy", "profile": profile,
                                    "version": f"1.0.{index}", "status": "completed"})
        ledger.push_ledger(repo)
        end = time.time()
    Path(out, f"{index}.json").write_text(json.dumps({"start": start, "end": end}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
