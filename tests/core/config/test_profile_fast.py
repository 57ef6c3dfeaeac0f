"""The profile schema's fast validator ships generated (profile_fast.py): it must be the current
schema's, answer as the validator compiled at run time does, and step aside when it is stale."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from hotswap_cli.core.config import profile as profiles
from hotswap_cli.core.config import profile_fast
from hotswap_cli.core.config.configrepo import load_meta_schema
from hotswap_cli.core.config.schema import SchemaChecker, fast_key

EXAMPLES = Path(__file__).resolve().parents[3] / "example-config-repo" / "profiles"


def test_the_shipped_validator_is_the_current_schemas() -> None:
    key, _ = fast_key(load_meta_schema("profile.schema.json"))
    assert profile_fast.SCHEMA_KEY == key, (
        "profile.schema.json changed: regenerate hotswap_cli/core/config/profile_fast.py from the checkout "
        "(`pip install -e .`; it writes beside the imported module) with "
        "`python -c 'from hotswap_cli.core.config.profile import write_fast_validator as w; w()'`")


def test_profiles_are_checked_by_the_shipped_validator() -> None:
    profiles._meta_checker.cache_clear()
    try:
        assert profiles._meta_checker()._fast is profile_fast.validate
    finally:
        profiles._meta_checker.cache_clear()


def test_a_stale_shipped_validator_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profile_fast, "SCHEMA_KEY", "0" * 32)
    profiles._meta_checker.cache_clear()
    try:
        checker = profiles._meta_checker()
        assert checker._fast is not None and checker._fast is not profile_fast.validate
    finally:
        profiles._meta_checker.cache_clear()


def variants() -> list[Any]:
    """Every example profile, and each broken in ways the schema refuses."""
    out: list[Any] = []
    for path in sorted(EXAMPLES.glob("*/profile.yaml")):
        data = yaml.safe_load(path.read_text())
        out.append(data)
        for key, value in [("strategy", {"type": "sideways"}), ("targets", "web-1"), ("colour", "red"),
                           ("health", {"interval": "soon"}), ("targets", [{"name": "x", "transport": {}}])]:
            broken = copy.deepcopy(data)
            broken[key] = value
            out.append(broken)
        first = copy.deepcopy(data)
        if first.get("targets"):
            first["targets"][0]["transport"]["type"] = "carrier-pigeon"
            out.append(first)
    return out


def test_the_shipped_and_compiled_validators_agree() -> None:
    schema = load_meta_schema("profile.schema.json")
    compiled = SchemaChecker(schema, "profile.schema.json")
    shipped = SchemaChecker(schema, "profile.schema.json", fast=profile_fast.validate)
    assert compiled._fast is not None and compiled._fast is not profile_fast.validate
    cases = variants()
    assert len(cases) > 30
    verdicts = []
    for data in cases:
        answers = []
        for checker in (compiled, shipped):
            try:
                checker._fast(data)
                answers.append(True)
            except Exception:  # noqa: BLE001 - invalid
                answers.append(False)
        assert answers[0] == answers[1], data
        verdicts.append(answers[0])
        assert answers[0] == (shipped.violations(data) == [])
    assert True in verdicts and False in verdicts
