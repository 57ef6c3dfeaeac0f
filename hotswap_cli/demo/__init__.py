"""The demo service (many instances per process) and helpers to start and stop a local fleet."""
