"""The profile model, decided in one place: reading profile.yaml, checking it against hotswap's own
schema, and building the typed Profile (extends, schema reference, strategy and health with the
repo's defaults, typed target specs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hotswap_cli.core.config.schema import SchemaChecker, describe
from hotswap_cli.core.config.strategies import Pauses, StepError, canary_steps, split_pauses
from hotswap_cli.durations import parse_duration
from hotswap_cli.errors import ConfigError, UsageError, ValidationFailed

# Every command module imports this one, so `hotswap --help` does too: the repo reader (PyYAML)
# and the model and spec types (~55 ms of dataclass creation and YAML) load when a profile is read.
if TYPE_CHECKING:
    from pathlib import Path

    from hotswap_cli.core.config.configrepo import ConfigRepo
    from hotswap_cli.core.config.yamlsrc import Document
    from hotswap_cli.model import HealthPolicy, Issue, Profile, StrategySpec


@dataclass(frozen=True)
class ProfileSource:
    """A profile as read from disk: the parsed profile.yaml and config documents."""

    name: str
    meta: Document
    config: Document | None
    config_file: str


def read_profile(repo: ConfigRepo, name: str) -> ProfileSource:
    """Parse profiles/<name>/profile.yaml and its config file. Raises ConfigError."""
    check_profile_name(name)
    meta = repo.document(f"profiles/{name}/profile.yaml")
    if meta is None:
        raise unknown_profile(name, repo.profile_names())
    config_file = repo.find_data_file(f"profiles/{name}/config") or f"profiles/{name}/config.yaml"
    return ProfileSource(name, meta, repo.document(config_file), config_file)


def check_profile_name(name: str) -> str:
    """`name` when it can name a profile (a folder, a tag prefix); ConfigError otherwise."""
    from hotswap_cli.core.config.configrepo import _NAME_RE

    if not _NAME_RE.match(name):
        raise ConfigError(f"invalid profile name {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def unknown_profile(name: str, known: Iterable[str], where: str = "") -> UsageError:
    """The error for a profile that does not exist (a name on the command line that names nothing:
    exit 2, as for validate): the closest known name when one is close (a typo), else every known
    name. `where`: e.g. " at HEAD (1a2b3c4d5e6f)"."""
    import difflib

    names = sorted(set(known))
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return UsageError(f"profile {name!r} not found{where}: did you mean {close[0]}?")
    return UsageError(f"profile {name!r} not found{where} (profiles: {', '.join(names) or 'none'})")


def build_profile(repo: ConfigRepo, src: ProfileSource) -> Profile:
    """Typed Profile from an already schema-checked profile.yaml, with defaults applied."""
    from hotswap_cli import specs
    from hotswap_cli.model import Profile, SchemaRef

    meta: dict[str, Any] = src.meta.data or {}
    env = meta["environment"]
    policy = repo.settings.environments.get(env)
    if policy is None:
        raise ConfigError(f"{src.meta.file}: environment {env!r} is not one of hotswap.yaml's environments: "
                          f"{', '.join(repo.settings.environments)}")
    defaults = repo.settings.defaults
    extends = meta.get("extends") or []
    # lowest first: hotswap.yaml's defaults, the environment's overrides, the profile's own keys
    own = meta.get("strategy") or {}
    strategy_raw = {**(defaults.get("strategy") or {}), **own}
    asked = own.get("bake") if own.get("bake") is not None else policy.bake  # the environment's: any strategy
    bake = bake_for(strategy_raw.get("type", policy.strategy), asked, strategy_raw.get("bake"))
    if bake is not None:
        strategy_raw["bake"] = bake
    health_raw = {**(defaults.get("health") or {}), **policy.health, **(meta.get("health") or {})}
    payload = {k: meta[k] for k in ("format", "template") if meta.get(k)}  # the profile's, for every target
    targets = tuple(specs.target(t["name"], {**payload, **t["transport"]} if "template" not in t["transport"] and
                                 "format" not in t["transport"] else t["transport"], t.get("health") or ())
                    for t in meta.get("targets") or [])
    return Profile(
        name=src.name,
        environment=env,
        service_type=meta.get("serviceType", "Microservice"),
        schema=SchemaRef.parse(str(meta["schema"])),
        extends=tuple([extends] if isinstance(extends, str) else extends),
        strategy=strategy_spec(strategy_raw, policy.strategy),
        health=health_policy(health_raw),
        targets=targets,
        description=str(meta.get("description", "")),
        settings=dict(meta.get("settings") or {}),
        directory=f"profiles/{src.name}",
        config_file=src.config_file,
        is_production=policy.production,
    )

def load_profile(repo: ConfigRepo, name: str, *, registry: bool = False) -> Profile:
    """Read and check profile.yaml; raises ValidationFailed listing its problems. With `registry`
    (what reads instances: status, diff live:, render --target; never validate, release, approve),
    `targets_from:` is read now (etcd, a command: see core/config/inventory) and its targets join
    the static ones; header and credential variables are the working tree's `allow_env` and
    HOTSWAP_ALLOW_ENV (a deploy decides them on the trusted ref instead)."""
    src = read_profile(repo, name)
    issues = check_profile_meta(repo, src)
    if issues:
        raise ValidationFailed(f"{issues[0]}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""))
    profile = build_profile(repo, src)
    if not registry or not (src.meta.data or {}).get("targets_from"):
        return profile
    import os

    from hotswap_cli.core.config.inventory import with_inventory

    allowed = {*repo.settings.allow_env, *os.environ.get("HOTSWAP_ALLOW_ENV", "").split(",")}
    return with_inventory(profile, src.meta.data or {}, {n.strip() for n in allowed if n.strip()})[0]


@lru_cache(maxsize=1)
def _meta_checker() -> SchemaChecker:
    from hotswap_cli.core.config.configrepo import load_meta_schema

    schema = load_meta_schema("profile.schema.json")
    return SchemaChecker(schema, "profile.schema.json", fast=_shipped_validator(schema))


FAST_MODULE = "profile_fast.py"  # beside this file: the profile schema's validator, generated


def _shipped_validator(schema: dict[str, Any]) -> Any:
    """The fast validator of hotswap's own profile schema, generated before release and installed
    as bytecode like every module (profile_fast): compiling it costs ~40 ms, a third of validating
    one profile in a fresh CI container. None when it is not this schema's (then it is compiled)."""
    from hotswap_cli.core.config.schema import fast_key

    try:
        from hotswap_cli.core.config import profile_fast
    except ImportError:  # a fastjsonschema without the exception classes the code imports
        return None
    return profile_fast.validate if profile_fast.SCHEMA_KEY == fast_key(schema)[0] else None


