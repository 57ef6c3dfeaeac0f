"""Schema evolution, checked by `hotswap validate` (and so the pre-commit hook): each schema version
against the one before it, in the mode the newer one declares (`x-hotswap-compatibility`:
backward | forward | full | none; default hotswap.yaml's `schemas: {compatibility: }`, else
backward), structurally (core.config.schemadiff) and empirically: every profile config on the
trusted ref and every released version that uses the older schema is validated against the newer.
And schema status (`x-hotswap-status`): a Production profile may not use a draft schema; a
deprecated one is a warning.

Structural changes that break the declared mode are errors at the changed keyword's file:line;
changes whose effect cannot be told structurally (a pattern, a oneOf) are warnings. Empirical
failures are errors where the mode promises that old configs stay valid (backward, full), else
warnings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.configrepo import ConfigRepo, issue_at
from hotswap_cli.core.config.profile import read_profile
from hotswap_cli.core.config.schema import SchemaChecker, describe
from hotswap_cli.errors import HotswapError
from hotswap_cli.model import Issue, Location, SchemaRef, format_path

if TYPE_CHECKING:
    from hotswap_cli.core.versions.git import GitRepo

STATUS_KEY = "x-hotswap-status"
STATUSES = ("draft", "approved", "deprecated")


@dataclass
class EvolutionReport:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


def check_evolution(repo: ConfigRepo, *, default_mode: str = "backward", git_repo: GitRepo | None = None,
                    trusted: ConfigRepo | None = None) -> EvolutionReport:
    """Every schema id's consecutive versions; the profiles of `trusted` (else `repo`) and the
    released versions in `git_repo` (when given) that use the older one, against the newer."""
    from hotswap_cli.core.config.schemadiff import (
        breaking,
        change_location,
        diff_schema_versions,
        schema_versions,
        uncertain,
    )

    report = EvolutionReport()
    pairs = [(sid, old, new) for sid in sorted(repo.listdir("schemas"))
             for versions in [schema_versions(repo, sid)] for old, new in zip(versions, versions[1:], strict=False)]
    users = _schema_users(trusted or repo, git_repo) if pairs else {}
    for schema_id, old, new in pairs:
        try:
            diff = diff_schema_versions(repo, schema_id, old, new, default_mode=default_mode)
            new_schema, new_file = repo.load_schema(SchemaRef(schema_id, new))
        except HotswapError as exc:
            report.errors.append(Issue(Location(f"schemas/{schema_id}/{new}.json"), "$", exc.message))
            continue
        mode, what = diff.declared_mode, f"schema {schema_id} {old} -> {new}"
        for c in breaking(diff.changes, mode):
            report.errors.append(Issue(change_location(repo, diff, c), c.path,
                                       f"{what} is not {mode}-compatible (x-hotswap-compatibility): {c.kind}: "
                                       f"{c.detail}"))
        for c in uncertain(diff.changes, mode):
            report.warnings.append(Issue(change_location(repo, diff, c), c.path,
                                         f"{what}: cannot tell structurally whether this is {mode}-compatible: "
                                         f"{c.detail} (the configs that use {old} are checked below)"))
        checker = SchemaChecker(new_schema, new_file)
        strict = mode in ("backward", "full")
        older = _checker(repo, SchemaRef(schema_id, old))
        for label, data in users.get(f"{schema_id}/{old}", []):
            if older is None or older.violations(data):
                continue  # invalid on its own schema already: its own validation says so, once
            for v in checker.violations(data)[:3]:
                issue = Issue(_keyword_location(repo, new_file, v.schema_path), format_path(v.path),
                              f"{label} (on {schema_id}/{old}) does not validate against {schema_id}/{new}: "
                              f"{describe(v)}")
                (report.errors if strict else report.warnings).append(issue)
    return report


def _keyword_location(repo: ConfigRepo, file: str, schema_path: tuple[str | int, ...]) -> Location:
    """Where in the schema file the keyword that refuses a config is (its nearest enclosing part
    the file has: a keyword embedded from a `$ref`'d file is at the `$ref`)."""
    try:
        doc = repo.document(file)
    except HotswapError:
        doc = None
    return issue_at(doc, schema_path, "").location if doc is not None else Location(file)


def _checker(repo: ConfigRepo, ref: SchemaRef) -> SchemaChecker | None:
    try:
        schema, file = repo.load_schema(ref)
    except HotswapError:
        return None
    return SchemaChecker(schema, file)


def _schema_users(repo: ConfigRepo, git_repo: GitRepo | None) -> dict[str, list[tuple[str, Any]]]:
    """schema ref -> [(what, rendered config)] for every profile of `repo` and every released version."""
    from hotswap_cli.core.config.profile import build_profile
    from hotswap_cli.core.config.render import render_profile

    users: dict[str, list[tuple[str, Any]]] = {}
    for name in repo.profile_names():
        try:
            profile = build_profile(repo, read_profile(repo, name))
            users.setdefault(str(profile.schema), []).append((f"profile {name}", render_profile(repo, profile).data))
        except HotswapError:
            continue  # its own validation reports it
    if git_repo is None:
        return users
    from hotswap_cli.core.versions.history import config_at
    from hotswap_cli.core.versions.release import list_versions
    from hotswap_cli.core.versions.remote import ensure_all_tags

    if os.environ.get("PRE_COMMIT"):  # a hook is quick and works offline: the releases this clone has
        git_repo.fetches.offline = True
    ensure_all_tags(git_repo, repo.profile_names())  # one fetch for all, not one per profile
    for name in repo.profile_names():
        try:
            versions = list_versions(git_repo, name)
        except HotswapError:
            continue
        for v in versions:
            try:
                at = config_at(git_repo, name, v.version)
            except HotswapError:
                continue
            users.setdefault(at.schema_ref, []).append((f"released {name} {v.version}", at.data))
    return users


def check_status(repo: ConfigRepo, names: list[str]) -> EvolutionReport:
    """Draft schemas in Production profiles (errors) and deprecated schemas in use (warnings)."""
    report = EvolutionReport()
    try:
        environments = repo.settings.environments
    except HotswapError:
        environments = {}
    for name in names:
        try:
            src = read_profile(repo, name)
            meta = src.meta.data if isinstance(src.meta.data, dict) else {}
            ref = SchemaRef.parse(str(meta.get("schema", "")))
            schema, file = repo.load_schema(ref)
        except HotswapError:
            continue
        status = schema.get(STATUS_KEY, "approved")
        policy = environments.get(str(meta.get("environment")))
        if status == "draft" and policy is not None and policy.production:
            report.errors.append(issue_at(src.meta, ("schema",), f"schema {ref} is a draft ({STATUS_KEY} in {file}): "
                                                                  f"a production profile ({policy.name}) needs an "
                                                                  "approved one"))
        elif status == "deprecated":
            report.warnings.append(issue_at(src.meta, ("schema",), f"schema {ref} is deprecated ({STATUS_KEY} in "
                                                                    f"{file}): move to a newer version"))
    return report


def evolution_for(repo: ConfigRepo, names: list[str], *, history: bool) -> EvolutionReport:
    """What `hotswap validate` adds: schema evolution of the whole repo and the status of the schemas
    `names` use. With `history` (a schema file changed) the configs checked against a newer schema
    are the trusted ref's profiles and every released version, where the repo is in git; without,
    the working tree's profiles (so a plain validate never loads git)."""
    git_repo, trusted, default_mode = None, None, "backward"
    try:
        default_mode = repo.settings.schema_compatibility
    except HotswapError:
        pass
    if history and repo.root is not None:
        from hotswap_cli.core.approvals.trust import load_trust_root
        from hotswap_cli.core.versions.git import GitRepo

        try:
            git_repo = GitRepo(repo.root)
            trust = load_trust_root(git_repo, fetch=False)
            if trust.rev is not None:
                trusted = ConfigRepo(git_repo.source_at(trust.rev), root=git_repo.config_root)
                default_mode = trust.settings.schema_compatibility
        except HotswapError:
            git_repo = None  # not a git repository: the working tree alone
    report = check_evolution(repo, default_mode=default_mode, git_repo=git_repo, trusted=trusted)
    status = check_status(repo, names)
    report.errors += status.errors
    report.warnings += status.warnings
    return report
