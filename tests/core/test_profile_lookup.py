"""An unknown profile is named, with the closest one suggested, in every command that takes a
profile, before anything looks for its versions, ledger or instances."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.example import PROFILE, commit, git

TYPO = "payment-service.prodution"
DID_YOU_MEAN = f"hotswap: error: profile '{TYPO}' not found: did you mean {PROFILE}?\n"

COMMANDS = [
    ("deploy", TYPO, "--dry-run"),
    ("deploy", TYPO, "1.0.0", "--dry-run"),
    ("rollback", TYPO, "--dry-run"),
    ("render", TYPO),
    ("versions", TYPO),
    ("show", TYPO, "1.0.0"),
    ("history", TYPO),
    ("diff", TYPO),
    ("approve", TYPO, "1.0.0"),
    ("approvals", TYPO, "1.0.0"),
    ("status", TYPO),
    ("deployments", TYPO),
    ("unlock", TYPO),
    ("watch", TYPO),
    ("promote", TYPO),
    ("resume", TYPO),
    ("abort", TYPO),
]


@pytest.fixture
def released(config_repo: Path, hs: Callable[..., Any], demo_key: str) -> Path:
    assert hs("release", PROFILE, "1.0.0").exit_code == 0
    return config_repo


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a[:1] + a[2:]) for a in COMMANDS])
def test_a_typo_names_the_closest_profile(released: Path, hs: Callable[..., Any], args: tuple[str, ...]) -> None:
    result = hs(*args)
    assert (result.exit_code, result.stderr) == (2, DID_YOU_MEAN)


def test_release_of_a_typo_names_the_closest_profile_at_that_commit(config_repo: Path,
                                                                    hs: Callable[..., Any]) -> None:
    head = git(config_repo, "rev-parse", "HEAD").strip()[:12]
    result = hs("release", TYPO, "1.0.0")
    assert (result.exit_code, result.stderr) == (
        2, f"hotswap: error: profile '{TYPO}' not found at HEAD ({head}): did you mean {PROFILE}?\n")
    assert git(config_repo, "tag", "--list") == ""


def test_nothing_close_lists_the_profiles(config_repo: Path, hs: Callable[..., Any]) -> None:
    result = hs("versions", "billing")
    assert (result.exit_code, result.stderr) == (
        2, "hotswap: error: profile 'billing' not found (profiles: api-gateway.production, order-worker.staging, "
           "payment-service.development, payment-service.production, payment-service.staging, "
           "shop-edge.development)\n")


def test_a_profile_gone_from_the_tree_is_known_by_its_versions(released: Path, hs: Callable[..., Any]) -> None:
    git(released, "rm", "-q", "-r", f"profiles/{PROFILE}")
    commit(released, "retire the production profile")
    listed = hs("versions", PROFILE, "--json")
    assert listed.exit_code == 0, listed
    assert '"version": "1.0.0"' in listed.stdout
    typo = hs("versions", TYPO)
    assert (typo.exit_code, typo.stderr) == (2, DID_YOU_MEAN)  # suggested from its version tags
