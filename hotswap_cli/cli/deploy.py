"""`hotswap deploy`: show the plan, confirm, run it with health gates and automatic revert."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hotswap_cli.cli.context import JSON_OPTION, Env, env_of
from hotswap_cli.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from hotswap_cli.cli.progress import JsonLines, Progress
    from hotswap_cli.core.deploy.lock import Holder as LockHolder
    from hotswap_cli.core.deploy.prepare import Deployment
    from hotswap_cli.ops.live import LiveConfig
    from hotswap_cli.runner.gate import Verdict
    from hotswap_cli.runner.results import DeployResult
    from hotswap_cli.runner.slot import PriorRead

# shared with `hotswap rollback`
TARGETS_OPTION = typer.Option(None, "--targets", help="Only these instances, comma-separated.")
DRY_RUN_OPTION = typer.Option(False, "--dry-run", help="Print the plan and stop.")
YES_OPTION = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation (CI).")
WAIT_OPTION = typer.Option("0", "--wait-for-lock", help="Wait this long for another deploy, e.g. 2m.")
APPROVERS_OPTION = typer.Option(None, "--approvers", envvar="HOTSWAP_APPROVERS",
                                help="Trusted approvers file (default: from the default branch).")
PAUSE_DEADLINE = 30 * 60.0  # a paused gate aborts when nobody answers within this


def split_names(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None


def deploy(
    ctx: typer.Context,
    profile: str = typer.Argument(..., help="Profile name, e.g. payment-service.production."),
    version: str = typer.Argument(None, help="Version X.Y.Z (default: the latest released version)."),
    rev: str = typer.Option(None, "--rev", help="Deploy a git revision instead of a version (not Production)."),
    canary: float = typer.Option(None, "--canary", help="Canary, first phase P% (then 30, 50, 100)."),
    steps: str = typer.Option(None, "--steps", help="Canary phases, e.g. 5,25,100; `pause` (until `hotswap "
                              "resume`) or `pause:10m` after a step pauses there: 10,pause,50,100."),
    rolling: bool = typer.Option(False, "--rolling", help="Rolling batches."),
    batch: str = typer.Option(None, "--batch", help="Rolling batch size: N or P%."),
    blue_green: bool = typer.Option(False, "--blue-green", help="Stage and check everywhere, then switch all."),
    direct: bool = typer.Option(False, "--direct", help="All at once (bounded concurrency)."),
    concurrency: int = typer.Option(None, "--concurrency", min=1, help="Pushes at once (direct: default 50)."),
    bake: str = typer.Option(None, "--bake", help="Bake after each phase, e.g. 30s, 5m."),
    interval: str = typer.Option(None, "--interval", help="Health sampling interval during a bake."),
    targets: str = TARGETS_OPTION,
    dry_run: bool = DRY_RUN_OPTION,
    yes: bool = YES_OPTION,
    wait_for_lock: str = WAIT_OPTION,
    approvers: Path = APPROVERS_OPTION,
    require_signed: bool = typer.Option(False, "--require-signed-commits",
                                        help="Every commit since the last deployed version must be signed."),
    force: bool = typer.Option(False, "--force", help="Deploy even though an interrupted run's journal is open "
                               "(its instances stay as they are; `hotswap rollback` would put them back)."),
    redeploy: bool = typer.Option(False, "--redeploy", help="Push the version even where it already runs "
                                  "(otherwise a deploy of what runs everywhere does nothing)."),
    full_diff: bool = typer.Option(False, "--full-diff", help="Show whole values in the plan's diff "
                                   "(added subtrees too; secrets stay masked)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Deploy a version: plan, confirm, canary/rolling/blue-green/direct with health gates."""
    from hotswap_cli.core.deploy.prepare import DeployOptions, prepare

    env = env_of(ctx, json=json_output)
    options = DeployOptions(
        version=version, rev=rev, **_strategy_options(canary, steps, rolling, batch, blue_green, direct),
        concurrency=concurrency, bake=duration_option(bake, "--bake"),
        interval=duration_option(interval, "--interval"),
        targets=split_names(targets),
        approvers_path=approvers, require_signed_commits=require_signed,
        defer_approvals=dry_run,  # --dry-run shows the plan, then exits 4
    )
    deployment = prepare(env.root, profile, options)
    code = run_deployment(env, deployment, dry_run=dry_run, yes=yes,
                          lock_wait=duration_option(wait_for_lock, "--wait-for-lock") or 0.0, force=force,
                          redeploy=redeploy, full_diff=full_diff)
    if code:
        raise typer.Exit(code)


