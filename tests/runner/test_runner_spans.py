"""OpenTelemetry spans of a run: names, nesting and attributes (in-memory exporter)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from runner_fakes import Fleet, payload_for, targets

from hotswap_cli import telemetry
from hotswap_cli.clock import FakeClock
from hotswap_cli.core.deploy.plan import build_plan
from hotswap_cli.model import HealthPolicy, StrategySpec
from hotswap_cli.runner import ListSink, run_plan


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.configure_for_tests(exporter)
    yield exporter
    telemetry.reset()


def test_deploy_spans_nest_phase_instance_and_health(spans: InMemorySpanExporter) -> None:
    fleet = Fleet([t.name for t in targets(4)])
    plan = build_plan("web", "1.2.0", StrategySpec("canary", bake=10), targets(4), HealthPolicy(interval=5))
    with telemetry.span("config.deploy", profile="web", version="1.2.0", strategy="canary"):
        result = run_plan(plan, payload_for, "sha", open_transport=fleet.open_transport,
                          open_probes=fleet.open_probes, clock=FakeClock(), sink=ListSink())
    assert result.ok
    finished = spans.get_finished_spans()
    by_name: dict[str, list] = {}
    for s in finished:
        by_name.setdefault(s.name, []).append(s)
    deploy = by_name["config.deploy"][0]
    phases = by_name["config.deploy.phase"]
    # canary over 4: 1, 2, (50% adds nobody), 4
    assert [p.attributes["phase"] for p in sorted(phases, key=lambda p: p.start_time)] == [1, 2, 3]
    assert all(p.parent.span_id == deploy.context.span_id for p in phases)
    instances = by_name["config.deploy.instance"]
    assert sorted(i.attributes["instance"] for i in instances) == ["i0", "i1", "i2", "i3"]
    phase_ids = {p.context.span_id for p in phases}
    assert all(i.parent.span_id in phase_ids for i in instances)  # pushed from worker threads, still nested
    assert all(i.attributes["version"] == "1.2.0" and i.attributes["strategy"] == "canary" for i in instances)
    checks = by_name["config.health.check"]
    assert any(c.attributes["baseline"] for c in checks) and any(not c.attributes["baseline"] for c in checks)


def test_automatic_revert_is_a_rollback_span(spans: InMemorySpanExporter) -> None:
    fleet = Fleet([t.name for t in targets(3)], fail={("i2", "check"): "config rejected"})
    plan = build_plan("web", "2.0.0", StrategySpec("direct", bake=0), targets(3), HealthPolicy())
    result = run_plan(plan, payload_for, "sha", open_transport=fleet.open_transport,
                      open_probes=fleet.open_probes, clock=FakeClock(), sink=ListSink())
    assert result.status == "reverted"
    revert = [s for s in spans.get_finished_spans() if s.name == "config.rollback"]
    assert len(revert) == 1 and revert[0].attributes["automatic"] is True
    assert "check" in revert[0].attributes["reason"]
