"""The deploy plan as people and CI see it: phases, diff against what each instance runs now,
approvals, and how long rollout and revert take."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from hotswap_cli.cli.env import Env
from hotswap_cli.durations import format_duration

if TYPE_CHECKING:
    from hotswap_cli.core.deploy.prepare import Deployment
    from hotswap_cli.model import HealthPolicy
    from hotswap_cli.ops.live import LiveConfig

@dataclass(frozen=True)
class LiveGroup:
    """Instances that run the same thing now, and how the new config differs from it."""

    instances: tuple[str, ...]
    state: str  # "running 1.0.0", "no config yet", "unreadable: ..."
    sha256: str | None
    diff: Any  # ConfigDiff, or None when nothing could be compared
    text_diff: str | None = None  # a unified diff, for payloads compared as text
    status: str = "different"  # current | absent | unreadable | different: `state` for machines (--json)

    @property
    def current(self) -> bool:
        """These instances already run the version under deploy."""
        return self.state == CURRENT


CURRENT = "already running this version"


def all_current(groups: list[LiveGroup]) -> bool:
    """Every instance already runs the version under deploy (nothing to push)."""
    return bool(groups) and all(g.current for g in groups)


def read_targets(deployment: Deployment, *, keep: bool = False) -> list[LiveConfig]:
    """What every target of the deployment runs now (`keep`: see ops.live.read_one)."""
    from hotswap_cli.ops.backends import open_transport
    from hotswap_cli.ops.live import read_live

    return read_live(deployment.targets, partial(open_transport, allowed_env=deployment.allowed_env,
                                                 profile=deployment.profile.name), keep=keep)


def live_diffs(deployment: Deployment, live: list[LiveConfig] | None = None) -> list[LiveGroup]:
    """The plan's groups of instances by what they run, with the diff to the version under deploy;
    `live`: the targets as already read (read_targets), else they are read now."""
    from hotswap_cli.core.secrets.crypto import load_key
    from hotswap_cli.core.versions.diff import diff_configs

    live = read_targets(deployment) if live is None else live
    names = deployment.version_names
    key = load_key()
    bytes_sha = deployment.payload_sha256()
    groups: dict[tuple[str | None, str], list[Any]] = {}
    status: dict[str, str] = {}
    for item in live:
        if item.error:
            state, status[item.instance] = f"unreadable: {item.error}", "unreadable"
        elif not item.present:
            state, status[item.instance] = "no config yet", "absent"
        elif item.sha256 in (deployment.sha256, bytes_sha.get(item.instance)):
            state, status[item.instance] = CURRENT, "current"
        else:
            state = f"running {names.get(item.sha256 or '', 'an unknown config')} ({(item.sha256 or '')[:12]})"
            status[item.instance] = "different"
        groups.setdefault((item.sha256, state), []).append(item)
    out = []
    for (sha, state), items in groups.items():
        first = items[0]
        diff = None
        if first.error is None and (first.raw is not None or not _structured(deployment, first.instance)):
            out.append(LiveGroup(tuple(i.instance for i in items), state, sha, None,
                                 _text_diff(first.raw, deployment.payloads.get(first.instance, b""), first.instance),
                                 status[first.instance]))
            continue
        if first.present and first.error is None:
            diff = diff_configs(first.data, deployment.config, deployment.schema, deployment.schema, key=key,
                                check_schemas=False)
        elif not first.present and first.error is None:
            diff = diff_configs({}, deployment.config, deployment.schema, deployment.schema, key=key,
                                check_schemas=False)
        out.append(LiveGroup(tuple(i.instance for i in items), state, sha, diff, status=status[first.instance]))
    return out


def _structured(deployment: Deployment, instance: str) -> bool:
    from hotswap_cli.core.config.payload import structured

    return all(structured(t) for t in deployment.targets if t.name == instance)


def _text_diff(live: bytes | None, new: bytes, instance: str) -> str:
    """A unified diff of a text payload (secret values are scrubbed from whatever is printed)."""
    import difflib

    old_lines = (live or b"").decode("utf-8", "replace").splitlines(keepends=True)
    new_lines = new.decode("utf-8", "replace").splitlines(keepends=True)
    return "".join(difflib.unified_diff(old_lines, new_lines, f"{instance} (now)", f"{instance} (new)"))


def plan_dict(deployment: Deployment, groups: list[LiveGroup], kind: str) -> dict[str, Any]:
    plan = deployment.plan
    return {
        "kind": kind,
        "profile": plan.profile,
        "environment": deployment.profile.environment,
        "version": deployment.version,
        "commit": deployment.commit,
        "sha256": deployment.sha256,
        "strategy": plan.strategy,
        "phases": [{"number": p.number, "name": p.name, "action": p.action, "bake_s": p.bake,
                    "instances": [t.name for t in p.targets], "pause": _pause_dict(p.pause)} for p in plan.phases],
        "health": plan.health.__dict__,
        "estimate": deployment.estimate.to_dict(),
        "approvals": deployment.quorum.to_dict() if deployment.quorum else None,
        "notes": list(deployment.notes),
        "warnings": list(deployment.warnings),
        "approval_error": str(deployment.approval_error) if deployment.approval_error else None,
        "live": [{"instances": list(g.instances), "status": g.status, "state": g.state, "sha256": g.sha256,
                  "diff": g.diff.to_dict() if g.diff is not None else None,
                  "text_diff": g.text_diff} for g in groups],
        "ssh": ssh_settings(deployment),
        "targets_from": _inventory_dict(deployment),
    }


def _inventory_dict(deployment: Deployment) -> dict[str, Any] | None:
    """Where the target list came from (profile.yaml's targets_from), for --json."""
    inv = deployment.inventory
    if inv is None:
        return None
    return {"kind": inv.kind, "source": inv.source, "count": len(inv.targets), "static": inv.static,
            "revision": inv.revision, "keys": dict(inv.keys)}


def _pause_dict(pause: float | None) -> dict[str, Any] | None:
    """A phase's pause for --json: seconds, or until_resumed (`hotswap resume`/`promote`)."""
    if pause is None:
        return None
    until = math.isinf(pause)
    return {"until_resumed": until, "seconds": None if until else pause}


def pause_text(pause: float | None, profile: str) -> str:
    """`, then pause until resumed (hotswap resume P)` for a phase line; empty without a pause."""
    if pause is None:
        return ""
    if math.isinf(pause):
        return f", then pause until resumed (`hotswap resume {profile}`)"
    return f", then pause {format_duration(pause)} (resumes by itself)"


def ssh_settings(deployment: Deployment) -> dict[str, Any]:
    """Per ssh target: how it is reached and where each setting came from (profile, ssh config, default)."""
    from hotswap_cli.specs import SshSpec

    out: dict[str, Any] = {}
    for t in deployment.targets:
        if isinstance(t.transport, SshSpec):
            from hotswap_cli.io.ssh_config import describe

            out[t.name] = describe(t.name, t.transport)
    return out


def _print_ssh(out: Any, settings: dict[str, Any]) -> None:
    out.print("ssh (where each setting comes from):", style="bold", markup=False)
    for name, found in settings.items():
        if "error" in found:
            out.print(f"  {name}: {found['error']}", style="red", markup=False)
            continue
        out.print(f"  {name}: {found['route']}", markup=False)
        for key, item in found["settings"].items():
            out.print(f"    {key} {item['value']}  ({item['from']})", markup=False, highlight=False)


def print_plan(env: Env, deployment: Deployment, groups: list[LiveGroup], kind: str, *,
               dry_run: bool = False, full_diff: bool = False) -> None:
    from hotswap_cli.cli.diff import print_changes

    plan = deployment.plan
    out = env.out
    out.print(f"{kind} {plan.profile} {deployment.version} ({deployment.profile.environment})", style="bold",
              markup=False)
    out.print(f"  commit {deployment.commit[:12]}  config sha256 {deployment.sha256[:12]}  "
              f"strategy {plan.strategy}", markup=False)
    if deployment.approval_error is not None:
        out.print(f"  approvals: NOT MET: {deployment.approval_error.message}", style="bold red", markup=False)
    elif deployment.quorum is not None:
        out.print(f"  approvals: {deployment.quorum.summary()}", markup=False)
    elif deployment.released:
        out.print("  approvals: none required", markup=False)
    else:
        out.print("  approvals: not checked (an unreleased revision)", markup=False)
    if deployment.inventory is not None:
        out.print(f"  {deployment.inventory.describe()}", markup=False)
    for warning in deployment.warnings:
        out.print(f"  WARNING: {warning}", style="bold yellow", markup=False)
    for note in deployment.notes:
        out.print(f"  note: {note}", style="yellow", markup=False)
    out.print("phases:", style="bold", markup=False)
    for p in plan.phases:
        bake = f", bake {format_duration(p.bake)}" if p.gate and p.bake else ""
        names = ", ".join(t.name for t in p.targets)
        out.print(f"  {p.number}. {p.name} [{p.action}{bake}]: {names}{pause_text(p.pause, plan.profile)}",
                  markup=False)
    h = plan.health
    out.print(f"health gate: fails on conclusive evidence ({h.confidence:.4g} confidence) of error rate "
              f"> +{h.error_rate_pp:g}pp, p99 > +{h.p99_increase_pct:g}%, failed checks > {h.failed_checks_pct:g}% "
              f"(each against the instance's own baseline); sampling every {format_duration(h.interval)}; "
              f"inconclusive: bake on up to {_limit(h)}, then {h.on_inconclusive}; no data: {h.on_no_data}",
              markup=False)
    out.print("against what runs now:", style="bold", markup=False)
    for g in groups:
        out.print(f"  {', '.join(g.instances)}: {g.state}", markup=False)
        if g.diff is not None and not g.diff.empty and print_changes(out, g.diff, indent="    ", full=full_diff):
            out.print("    (values cut short: --full-diff shows them whole)", style="dim", markup=False)
        if g.text_diff:
            for line in g.text_diff.splitlines():
                out.print(f"    {line}", markup=False, highlight=False,
                          style="green" if line.startswith("+") else "red" if line.startswith("-") else None)
    if dry_run and (settings := ssh_settings(deployment)):
        _print_ssh(out, settings)
    e = deployment.estimate
    longer = (f" (up to ~{format_duration(e.longest_rollout_s)} if bakes are extended)"
              if e.longest_rollout_s > e.full_rollout_s else "")
    paused = (f" plus {e.open_pauses} pause(s) until resumed" if e.open_pauses else "")
    out.print(f"time to full rollout ~{format_duration(e.full_rollout_s)}{longer}{paused}; worst-case revert "
              f"~{format_duration(e.worst_case_revert_s)} after a failing check "
              f"(seen within {format_duration(e.detection_s)})", markup=False)


def _limit(h: HealthPolicy) -> str:
    return format_duration(h.max_bake) if h.max_bake is not None else "twice the bake"