def run_deployment(env: Env, deployment: Deployment, *, dry_run: bool, yes: bool, lock_wait: float,
                   kind: str = "deploy", force: bool = False, redeploy: bool = False,
                   full_diff: bool = False) -> int:
    """Shared by deploy and rollback: show, confirm, execute, report. Returns the exit code."""
    from hotswap_cli.cli.plan_view import read_targets
    from hotswap_cli.ops.live import kept_reads

    # each instance is read once: the plan's read, with its transport, goes on into the run
    live = read_targets(deployment, keep=not dry_run and kind == "deploy")
    with kept_reads(live) as prior:
        return _show_and_run(env, deployment, live, prior, dry_run=dry_run, yes=yes, lock_wait=lock_wait,
                             kind=kind, force=force, redeploy=redeploy, full_diff=full_diff)


def _show_and_run(env: Env, deployment: Deployment, live: list[LiveConfig], prior: dict[str, PriorRead], *,
                  dry_run: bool, yes: bool, lock_wait: float, kind: str, force: bool, redeploy: bool,
                  full_diff: bool) -> int:
    from hotswap_cli.cli.plan_view import all_current, live_diffs, plan_dict, print_plan

    diffs = live_diffs(deployment, live)
    if env.json:
        env.print_json_line({"event": "plan", **plan_dict(deployment, diffs, kind)})
    else:
        print_plan(env, deployment, diffs, kind, dry_run=dry_run, full_diff=full_diff)
    for warning in deployment.warnings:
        env.message(f"hotswap: warning: {warning}", style="bold yellow")
    # a deploy only: a rollback may be settling an interrupted run's journal, and says what it restores
    unchanged = kind == "deploy" and not redeploy and all_current(diffs) and not _interrupted_run(env, deployment)
    if dry_run:
        if unchanged:
            env.message(_unchanged_message(deployment))
        env.message("dry run: nothing was changed")
        if deployment.approval_error is not None:
            raise deployment.approval_error
        return ExitCode.OK
    if deployment.approval_error is not None:  # only deferred for a dry run; never deploy past it
        raise deployment.approval_error
    if unchanged:
        env.message(_unchanged_message(deployment))
        if env.json:
            env.print_json_line(_no_run(deployment, kind, "unchanged"))
        return ExitCode.OK
    if not yes and not _confirm(env, kind, deployment):
        env.message(f"{kind} cancelled: nothing was changed")
        if env.json:
            env.print_json_line(_no_run(deployment, kind, "cancelled"))
        return ExitCode.OK
    return _execute(env, deployment, lock_wait, kind, force, prior)


def _no_run(deployment: Deployment, kind: str, status: str) -> dict[str, Any]:
    """The `result` line of a run that did not start: every instance already runs the version
    (`unchanged`: each is `live` on it) or the person at the prompt said no (`cancelled`)."""
    state = "live" if status == "unchanged" else "pending"
    return {"event": "result", "kind": kind, "id": None, "profile": deployment.profile.name,
            "version": deployment.version, "strategy": deployment.plan.strategy, "status": status, "exit_code": 0,
            "reason": "", "recorded": False,
            "instances": [{"instance": t.name, "state": state, "touched": False} for t in deployment.targets]}


def _interrupted_run(env: Env, deployment: Deployment) -> bool:
    """An open journal (a run that died or left instances unknown): then a deploy is never a no-op,
    whatever the instances answer now; it stops at the journal (exit 5) unless --force settles it."""
    from hotswap_cli.core.deploy import journal
    from hotswap_cli.core.deploy.prepare import open_git

    return journal.read_open(open_git(env.root), deployment.profile.name) is not None


def _unchanged_message(deployment: Deployment) -> str:
    n = len(deployment.targets)
    return (f"nothing to do: {deployment.profile.name} {deployment.version} already runs on "
            f"{'the only instance' if n == 1 else f'all {n} instances'} (--redeploy pushes it again)")