def write_fast_validator() -> Path:
    """Regenerate profile_fast.py from profile.schema.json (a test says when it is needed)."""
    from pathlib import Path

    from hotswap_cli.core.config.configrepo import load_meta_schema
    from hotswap_cli.core.config.schema import fast_key, fast_source

    key, schema = fast_key(load_meta_schema("profile.schema.json"))
    path = Path(__file__).with_name(FAST_MODULE)
    path.write_text(f'''# ruff: noqa
# mypy: ignore-errors
"""Generated by hotswap_cli.core.config.profile.write_fast_validator() from profile.schema.json: its
fast (valid or not) validator, fastjsonschema's code. Do not edit; regenerate when the schema changes."""

SCHEMA_KEY = "{key}"

{fast_source(schema)}''')
    return path


def check_profile_meta(repo: ConfigRepo, src: ProfileSource) -> list[Issue]:
    """profile.yaml problems: shape, unknown keys, name, duplicate targets, environment, schema existence."""
    from hotswap_cli.core.config.configrepo import issue_at
    from hotswap_cli.model import Issue, Location, SchemaRef

    doc = src.meta
    issues = []
    if not isinstance(doc.data, dict):
        return [Issue(Location(doc.file, 1, 1), "$", "profile.yaml must be a mapping")]
    for error in _meta_checker().violations(doc.data):
        path = error.path
        if error.validator in ("additionalProperties",):
            extra = [k for k in error.instance if k not in error.schema.get("properties", {})]
            for key in extra:
                issues.append(issue_at(doc, (*path, key), f"unknown key {key!r}"))
            continue
        issues.append(issue_at(doc, path, describe(error)))
    if issues:
        return issues
    data = doc.data
    if data.get("name", src.name) != src.name:
        issues.append(issue_at(doc, ("name",), f"name {data['name']!r} does not match its folder {src.name!r}"))
    seen: set[str] = set()
    for i, target in enumerate(data.get("targets") or []):
        if target["name"] in seen:
            issues.append(issue_at(doc, ("targets", i, "name"), f"duplicate target name {target['name']!r}"))
        seen.add(target["name"])
    steps = (data.get("strategy") or {}).get("steps")
    if steps is not None:
        try:
            split_pauses(steps)
        except StepError as exc:
            where = ("strategy", "steps", exc.index) if exc.index >= 0 else ("strategy", "steps")
            issues.append(issue_at(doc, where, str(exc)))
    environments = repo.settings.environments
    if data["environment"] not in environments:
        issues.append(issue_at(doc, ("environment",), f"{data['environment']!r} is not one of hotswap.yaml's "
                               f"environments: {', '.join(environments)}"))
    ref = SchemaRef.parse(str(data["schema"]))
    if repo.schema_file(ref) is None:
        issues.append(issue_at(doc, ("schema",), f"schema {data['schema']!r} not found "
                               f"(expected schemas/{ref.id}/{ref.version}.json)"))
    return issues


