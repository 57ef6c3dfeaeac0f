"""Telemetry: spans only when OTEL_* asks, nested with their attributes; a traceparent for every deploy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from typing import Any

import pytest

from hotswap_cli import telemetry

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@pytest.mark.parametrize(("env", "wanted"), [
    ({}, False),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
    ({"OTEL_TRACES_EXPORTER": "none"}, False),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_SERVICE_NAME": "hotswap"}, False),
])
def test_export_is_requested_only_by_the_standard_variables(env: dict[str, str], wanted: bool) -> None:
    assert telemetry.export_requested(env) is wanted


def test_without_otel_variables_spans_are_no_ops_but_deploys_get_a_traceparent() -> None:
    with telemetry.span("config.deploy", profile="p") as span:
        span.set(status="completed")
        assert telemetry.current_traceparent() is None
    assert telemetry.enabled() is False

    first = telemetry.traceparent_for_deploy()
    assert TRACEPARENT.match(first) and first.endswith("-01")
    assert telemetry.current_traceparent() == first
    assert telemetry.traceparent_for_deploy() != first


def test_spans_nest_and_carry_profile_version_instance_strategy(spans: Any) -> None:
    deploy_attrs = {"profile": "payment-service.production", "version": "1.4.0", "strategy": "canary"}
    with telemetry.span("config.deploy", **deploy_attrs, reason=None) as deploy:
        header = telemetry.traceparent_for_deploy()
        with telemetry.span("config.deploy.phase", phase=1, **deploy_attrs):
            with telemetry.span("config.deploy.instance", instance="web-1", **deploy_attrs):
                inner = telemetry.current_traceparent()
                with telemetry.span("config.health.check", instance="web-1", probe="http"):
                    pass
        deploy.set(status="completed", instances=("web-1",))

    finished = {s.name: s for s in spans.get_finished_spans()}
    assert list(finished) == ["config.health.check", "config.deploy.instance", "config.deploy.phase",
                              "config.deploy"]
    root, phase = finished["config.deploy"], finished["config.deploy.phase"]
    instance, check = finished["config.deploy.instance"], finished["config.health.check"]
    assert root.parent is None
    assert phase.parent.span_id == root.context.span_id
    assert instance.parent.span_id == phase.context.span_id
    assert check.parent.span_id == instance.context.span_id
    assert dict(root.attributes) == {**deploy_attrs, "status": "completed", "instances": "('web-1',)"}
    assert dict(instance.attributes) == {**deploy_attrs, "instance": "web-1"}
    assert header == f"00-{root.context.trace_id:032x}-{root.context.span_id:016x}-{root.context.trace_flags:02x}"
    assert inner is not None and inner.split("-")[2] == f"{instance.context.span_id:016x}"


def test_bound_worker_threads_stay_in_the_deploy_trace(spans: Any) -> None:
    def work() -> None:
        with telemetry.span("config.deploy.instance", instance="web-2"):
            pass

    with telemetry.span("config.rollback", profile="p"):
        thread = threading.Thread(target=telemetry.bind(work))
        thread.start()
        thread.join()

    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["config.deploy.instance"].parent.span_id == finished["config.rollback"].context.span_id


def test_a_failure_inside_a_span_marks_it_as_an_error(spans: Any) -> None:
    from opentelemetry.trace import StatusCode

    with pytest.raises(RuntimeError), telemetry.span("config.validate", profile="p"):
        raise RuntimeError("schema unreadable")

    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.events[0].name == "exception"


def test_console_export_writes_spans_to_stderr_never_stdout() -> None:
    code = ("from hotswap_cli import telemetry\n"
            "with telemetry.span('config.deploy', profile='p', version='1.0.0'):\n"
            "    print(telemetry.current_traceparent())\n")
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "console"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)

    assert TRACEPARENT.match(result.stdout.strip()), result.stdout
    assert '"name": "config.deploy"' in result.stderr and '"profile": "p"' in result.stderr
