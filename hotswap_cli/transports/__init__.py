"""Transports: how a config reaches an instance (one module per backend)."""
