"""`hotswap demo`: a good canary deploy, then a bad one reverted by the health gate, on 5 local
instances that are stopped again at the end."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotswap_cli.cli.env import Env
from hotswap_cli.errors import ExitCode, HotswapError

if TYPE_CHECKING:
    from rich.console import Console


def run_demo(env: Env, *, bake: str = "3s", keep: bool = False) -> int:
    from hotswap_cli.cli.deploy import run_deployment
    from hotswap_cli.core.deploy.prepare import DeployOptions, prepare
    from hotswap_cli.core.secrets.crypto import DEMO_SECRET_KEY, KEY_ENV
    from hotswap_cli.core.versions.git import GitRepo
    from hotswap_cli.core.versions.release import release
    from hotswap_cli.demo import scenario
    from hotswap_cli.demo.instances import start_instances, stop_instances

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="hotswap-demo-"))
    os.environ.setdefault(KEY_ENV, DEMO_SECRET_KEY)  # the example repo's secrets use the demo-only key
    os.environ.setdefault("HOTSWAP_CACHE_DIR", str(work / "cache"))
    instances = []
    try:
        _step(env, "starting 5 demo instances on 127.0.0.1")
        instances = start_instances(5, work / "instances")
        for inst in instances:
            env.message(f"  {inst.name}  {inst.url}")
        root = scenario.make_repo(work / "config-repo", instances, bake=bake)
        env.repo_option = root
        git_repo = GitRepo(root)
        profile = scenario.PROFILE
        shown = _StderrEnv(repo_option=root, no_color=env.no_color, cwd=env.cwd) if env.json else env

        _step(env, f"release {profile} 1.0.0 and deploy it by canary (10% -> 30% -> 50% -> 100%)")
        release(git_repo, profile, "1.0.0", "demo: a healthy config")
        first = run_deployment(shown, prepare(root, profile, DeployOptions(version="1.0.0")),
                               dry_run=False, yes=True, lock_wait=0)
        if first != ExitCode.OK:
            raise HotswapError(f"the good deploy did not complete (exit {first})")

        _step(env, f"release {profile} 1.1.0: simulate.errorRate 0.005 -> 0.4 (a bad config), deploy it")
        scenario.set_error_rate(root, 0.4)
        scenario.commit(root, "demo: raise the error rate")
        release(git_repo, profile, "1.1.0", "demo: a config that breaks the service")
        second = run_deployment(shown, prepare(root, profile, DeployOptions(version="1.1.0")),
                                dry_run=False, yes=True, lock_wait=0)
        if second != ExitCode.REVERTED:
            raise HotswapError(f"the bad deploy was expected to be reverted (exit 6), got exit {second}")

        _step(env, "status: every instance is back on 1.0.0")
        from hotswap_cli.ops.status import profile_status

        report = profile_status(root, profile, metrics_gap=0.5)
        for row in report.instances:
            env.message(f"  {row.instance}: running {row.running}; {row.health}")
        wrong = [r.instance for r in report.instances if r.running != "1.0.0"]
        if wrong:
            raise HotswapError(f"instances not back on 1.0.0: {', '.join(wrong)}")
        _step(env, f"demo finished in {time.monotonic() - started:.1f}s: the good version rolled out, "
                   f"the bad one was caught by the health gate and reverted")
        if keep:
            env.message(f"kept: config repo {root}, instances in {work / 'instances'} "
                        f"(stop with `hotswap demo down --dir {work / 'instances'}`)")
        if env.json:
            env.print_json(_summary(git_repo, profile, report, time.monotonic() - started,
                                    {"repo": str(root), "instances": str(work / "instances")} if keep else None))
        return ExitCode.OK
    finally:
        if not keep:
            if instances:
                stop_instances(work / "instances")
            shutil.rmtree(work, ignore_errors=True)


def _step(env: Env, text: str) -> None:
    env.message("")
    env.message(f"==> {text}", style="bold")


class _StderrEnv(Env):
    """Under --json the demo's deploys show their plan and progress as text on stderr: stdout
    holds the one summary document."""

    @cached_property
    def out(self) -> Console:
        return self.err


def _summary(git_repo: Any, profile: str, report: Any, elapsed: float, kept: dict[str, str] | None) -> dict[str, Any]:
    """`demo --json`: the two runs (from the ledger, oldest first), where each instance ended, how long it took."""
    from hotswap_cli.core.deploy.ledger import read_records

    runs = [{k: r.get(k) for k in ("id", "version", "status", "exit_code", "reason")}
            for r in reversed(read_records(git_repo, profile))]
    return {"profile": profile, "deploys": runs, "elapsed_s": round(elapsed, 3),
            "instances": [{"instance": row.instance, "running": row.running, "healthy": row.healthy}
                          for row in report.instances], "kept": kept}
