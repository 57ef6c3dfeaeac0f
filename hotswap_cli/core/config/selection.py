"""Which profiles a `hotswap validate` command line names: profile names, or paths of changed
files (what a pre-commit hook passes), each mapped to the profiles it affects. A name or path
that matches nothing is a usage error that suggests the closest match, never a silent pass."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotswap_cli.core.config.configrepo import DATA_EXTENSIONS, SETTINGS_FILE, ConfigRepo
from hotswap_cli.core.config.profile import read_profile, unknown_profile
from hotswap_cli.core.config.render import template_chain
from hotswap_cli.errors import ConfigError, UsageError

_WHOLE_REPO = ("", SETTINGS_FILE, "profiles", "templates", "schemas")
_WHAT_TO_PASS = "pass a profile name, or a file under the config repo's profiles/, templates/ or schemas/"


@dataclass(frozen=True)
class Selection:
    names: tuple[str, ...] | None  # None: every profile
    schema_changed: bool = False  # a schema file among the paths: validate also checks schema evolution


def select_profiles(repo: ConfigRepo, root: Path, cwd: Path, items: list[str], *, hook: bool = False) -> Selection:
    """The profiles `items` name: a profile name is itself; a path (relative to `cwd`) is the
    profiles it affects (see affected_profiles). Raises UsageError for a name that is no profile
    and for a path that is no file (nor one git knows: a deleted file is fine) or not part of the
    config. With `hook` (the paths are what a hook's `files:` pattern matched) a path outside the
    config repo, or inside it but not a profile's, template or schema, is skipped."""
    if not items:
        return Selection(None)
    known = repo.profile_names()
    names: list[str] = []
    paths: list[tuple[str, str]] = []  # (as given, relative to the repo)
    for item in items:
        if item in known:
            names.append(item)
        elif not looks_like_path(item, cwd):
            raise unknown_profile(item, known)
        else:
            rel = repo_relative(root, cwd / item)
            if rel is not None:
                paths.append((item, rel))
            elif not hook:
                raise UsageError(f"{item}: outside the config repo ({root})",
                                 hint=_WHAT_TO_PASS)
    missing = [rel for _, rel in paths if not os.path.lexists(root / rel)]
    deleted = known_to_git(root, missing) if missing else set()
    changed: list[str] = []
    for item, rel in paths:
        exists = os.path.lexists(root / rel)
        if not exists and rel not in deleted:
            raise UsageError(f"{item}: no such file", hint=_suggest_path(repo, root, cwd, rel, known))
        if not _is_config_path(rel, known):
            if hook or not exists:
                continue  # what a hook's pattern also matches; a file the change deletes
            raise UsageError(f"{item}: not a profile, template or schema file of the config repo",
                             hint=_suggest_path(repo, root, cwd, rel, known))
        if not hook and exists and rel.startswith("templates/") and not _used(repo, root, rel):
            raise UsageError(f"{item}: no profile uses this template, so nothing validates it",
                             hint="validate a profile that extends it (`extends:` in its profile.yaml)")
        changed.append(rel)
    names += affected_profiles(repo, root, [str(root / r) for r in changed])
    return Selection(tuple(dict.fromkeys(names)), any(r.startswith("schemas/") for r in changed))


def _used(repo: ConfigRepo, root: Path, rel: str) -> bool:
    return bool(affected_profiles(repo, root, [str(root / rel)]))


def looks_like_path(item: str, cwd: Path) -> bool:
    return "/" in item or "\\" in item or Path(item).suffix in DATA_EXTENSIONS or (cwd / item).exists()


def _is_config_path(rel: str, known: list[str]) -> bool:
    parts = rel.split("/")
    return rel in _WHOLE_REPO or parts[0] in ("templates", "schemas") or (parts[0] == "profiles" and parts[1] in known)


def known_to_git(root: Path, rels: list[str]) -> set[str]:
    """Which of `rels` (relative to `root`, none on disk) git knows: in HEAD or the index (a file
    the change being checked deletes), or deleted by any commit (a file a CI job's diff names).
    A misspelt path is none of these. Empty outside a git repository."""
    found = _listed(root, ["ls-files", "--with-tree=HEAD"], rels)
    if found is None:  # no HEAD yet: a repo's first commit
        found = _listed(root, ["ls-files"], rels) or set()
    rest = [r for r in rels if r not in found]
    if rest:
        found |= _listed(root, ["log", "--all", "--relative", "--format=", "--name-only", "--diff-filter=D"],
                         rest) or set()
    return found


def _listed(root: Path, command: list[str], rels: list[str]) -> set[str] | None:
    """The `rels` that a git command listing file names (run in `root`) names, or what is under them."""
    import subprocess

    from hotswap_cli.io.process import command_environment

    try:
        out = subprocess.run(["git", "--literal-pathspecs", *command, "-z", "--", *rels], cwd=root,
                             capture_output=True, check=False, timeout=120, env=command_environment())
    except (OSError, subprocess.TimeoutExpired):
        return set()
    if out.returncode != 0:
        return None
    names = [n.strip("\n") for n in out.stdout.decode("utf-8", "replace").split("\0")]
    return {rel for rel in rels if any(n == rel or n.startswith(rel + "/") for n in names)}


def _suggest_path(repo: ConfigRepo, root: Path, cwd: Path, rel: str, known: list[str]) -> str:
    parts = rel.split("/")
    if parts[0] == "profiles" and len(parts) > 1:
        best = difflib.get_close_matches(parts[1], known, n=1)
        if not best:
            return "`hotswap profiles` lists the profiles"
        fixed = "/".join(["profiles", best[0], *parts[2:]])
        shown = os.path.relpath(root / fixed, cwd) if os.path.lexists(root / fixed) else f"profile {best[0]}"
        return f"did you mean {shown}?"
    if parts[0] in ("templates", "schemas"):
        files = difflib.get_close_matches(rel, _files(repo, parts[0]), n=1)
        if files:
            return f"did you mean {os.path.relpath(root / files[0], cwd)}?"
    return _did_you_mean(Path(rel).name, known, _WHAT_TO_PASS)


def _did_you_mean(name: str, known: Iterable[str], otherwise: str) -> str:
    best = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {best[0]}?" if best else otherwise


def _files(repo: ConfigRepo, folder: str) -> list[str]:
    out: list[str] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        for name in repo.listdir(here):
            rel = f"{here}/{name}"
            (stack if repo.listdir(rel) else out).append(rel)
    return out


def affected_profiles(repo: ConfigRepo, root: Path, paths: Iterable[str]) -> list[str]:
    """Profiles a set of changed files affects (pre-commit passes paths): a profile's own files
    that profile, a template every profile extending it (through any chain of `$extends`), a text
    template every profile rendering one, a schema file every profile whose schema is it or
    `$ref`s it, hotswap.yaml every profile. Files outside the config repo affect none."""
    names = repo.profile_names()
    hit: set[str] = set()
    templates: set[str] = set()
    schemas: set[str] = set()
    text_templates = False
    for raw in paths:
        rel = repo_relative(root, Path(raw))
        parts = (rel or "").split("/")
        if rel is None:
            continue  # outside the config repo: not ours
        if rel in ("", "hotswap.yaml", "profiles", "templates", "schemas"):
            hit.update(names)  # the whole repo, or a whole folder of it
        elif parts[0] == "profiles" and parts[1] in names:
            hit.add(parts[1])
        elif parts[0] == "templates" and rel.endswith(DATA_EXTENSIONS):
            templates.add(rel)
        elif parts[0] == "templates":
            text_templates = True  # a text template (or what it includes): every profile that renders one
        elif parts[0] == "schemas":
            schemas.add(rel)
    if not (templates or schemas or text_templates):
        return sorted(hit)
    schema_files: dict[str, set[str]] = {}
    for name in names:
        if name not in hit and _uses(repo, name, templates, schemas, text_templates, schema_files):
            hit.add(name)
    return sorted(hit)


def _uses(repo: ConfigRepo, name: str, templates: set[str], schemas: set[str], text_templates: bool,
          schema_files: dict[str, set[str]]) -> bool:
    try:
        meta = read_profile(repo, name).meta.data or {}
        if text_templates and _renders_template(meta):
            return True
        ref = str(meta.get("schema"))
        if ref not in schema_files:
            schema_files[ref] = _schema_files(repo, ref)
        if schema_files[ref] & schemas:
            return True
        ext = meta.get("extends") or []
        chain = template_chain(repo, tuple([ext] if isinstance(ext, str) else ext), (name,))
    except ConfigError:
        return True  # broken (a template or schema it names is gone): validating it will say why
    return bool({d.file for d in chain} & templates)


def _schema_files(repo: ConfigRepo, ref: str) -> set[str]:
    """The files a schema reference reads: its own file (by every extension: a deleted one counts
    too) and every repo file its `$ref`s embed."""
    from hotswap_cli.core.config.schemaref import bundle_refs

    files = {f"schemas/{ref}{ext}" for ext in DATA_EXTENSIONS}
    path = repo.find_data_file(f"schemas/{ref}")
    doc = repo.document(path) if path else None
    if doc is None or not isinstance(doc.data, dict):
        return files

    def load(target: str) -> Any:
        files.add(target)
        found = repo.document(target)
        return found.data if found is not None else None

    bundle_refs(doc.data, path or "", load)
    return files


def repo_relative(root: Path, path: Path) -> str | None:
    """`path` relative to the config repo's root, '/'-separated ('' for the root itself); None outside it."""
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
    return "" if rel == "." else rel


def _renders_template(meta: dict[str, Any]) -> bool:
    transports = [t.get("transport") or {} for t in meta.get("targets") or [] if isinstance(t, dict)]
    return bool(meta.get("template")) or any(isinstance(t, dict) and t.get("template") for t in transports)
