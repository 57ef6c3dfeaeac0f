"""Helpers shared by the ledger tests (a unique module name: several test folders have a conftest)."""

from __future__ import annotations

from support.repo import git  # noqa: F401 - the one git helper (re-exported)

PROFILE = "payment-service.production"



