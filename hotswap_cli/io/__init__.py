"""Shared I/O under the backends and probes: HTTP clients, SSH connections, local processes."""
