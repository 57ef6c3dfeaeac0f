"""Health probes: http, Prometheus metrics, command (one module per kind)."""