def _execute(env: Env, deployment: Deployment, lock_wait: float, kind: str, force: bool,
             prior: dict[str, PriorRead] | None = None) -> int:
    from hotswap_cli.cli.progress import JsonLines, Progress
    from hotswap_cli.ops.run import RunSettings, execute
    from hotswap_cli.runner import cancel_on_signals

    cancel = threading.Event()
    plan = deployment.plan
    phase_of: dict[str, int] = {}
    for p in plan.phases:
        for t in p.targets:
            phase_of.setdefault(t.name, p.number)
    sink: JsonLines | Progress = JsonLines() if env.json else Progress(list(phase_of.items()), color=env.color,
                                                                           plan=plan)

    def waiting(holder: LockHolder) -> None:
        env.message(f"waiting for the deploy lock: {holder.describe()}")

    try:
        with cancel_on_signals(cancel):
            outcome = execute(env.root, deployment, RunSettings(sink=sink, cancel=cancel, lock_wait=lock_wait,
                                                                on_lock_wait=waiting, force=force, prior=prior,
                                                                ask=_asker(env, sink, cancel)), kind=kind)
    finally:
        sink.close()
    result = outcome.result
    unrecorded = outcome.push_problem is not None and result.ok and _ledger_push_required(env)
    if outcome.push_problem and not unrecorded:
        env.message(f"hotswap: warning: the ledger record was kept locally, not pushed: {outcome.push_problem}")
    for problem in outcome.problems:
        env.message(f"hotswap: warning: {problem}")
    code = ExitCode.UNRECORDED if unrecorded else result.exit_code
    if isinstance(sink, JsonLines):
        env.print_json_line(_result_line(result, outcome.record, kind, code, outcome.push_problem is None))
    else:
        _summary(env, result, outcome.record["id"], kind, sink.said)
    if unrecorded:
        env.message(f"hotswap: {kind} {outcome.record['id']} completed, but its ledger record is not on origin "
                    f"(the audit trail is incomplete): {outcome.push_problem}; send it with "
                    "`hotswap deployments --push`")
    return int(code)


def _result_line(result: DeployResult, record: dict[str, Any], kind: str, code: int, recorded: bool) -> dict[str, Any]:
    """The stream's last line: the run's outcome, its times as the ledger record has them (UTC)."""
    line: dict[str, Any] = {"event": "result", "kind": kind, "id": record["id"], **result.to_dict(),
                            "exit_code": int(code), "recorded": recorded}
    for key in ("started_at", "finished_at", "duration_s"):
        line[key] = record.get(key)
    line["instances"] = record.get("instances", line["instances"])  # their times as UTC, like the record's
    return line


def _ledger_push_required(env: Env) -> bool:
    """Whether a record that cannot reach origin fails the command (exit 8): `ledger: {push: warn}`
    in hotswap.yaml or HOTSWAP_LEDGER_PUSH=warn makes it a warning."""
    import os

    if os.environ.get("HOTSWAP_LEDGER_PUSH", "").strip().lower() == "warn":
        return False
    try:
        return env.repo.settings.ledger_push != "warn"
    except Exception:  # noqa: BLE001 - an unreadable hotswap.yaml: the strict default
        return True


def _unrepeated(result: DeployResult, said: Collection[tuple[str, str]]) -> str:
    """The run's reason without the instance errors a progress line already printed: `web-1: why`
    becomes `web-1 (error above)`, `web-1, web-2 (web-1: why)` becomes `web-1, web-2 (errors above)`."""
    reason = result.reason or ""
    for instance, detail in said:
        told = f"{instance}: {detail}"
        if told in reason:
            reason = reason.replace(f" ({told})", " (errors above)").replace(told, f"{instance} (error above)")
    return reason


def _summary(env: Env, result: DeployResult, record_id: str, kind: str,
             said: Collection[tuple[str, str]] = ()) -> None:
    reason = _unrepeated(result, said)
    if result.ok:
        env.message(f"{kind} {record_id}: {result.profile} {result.version} is live on "
                    f"{len(result.instances)} instance(s)")
    elif result.status == "revert_failed":
        env.message(f"{kind} {record_id} FAILED and could not restore: {', '.join(result.unrestored)} "
                    f"({reason}); fix these instances by hand or run `hotswap rollback {result.profile}`")
    elif result.status == "interrupted" and any(i.state == "unknown" for i in result.instances):
        env.message(f"{kind} {record_id} interrupted: the others were reverted, but some did not answer "
                    f"({reason}); run `hotswap rollback {result.profile}` to put them back")
    elif result.status == "interrupted":
        env.message(f"{kind} {record_id} interrupted: touched instances were reverted ({reason})")
    elif result.status == "reverted":
        env.message(f"{kind} {record_id} failed and was reverted: {reason}")
    else:
        env.message(f"{kind} {record_id} failed before changing anything: {reason}")


