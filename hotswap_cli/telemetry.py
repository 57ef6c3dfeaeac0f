"""OpenTelemetry spans and the W3C traceparent: a no-op unless OpenTelemetry is installed and OTEL_* asks for it."""

from __future__ import annotations

import contextlib
import contextvars
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from hotswap_cli import redact

T = TypeVar("T")

_tracer: Any = None  # None: not decided yet; False: off; else an opentelemetry Tracer
_provider: Any = None
_fallback: str | None = None  # the deploy's random traceparent when no span is exported


class SpanHandle:
    """What `span()` yields: set attributes once known (status, counts); a no-op when tracing is off."""

    def __init__(self, otel_span: Any = None) -> None:
        self._span = otel_span

    def set(self, **attributes: Any) -> None:
        if self._span is not None:
            self._span.set_attributes(_clean(attributes))


_NULL = SpanHandle()


def export_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Do the standard OTEL_* variables ask for traces to be exported?"""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def enabled() -> bool:
    return _get_tracer() is not None


@contextlib.contextmanager
def span(name: str, **attributes: Any) -> Iterator[SpanHandle]:
    """A span named `name` (config.deploy, config.deploy.instance, ...) under the current one; None values dropped."""
    tracer = _get_tracer()
    if tracer is None:
        yield _NULL
        return
    with tracer.start_as_current_span(name, attributes=_clean(attributes)) as otel_span:
        yield SpanHandle(otel_span)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, else the deploy's random one (see traceparent_for_deploy)."""
    if _get_tracer() is not None:
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"
    return _fallback


def traceparent_for_deploy() -> str:
    """Call once a deploy starts: the exported span's traceparent, or a fresh random one that services can log."""
    global _fallback
    real = current_traceparent() if _get_tracer() is not None else None
    if real is not None:
        return real
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    while int(trace_id, 16) == 0 or int(span_id, 16) == 0:  # all-zero ids are invalid
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    _fallback = f"00-{trace_id}-{span_id}-01"
    return _fallback


def bind(fn: Callable[..., T]) -> Callable[..., T]:
    """`fn` running in the caller's trace context, for worker threads (which start with an empty one)."""
    ctx = contextvars.copy_context()

    def run(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return run


def configure_for_tests(exporter: Any) -> None:
    """Send every span synchronously to `exporter` (e.g. the SDK's InMemorySpanExporter)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    global _tracer, _provider
    _provider = TracerProvider(shutdown_on_exit=False)
    _provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracer = _provider.get_tracer("hotswap")


def reset() -> None:
    """Forget the configuration (tests); the next span reads the environment again."""
    global _tracer, _provider, _fallback
    if _provider is not None:
        _provider.shutdown()
    _tracer, _provider, _fallback = None, None, None


def _get_tracer() -> Any:
    global _tracer
    if _tracer is None:
        _tracer = _from_environment() or False
    return _tracer or None


def _from_environment() -> Any:
    global _provider
    if not export_requested():
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError:
        _warn("OTEL_* asks for traces but OpenTelemetry is not installed (pip install 'hotswap-cli[otel]')")
        return None
    service = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "hotswap"}
    provider = TracerProvider(resource=Resource.create(service))
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    for exporter_name in (n.strip() for n in names.split(",") if n.strip()):
        if exporter_name == "console":  # stdout carries data: spans go to stderr
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        elif exporter_name == "otlp" and (exporter := _otlp_exporter()) is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        elif exporter_name != "otlp":
            _warn(f"OTEL_TRACES_EXPORTER={exporter_name} is not supported (use otlp or console)")
    _provider = provider
    return provider.get_tracer("hotswap")


def _otlp_exporter() -> Any:
    protocol = (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf")
    try:
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
    except ImportError:
        _warn("OTLP export needs opentelemetry-exporter-otlp (pip install 'hotswap-cli[otel]')")
        return None
    return OTLPSpanExporter()


def _clean(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attribute values an exporter takes, scrubbed of secret values (traces leave the process)."""
    return {k: v if isinstance(v, bool | int | float) else redact.scrub(str(v))
            for k, v in attributes.items() if v is not None}


def _warn(message: str) -> None:
    sys.stderr.write(f"hotswap: warning: {message}\n")
