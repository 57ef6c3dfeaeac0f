"""Whether a version is a breaking change, for the extra quorum `breaking:` in hotswap.yaml asks of
it: its config diff against the previous version is breaking (a key removed, a type changed, the new
config fails the old schema or the old config the new one), or it moves the profile to a schema
version that is not compatible in the schema's declared mode (`x-hotswap-compatibility`, default
from hotswap.yaml's `schemas: {compatibility: }`). Judged against the previous version: what the
approvers review; the deploy plan's diff against what runs flags breaking changes too."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

def breaking_reasons(git_repo: GitRepo, profile: str, version: str, previous: str | None,
                     default_mode: str) -> list[str]:
    """Why `version` is breaking against `previous` ([] when it is not, or there is no previous)."""
    if previous is None:
        return []
    from hotswap_cli.core.versions.diff import diff_configs
    from hotswap_cli.core.versions.history import config_at

    old, new = config_at(git_repo, profile, previous), config_at(git_repo, profile, version)
    reasons = [f"config: {r}" for r in diff_configs(old.data, new.data, old.schema, new.schema).breaking_reasons]
    if old.schema_ref != new.schema_ref:
        from hotswap_cli.core.config.schemadiff import breaking, declared_mode, diff_schemas

        mode = declared_mode(new.schema, default_mode)
        broken = breaking(diff_schemas(old.schema, new.schema), mode)
        if broken:
            reasons.append(f"schema {old.schema_ref} -> {new.schema_ref} is not {mode}-compatible: "
                           + "; ".join(f"{c.path} {c.detail}" for c in broken[:3])
                           + (f" (and {len(broken) - 3} more)" if len(broken) > 3 else ""))
    return reasons
