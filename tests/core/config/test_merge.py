"""Deep merge rules, table-driven: maps merge, lists and scalars replace, null deletes."""

from __future__ import annotations

from typing import Any

import pytest

from hotswap_cli.core.config.merge import deep_merge

CASES: list[tuple[str, Any, Any, Any]] = [
    ("maps merge", {"a": 1, "b": {"x": 1}}, {"b": {"y": 2}}, {"a": 1, "b": {"x": 1, "y": 2}}),
    ("scalar replaces", {"a": 1}, {"a": 2}, {"a": 2}),
    ("list replaces", {"a": [1, 2, 3]}, {"a": [9]}, {"a": [9]}),
    ("null deletes", {"a": 1, "b": 2}, {"b": None}, {"a": 1}),
    ("null deletes nested", {"a": {"x": 1, "y": 2}}, {"a": {"x": None}}, {"a": {"y": 2}}),
    ("null on missing key is a no-op", {"a": 1}, {"zz": None}, {"a": 1}),
    ("map replaces scalar", {"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}),
    ("scalar replaces map", {"a": {"x": 1}}, {"a": 5}, {"a": 5}),
    ("new nested map drops its nulls", {}, {"a": {"x": None, "y": 1}}, {"a": {"y": 1}}),
    ("list of maps replaced whole", {"r": [{"n": 1}, {"n": 2}]}, {"r": [{"n": 3}]}, {"r": [{"n": 3}]}),
    ("false and zero are values", {"a": True, "b": 5}, {"a": False, "b": 0}, {"a": False, "b": 0}),
]


@pytest.mark.parametrize(("name", "base", "overlay", "expected"), CASES, ids=[c[0] for c in CASES])
def test_deep_merge(name: str, base: Any, overlay: Any, expected: Any) -> None:
    before = repr(base), repr(overlay)
    assert deep_merge(base, overlay) == expected
    assert (repr(base), repr(overlay)) == before, "inputs must not be modified"
