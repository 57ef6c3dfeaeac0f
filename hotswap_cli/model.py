"""Model types shared by every layer: frozen dataclasses; imports only the other shared modules (specs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hotswap_cli.jsonpath import JsonPath, format_path

if TYPE_CHECKING:  # specs' dataclasses cost ~20 ms to create: loaded where targets are built
    from hotswap_cli.specs import Target

__all__ = ["JsonPath", "format_path"]  # and the classes below: JsonPath and format_path live in jsonpath

ENVIRONMENTS = ("Development", "Staging", "Production")  # the seed's, when hotswap.yaml names no others
SERVICE_TYPES = ("Microservice", "Gateway", "Worker", "Database", "MessageBroker")
STRATEGIES = ("canary", "rolling", "blue-green", "direct")
DEFAULT_STRATEGY = {"Development": "direct", "Staging": "rolling", "Production": "canary"}  # other names: canary
DEFAULT_QUORUM = {"Development": 0, "Staging": 1, "Production": 2}  # other names: 1
MAX_CONFIG_BYTES = 1024 * 1024
REVERT_CONCURRENCY = 100  # every touched instance goes back at once: revert is not bounded by the push
PROFILE_NAME_PATTERN = r"^[A-Za-z0-9._-]+$"
VERSION_PATTERN = r"^\d+\.\d+\.\d+$"

@dataclass(frozen=True)
class Location:
    """Where a value came from: file (relative to the config repo), 1-based line and column."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


@dataclass(frozen=True)
class Issue:
    """One validation problem, printed as `file:line:col  $.path  message`."""

    location: Location
    path: str
    message: str
    profile: str | None = None

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.path, self.message)

    def __str__(self) -> str:
        return f"{self.location}  {self.path}  {self.message}"


@dataclass(frozen=True)
class SchemaRef:
    id: str
    version: str

    @classmethod
    def parse(cls, text: str) -> SchemaRef:
        """`payment-config/1.0` as written in profile.yaml's `schema:`."""
        sid, _, version = text.partition("/")
        return cls(sid, version)

    def __str__(self) -> str:
        return f"{self.id}/{self.version}"


@dataclass(frozen=True)
class StrategySpec:
    """Strategy knobs from profile.yaml, overridable on the command line."""

    type: str
    steps: tuple[float, ...] = (10.0, 30.0, 50.0, 100.0)
    batch: str = "1"  # "3" or "25%"
    concurrency: int = 50
    bake: float = 300.0  # seconds per phase/batch
    pauses: tuple[tuple[float, float], ...] = ()  # (canary step %, seconds; inf: until resumed): pause after it


@dataclass(frozen=True)
class HealthPolicy:
    """Gate thresholds (spec defaults: pp above baseline, % above baseline, % of checks failing) and
    how sure the gate must be before it fails or passes a phase."""

    interval: float = 30.0
    error_rate_pp: float = 5.0
    p99_increase_pct: float = 50.0
    failed_checks_pct: float = 10.0
    on_no_data: str = "fail"  # fail | pass
    confidence: float = 0.99  # a deploy within every threshold is failed with probability <= 1 - this
    baseline: float | None = None  # first phase's baseline window; None: two intervals
    max_bake: float | None = None  # an inconclusive bake goes on up to this; None: twice the bake
    on_inconclusive: str = "fail"  # fail | pause | pass
    min_checks: int = 3  # checks needed before failed_checks_pct can fail a phase
    failure_limit: int | None = None  # Argo's failureLimit: more failed checks than this fails
    consecutive: int | None = None  # this many failed checks in a row fails

    def baseline_window(self) -> float:
        return self.baseline if self.baseline is not None else 2 * self.interval

    def bake_limit(self, bake: float) -> float:
        return max(bake, self.max_bake if self.max_bake is not None else 2 * bake)


@dataclass(frozen=True)
class Profile:
    name: str
    environment: str
    service_type: str
    schema: SchemaRef
    extends: tuple[str, ...]
    strategy: StrategySpec
    health: HealthPolicy
    targets: tuple[Target, ...]
    description: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    directory: str = ""  # relative to the config repo root, e.g. profiles/payment-service.production
    config_file: str = ""  # relative path of config.yaml / config.json
    # its environment is production in the hotswap.yaml it was read with (configrepo._production);
    # deploy decisions take the trusted ref's word: `TrustRoot.policy_for(...).production`
    is_production: bool = False


def canonical_json(data: Any) -> bytes:
    """The canonical bytes of a rendered config: what is hashed to name a version."""
    import json

    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def config_hash(data: Any) -> str:
    """sha256 hex of the canonical JSON: a version's identity, also used to recognise live configs."""
    import hashlib

    return hashlib.sha256(canonical_json(data)).hexdigest()


# -- plans: pure data built by core.plan, executed by runner ------------------------------


@dataclass(frozen=True)
class Phase:
    """Instances newly deployed in one step of a plan (canary phases are cumulative: each
    phase lists only the instances it adds)."""

    number: int
    name: str  # "canary 10%", "batch 2/4", "all", "stage", "switch"
    targets: tuple[Target, ...]
    bake: float = 0.0
    percent: float | None = None
    action: str = "deploy"  # deploy (stage..reload) | stage (stage+check) | switch (swap+reload)
    gate: bool = True  # bake then health gate over every live instance after this phase
    pause: float | None = None  # then wait: math.inf until `hotswap resume`/`promote`, else seconds (resumes itself)


@dataclass(frozen=True)
class Plan:
    profile: str
    version: str
    strategy: str
    phases: tuple[Phase, ...]
    health: HealthPolicy
    concurrency: int = 50
    blue_green: bool = False  # stage+check on all first, then switch all at once

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every instance once, in first-touched order (blue-green lists each in two phases)."""
        seen: dict[str, Target] = {}
        for phase in self.phases:
            for t in phase.targets:
                seen.setdefault(t.name, t)
        return tuple(seen.values())