def _asker(env: Env, sink: JsonLines | Progress, cancel: threading.Event) -> Callable[[Verdict], bool] | None:
    """On a terminal, a paused gate (`on_inconclusive: pause`) asks whether to promote or abort;
    elsewhere there is nobody to ask and the runner fails the phase."""
    if not sys.stdin.isatty():
        return None

    def ask(verdict: Verdict) -> bool:
        with sink.suspended():
            env.message(f"phase {verdict.phase} is paused, the evidence is inconclusive: {verdict.summary()}")
            answer = _read_answer(f"promote phase {verdict.phase} (go on) or abort (revert)? [p/a] ", cancel,
                                  PAUSE_DEADLINE)
            if answer is None:
                env.message("no answer: aborting" if not cancel.is_set() else "interrupted: aborting")
                return False
            return answer.startswith("p")

    return ask


def _read_answer(question: str, cancel: threading.Event, deadline: float) -> str | None:
    """A line from the terminal, or None on Ctrl-C (the cancel flag) or when `deadline` seconds pass."""
    import select
    import time

    ends = time.monotonic() + deadline
    while True:
        sys.stderr.write(question)
        sys.stderr.flush()
        while True:
            if cancel.is_set() or time.monotonic() >= ends:
                return None
            ready, _, _ = select.select([sys.stdin], [], [], 0.5)
            if ready:
                break
        line = sys.stdin.readline()
        if not line:  # end of input
            return None
        answer = line.strip().lower()
        if answer[:1] in ("p", "a"):
            return answer


def _confirm(env: Env, kind: str, deployment: Deployment) -> bool:
    """The person at the terminal said yes (no is not an error: nothing was changed, exit 0)."""
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {kind} without confirmation: stdin is not a terminal",
                         hint="pass --yes (CI) or --dry-run")
    sys.stderr.write(f"{confirm_question(deployment, kind)} [y/N] ")
    sys.stderr.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def confirm_question(deployment: Deployment, kind: str) -> str:
    """`Deploy web.production 1.4.0 (Production) to 10 instances?`: what, where, and how many."""
    n = len(deployment.targets)
    despite = " despite the warning above" if deployment.warnings else ""
    return (f"{kind.capitalize()} {deployment.profile.name} {deployment.version} ({deployment.profile.environment}) "
            f"to {n} instance{'' if n == 1 else 's'}{despite}?")


def duration_option(text: str | None, option: str) -> float | None:
    """`--bake 30s` and friends as seconds; a bad value is a usage error naming the option."""
    if text is None:
        return None
    from hotswap_cli.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _strategy_options(canary: float | None, steps: str | None, rolling: bool, batch: str | None,
                      blue_green: bool, direct: bool) -> dict[str, Any]:
    from hotswap_cli.core.config.strategies import canary_steps, parse_step_list

    chosen = [name for name, on in (("--canary", canary is not None), ("--steps", steps is not None),
                                    ("--rolling", rolling or batch is not None), ("--blue-green", blue_green),
                                    ("--direct", direct)) if on]
    if len(chosen) > 1 and set(chosen) != {"--canary", "--steps"}:
        raise UsageError(f"choose one strategy: {' and '.join(chosen)} were both given")
    if canary is not None and steps is not None:
        raise UsageError("--canary and --steps both set the canary phases: give one")
    if canary is not None:
        return {"strategy": "canary", "steps": canary_steps(canary)}
    if steps is not None:
        parsed, pauses = parse_step_list(steps)
        return {"strategy": "canary", "steps": parsed, "pauses": pauses}
    if rolling or batch is not None:
        return {"strategy": "rolling", "batch": batch}
    if blue_green:
        return {"strategy": "blue-green"}
    if direct:
        return {"strategy": "direct"}
    return {}
