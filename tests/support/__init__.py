"""Test support: fixtures shared across suites (sshd)."""