def bake_for(strategy: str, asked: Any, inherited: Any) -> Any:
    """The spec's rule: direct has no bake unless one is asked for (in the profile, or on the
    command line); the other strategies inherit theirs (hotswap.yaml's default, the spec's)."""
    if asked is not None:
        return asked
    return 0 if strategy == "direct" else inherited


def strategy_spec(raw: dict[str, Any], default_type: str) -> StrategySpec:
    """The typed strategy from `strategy:` (hotswap.yaml defaults under the profile's own keys).
    `steps` may hold pauses: `pause` (until `hotswap resume`) or `{pause: 10m}` after a step."""
    from hotswap_cli.model import StrategySpec

    steps: tuple[float, ...] = StrategySpec.steps
    pauses: Pauses = ()
    if "steps" in raw:
        try:
            steps, pauses = split_pauses(list(raw["steps"] or []))
        except StepError as exc:
            raise ConfigError(f"strategy.steps: {exc}",
                              hint="e.g. steps: [10, pause, 50, {pause: 10m}, 100]; see docs/deploy.md") from None
    elif "canary" in raw:
        steps = canary_steps(float(raw["canary"]))
    spec = StrategySpec(type=str(raw.get("type", default_type)), steps=steps)
    return StrategySpec(
        type=spec.type,
        steps=spec.steps,
        batch=str(raw.get("batch", spec.batch)),
        concurrency=int(raw.get("concurrency", spec.concurrency)),
        bake=parse_duration(raw.get("bake", spec.bake)),
        pauses=pauses,
    )


def health_policy(raw: dict[str, Any]) -> HealthPolicy:
    """The gate policy from `health:` (hotswap.yaml defaults under the profile's own keys).
    profile.yaml is schema-checked; hotswap.yaml's defaults are checked here."""
    from hotswap_cli.model import HealthPolicy

    base = HealthPolicy()

    def duration(key: str) -> float | None:
        return parse_duration(raw[key]) if raw.get(key) is not None else None

    def count(key: str) -> int | None:
        return int(raw[key]) if raw.get(key) is not None else None

    try:
        policy = HealthPolicy(
            interval=parse_duration(raw.get("interval", base.interval)),
            error_rate_pp=float(raw.get("error_rate_pp", base.error_rate_pp)),
            p99_increase_pct=float(raw.get("p99_increase_pct", base.p99_increase_pct)),
            failed_checks_pct=float(raw.get("failed_checks_pct", base.failed_checks_pct)),
            on_no_data=str(raw.get("on_no_data", base.on_no_data)),
            confidence=float(raw.get("confidence", base.confidence)),
            baseline=duration("baseline"),
            max_bake=duration("max_bake"),
            on_inconclusive=str(raw.get("on_inconclusive", base.on_inconclusive)),
            min_checks=int(raw.get("min_checks", base.min_checks)),
            failure_limit=count("failure_limit"),
            consecutive=count("consecutive"),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"health: {exc}", hint="see docs/deploy.md, the health gate") from None
    problems = [
        f"on_no_data: {policy.on_no_data!r} is not one of fail, pass" if policy.on_no_data not in ("fail", "pass")
        else "",
        f"on_inconclusive: {policy.on_inconclusive!r} is not one of fail, pause, pass"
        if policy.on_inconclusive not in ("fail", "pause", "pass") else "",
        f"confidence: {policy.confidence:g} must be above 0.5 and below 1" if not 0.5 < policy.confidence < 1 else "",
        f"min_checks: {policy.min_checks} must be at least 1" if policy.min_checks < 1 else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise ConfigError(f"health: {problems[0]}",
                          hint="fix hotswap.yaml `defaults.health` or the profile's `health:`")
    return policy
